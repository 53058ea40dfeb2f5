"""The AWS adapters besides the ledger's storage: the SQS queues (lot commands, close
timers, fan-out pages), the Connections table, the WebSocket management API's posts and
the check of Cognito tokens. `bootstrap` makes them; handlers never import them."""
