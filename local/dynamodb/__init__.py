"""DynamoDB's part: the official DynamoDB Local, started on loopback (`launcher.DynamoDBLocal`,
with the small Java launcher in `java/` that sets its connector's host)."""
