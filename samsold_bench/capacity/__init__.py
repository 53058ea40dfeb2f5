"""`samsold-bench capacity`: DynamoDB capacity, ceilings and cost per bid, computed from the
items the code actually writes (docs/CAPACITY.md).

- `rules`: DynamoDB's published sizing and unit rules (no I/O, nothing of auctions);
- `observer`: prices every request a boto3 client makes, by those rules;
- `scenarios`: drives the real handlers on DynamoDB Local and observes them;
- `model`: ceilings and cost from the observed figures, at dated list prices;
- `report`: the JSON document and the Markdown tables;
- `command`: the CLI entry points.
"""
