"""Cognito's part: the user pool's stand-in (`user_pool.DevAuth`), which mints development
ID tokens, publishes its key set and checks tokens as API Gateway's user-pool authorizer does."""
