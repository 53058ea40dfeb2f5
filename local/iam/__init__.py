"""Each function's execution role on the local stack: its template policies evaluated
(`policy`), the AWS calls mapped to what IAM authorizes (`calls`), the hook in a function's
worker that refuses as AWS does (`enforce`), and what was used or refused (`usage`)."""
