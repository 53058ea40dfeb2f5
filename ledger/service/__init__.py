"""The ledger's use cases, one room each, sharing one recorder and one mapper (wired by
`bootstrap`): `commands` (the command loop), `queries` (the reads, time travel, history),
`admission` (taking a bid at the API), `lots` (a new lot and its close timer), `sales`
(staggered sales), over one bounded `cache` and the queue `ports` the service sends to."""
