"""Lambda's part: the functions' worker processes (`functions.FunctionPool`) and what
invokes them besides the gateway (`event_sources`: the SQS poller, the DynamoDB stream
poller with its saved positions, the schedule), with event filtering (`filters`).
(`lambda_`, as `lambda` is a keyword.)"""
