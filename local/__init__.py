"""Plays the parts of AWS on one machine: DynamoDB Local, a durable SQS FIFO queue,
API Gateway (REST and WebSocket), event source mappings and schedules, all driven by
template.yaml. Knows the template and the AWS wire formats, nothing of auctions."""
