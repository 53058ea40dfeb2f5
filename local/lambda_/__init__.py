"""Lambda's part: the functions' worker processes (`functions.FunctionPool`) and the event
source mappings that invoke them besides the gateway: `sqs_poller`, `stream_poller` (with
the saved positions, `StreamCheckpoint`) and `schedule`, on the poller thread of
`polling`, with event filtering (`filters`). (`lambda_`, as `lambda` is a keyword.)"""
