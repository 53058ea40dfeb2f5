"""API Gateway's part: `gateway.LocalGateway` (the REST API with the user-pool authorizer,
the WebSocket API and its `@connections` management API), its HTTP server
(`http_server`), the REST proxy event and gateway responses (`rest`), the WebSocket
events (`websocket`) and the formats both share (`formats`)."""
