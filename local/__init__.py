"""Plays the parts of AWS on one machine: DynamoDB Local, a durable SQS FIFO queue,
API Gateway (REST and WebSocket), event source mappings and schedules, and each
function's IAM role, all driven by template.yaml. Knows the template and the AWS wire formats, nothing of auctions.

One package per part it plays: `sam/` (the template), `apigateway/`, `lambda_/`, `iam/`,
`sqs/`, `dynamodb/`, `cognito/`; `runtime.py` (`LocalStack`) wires them. No package imports its
parent, and the application's own pages come in from outside (`LocalStack(site=...)`)."""
