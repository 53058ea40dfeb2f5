"""SQS's part: a durable FIFO (and standard) queue behind SQS's JSON protocol.
`server.LocalSqs` is the HTTP endpoint, `api` the actions, `store` the SQLite queues,
`attributes` message and queue attributes, `errors` SQS's error codes."""
