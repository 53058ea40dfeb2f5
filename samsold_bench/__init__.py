"""The benchmarks and the capacity model, apart from the operator's `samsold` command: they
start stacks and DynamoDB Local of their own, load them and write figures to bench-results/,
which an auction house's staff never needs (`samsold-bench --help` lists them).

- `main`: the `samsold-bench` command line;
- `replay`, `load`, `processor`, `fanout`, `close`: one benchmark each;
- `harness`: what they share (fresh engines, CPU time, percentiles, the JSON written);
- `capacity/`: DynamoDB capacity, ceilings and cost per bid (docs/CAPACITY.md).
"""
