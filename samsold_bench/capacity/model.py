"""From observed scenarios to figures: units per bid, the per-lot and service-wide
ceilings, Lambda use and the cost of a million bids, at dated list prices.

Every per-bid figure comes from the observed calls (`scenarios`); what cannot be
observed on one machine (AWS quotas, prices, the broadcast's duration, how many watch a
lot) is a named assumption below, printed with the figures and written into the JSON.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from samsold_bench.capacity.observer import ObservedCall
from samsold_bench.capacity.scenarios import Scenario

# --- what AWS allows (defaults; "verified" says whether this run's sources confirmed it) ---


@dataclass(frozen=True)
class Limit:
    value: float
    unit: str
    source: str
    verified: bool


LIMITS: dict[str, Limit] = {
    "partition_write_units_per_s": Limit(1000, "write units/s per partition key", "DynamoDB Developer Guide, warm-throughput-scenarios.html: each partition is limited to 1,000 write units/s and 3,000 read units/s", True),
    "partition_read_units_per_s": Limit(3000, "read units/s per partition key", "DynamoDB Developer Guide, warm-throughput-scenarios.html", True),
    "table_write_units_per_s": Limit(40000, "WRU/s per table (on-demand default maximum)", "DynamoDB service quotas, on-demand per-table default", False),
    "table_read_units_per_s": Limit(40000, "RRU/s per table (on-demand default maximum)", "DynamoDB service quotas, on-demand per-table default", False),
    "index_write_units_per_s": Limit(40000, "WRU/s per global secondary index (taken as the table's)", "assumed equal to the per-table default", False),
    "lambda_concurrency": Limit(1000, "concurrent executions per account and region", "Lambda quotas, default", False),
    "api_gateway_rps": Limit(10000, "requests/s per account and region (REST)", "API Gateway quotas, default throttle", False),
    "sqs_fifo_api_per_s": Limit(70000, "calls/s per API action (FIFO high throughput, us-east-1)", "SQS quotas, high-throughput FIFO", False),
    "sqs_fifo_group_per_s": Limit(300, "calls/s per API action per FIFO partition (a message group lives in one)", "SQS Developer Guide, quotas-messages.html", True),
    "sqs_fifo_queue_per_s": Limit(300, "calls/s per API action for the whole queue (FIFO without high throughput)", "SQS Developer Guide, troubleshooting-fifo-throttling-issues.html", True),
}

# --- list prices, us-east-1 (dated) -----------------------------------------------------

PRICES_DATE = "2026-11-24"
PRICES_REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str
    verified: str  # how this run checked it


PRICES: dict[str, Price] = {
    "dynamodb_write_request_unit": Price(0.625e-6, "WRU (on-demand, after the November 2024 cut)", "aws.amazon.com/dynamodb/pricing/on-demand", "secondary source agrees (airbyte.com, 2025)"),
    "dynamodb_read_request_unit": Price(0.125e-6, "RRU (on-demand)", "aws.amazon.com/dynamodb/pricing/on-demand", "secondary source agrees (airbyte.com, 2025)"),
    "lambda_request": Price(0.20e-6, "invocation", "aws.amazon.com/lambda/pricing", "secondary sources agree (2024-2026)"),
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second, arm64 (first 7.5 billion GB-s a month)", "aws.amazon.com/lambda/pricing", "secondary sources agree (cloudchipr.com 2024)"),
    "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second, x86_64 (first 6 billion GB-s a month)", "aws.amazon.com/lambda/pricing", "secondary sources agree"),
    "sqs_fifo_request": Price(0.50e-6, "FIFO request (each 64 KB chunk of a payload is one request)", "aws.amazon.com/sqs/pricing", "secondary sources agree (cloudburn.io 2026)"),
    "api_gateway_rest_request": Price(3.50e-6, "REST API request (first 333 million a month)", "aws.amazon.com/api-gateway/pricing", "not verified in this run"),
    "websocket_message": Price(1.00e-6, "WebSocket message (32 KB increments, first billion a month)", "aws.amazon.com/api-gateway/pricing", "not verified in this run"),
    "websocket_connection_minute": Price(0.25e-6, "WebSocket connection-minute", "aws.amazon.com/api-gateway/pricing", "not verified in this run"),
}
SQS_CHUNK_BYTES = 64 * 1024


@dataclass
class Assumptions:
    """What one machine cannot measure; stated, printed and written with the figures."""

    baseline_bids_per_s: float = 100.0  # docs/ARCHITECTURE.md's goal for the whole service
    watchers_per_lot: int = 10  # WebSocket connections that receive each lot.updated
    broadcast_seconds: float = 0.05  # one BroadcastLotChanges invocation (not run here)
    broadcast_invocations_per_transaction: float = 1.0  # one stream batch per decided batch (an upper bound)
    notes: list[str] = field(default_factory=lambda: [
        "Durations of PlaceBid and ProcessBid are the handlers' measured wall time on this machine against "
        "DynamoDB Local (in memory); AWS's are different (network round trips, Lambda's own overhead).",
        "Service-wide figures take every bid to arrive alone in its lot's message group (the unbatched figures): "
        "true for many quiet lots; a busy lot fills its batches and costs less per bid.",
        "DynamoDB Streams reads by Lambda event source mappings are free; the stream's capacity is not priced.",
    ])


# The original design: the item layout as of commit b82b9ad (before the bounded snapshot, the
# keys-only open-lots index and one call per batch), priced by DynamoDB's rules; the cost tables'
# baseline.
ORIGINAL_DESIGN: dict[str, Any] = {
    "source": "the item layout as of commit b82b9ad, priced by DynamoDB's rules",
    "unbatched": {"write_units": 16.0, "table_write_units": 10.0, "index_write_units": 6.0, "calls_per_batch": 3,
                  # GetItem of a <= 4 KB snapshot (1) + BatchGetItem of 1 missing receipt (1): derived, not measured
                  "read_units": 2.0},
    "batch_of_10": {"write_units": 5.6, "calls_per_batch": 3,
                    # (GetItem 1 + 10 missing receipts at 1 each) / 10 bids: derived, not measured
                    "read_units": 1.1},
}


# --- template facts ---------------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags read as plain values (only literals matter here)."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node)


_TemplateLoader.add_multi_constructor("!", _any_tag)


@dataclass(frozen=True)
class FunctionFacts:
    memory_mb: int
    architecture: str


def template_facts(template: Path) -> dict[str, Any]:
    """Memory, architecture of the bid path's functions and the FIFO batch size, from template.yaml."""
    document = yaml.load(template.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    globals_ = document.get("Globals", {}).get("Function", {})
    functions = {}
    for name in ("PlaceBidFunction", "ProcessBidFunction", "BroadcastLotChangesFunction"):
        properties = document["Resources"][name]["Properties"]
        architectures = properties.get("Architectures") or globals_.get("Architectures") or ["x86_64"]
        functions[name] = asdict(FunctionFacts(int(properties.get("MemorySize") or globals_.get("MemorySize") or 128),
                                               str(architectures[0])))
    bids = document["Resources"]["ProcessBidFunction"]["Properties"]["Events"]
    batch_size = next(int(e["Properties"].get("BatchSize", 10)) for e in bids.values() if e.get("Type") == "SQS")
    queue = document["Resources"]["ProcessBidQueue"]["Properties"]
    # High throughput FIFO is these two settings together (SQS Developer Guide, high-throughput-fifo).
    high_throughput = queue.get("DeduplicationScope") == "messageGroup" and queue.get("FifoThroughputLimit") == "perMessageGroupId"
    return {"functions": functions, "fifo_batch_size": batch_size, "fifo_high_throughput": high_throughput,
            "template": str(template)}


# --- per-scenario figures ---------------------------------------------------------------


def _per(values: Iterable[float], count: int) -> float:
    return round(sum(values) / count, 3) if count else 0.0


def _units(calls: Sequence[ObservedCall], bids: int) -> dict[str, Any]:
    table = sum(c.table_write_units for c in calls)
    index = sum(c.index_write_units for c in calls)
    indexes: dict[str, float] = defaultdict(float)
    for c in calls:
        for w in c.writes:
            for i in w.indexes:
                indexes[i.index] += i.units
    return {
        "write_units": _per([table + index], bids),
        "table_write_units": _per([table], bids),
        "index_write_units": _per([index], bids),
        "read_units": _per([c.read_units for c in calls], bids),
        "by_index": {name: _per([units], bids) for name, units in sorted(indexes.items())},
    } | {f"index_write_units:{name}": _per([units], bids) for name, units in sorted(indexes.items())}


def _partitions(calls: Sequence[ObservedCall], bids: int, generalize: Any) -> dict[str, Any]:
    """Units per bid by partition key value (generalized: `{lot}` marks one lot's own key,
    a value without a placeholder is shared by every lot)."""
    table_writes: Counter[str] = Counter()
    index_writes: dict[str, Counter[str]] = defaultdict(Counter)
    reads: Counter[str] = Counter()
    for c in calls:
        for w in c.writes:
            table_writes[generalize(w.partition)] += w.table_units
            for i in w.indexes:
                if i.units:
                    index_writes[i.index][generalize(i.partition)] += i.units
        for r in c.reads:
            reads[(r.index + ":" if r.index else "") + generalize(r.partition)] += int(r.units * 2)  # halves kept exact
    return {
        "table_writes": {k: _per([v], bids) for k, v in table_writes.most_common()},
        "index_writes": {name: {k: _per([v], bids) for k, v in counts.most_common()} for name, counts in index_writes.items()},
        "reads": {k: _per([v / 2], bids) for k, v in reads.most_common()},
    }


def _items(calls: Sequence[ObservedCall], batches: int, generalize: Any) -> list[dict[str, Any]]:
    kinds: dict[str, list[Any]] = defaultdict(list)
    for c in calls:
        for w in c.writes:
            kinds[f"{w.table}:{generalize(w.key)}"].append(w)
    rows = []
    for kind, writes in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        sizes = [w.size for w in writes]
        rows.append({
            "item": kind.split(":", 1)[1], "table": kind.split(":", 1)[0], "action": writes[0].action,
            "per_batch": round(len(writes) / batches, 2),
            "size_bytes": {"min": min(sizes), "max": max(sizes), "mean": round(statistics.fmean(sizes))},
            "table_units_per_write": round(statistics.fmean(w.table_units for w in writes), 2),
            "index_units_per_write": round(statistics.fmean(w.index_units for w in writes), 2),
            "index_written_by": sorted({i.index for w in writes for i in w.indexes if i.units}),
        })
    return rows


def summarize(scenario: Scenario) -> dict[str, Any]:
    batches = scenario.batches
    bids = sum(b.bids for b in batches)
    process = [c for b in batches for c in b.process_calls]
    place = [c for b in batches for c in b.place_calls]
    processor = _units(process, bids)
    calls_per_batch = Counter(c.operation for c in process)
    summary: dict[str, Any] = {
        "description": scenario.description,
        "batch_size": scenario.batch_size,
        "batches": len(batches),
        "bids": bids,
        "outcomes": dict(sum((b.statuses for b in batches), Counter())),
        "processor_per_bid": processor,
        "processor_calls_per_batch": {op: round(n / len(batches), 2) for op, n in sorted(calls_per_batch.items())},
        "failed_calls": sum(not c.succeeded for c in process + place),
        "intake_per_bid": _units(place, bids) | {
            "calls": {op: round(n / bids, 2) for op, n in sorted(Counter(c.operation for c in place).items())}},
        "items_written_per_batch": _items(process, len(batches), scenario.generalize),
        "partitions_per_bid": _partitions(process + place, bids, scenario.generalize),
        "seconds": {
            "process_batch_median": round(statistics.median(b.process_seconds for b in batches), 4),
            "place_bid_median": round(statistics.median(b.place_seconds / b.bids for b in batches), 4),
        },
        "message_bytes_max": max(m for b in batches for m in b.message_bytes),
    }
    if scenario.cold is not None:
        cold = scenario.cold
        summary["cold_batch"] = {
            "note": "the first batch of a lot in a new ProcessBid container (reads the lot); not in the figures above",
            "calls": dict(Counter(c.operation for c in cold.process_calls)),
            "read_units": sum(c.read_units for c in cold.process_calls),
            "write_units": sum(c.table_write_units + c.index_write_units for c in cold.process_calls),
        }
    summary["targets"] = [
        {"target": t.text, "figure": t.figure, "value": processor[t.figure], "at_most": t.at_most,
         "met": processor[t.figure] <= t.at_most + 1e-9}
        for t in scenario.targets
    ]
    return summary


# --- ceilings ---------------------------------------------------------------------------


def per_lot_ceiling(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Bids per second one lot can take, by each limit that applies to one lot."""
    parts = summary["partitions_per_bid"]
    lot_writes = max((v for k, v in parts["table_writes"].items() if "{lot}" in k), default=0.0)
    lot_reads = max((v for k, v in parts["reads"].items() if "{lot}" in k), default=0.0)
    seconds = summary["seconds"]["process_batch_median"]
    limits = {
        # One batch in flight per message group: a lot's next batch waits for this one.
        "fifo_one_batch_in_flight": summary["batch_size"] / seconds if seconds else math.inf,
        "lot_partition_writes": LIMITS["partition_write_units_per_s"].value / lot_writes if lot_writes else math.inf,
        "lot_partition_reads": LIMITS["partition_read_units_per_s"].value / lot_reads if lot_reads else math.inf,
        "sqs_fifo_message_group": LIMITS["sqs_fifo_group_per_s"].value,
    }
    binding = min(limits, key=lambda k: limits[k])
    return {
        "bids_per_s": {k: _round(v) for k, v in limits.items()},
        "ceiling_bids_per_s": _round(limits[binding]),
        "binding_limit": binding,
        "lot_partition_write_units_per_bid": lot_writes,
        "lot_partition_read_units_per_bid": lot_reads,
        "batch_seconds": seconds,
        "batch_seconds_source": "measured on this machine (DynamoDB Local)",
    }


def _round(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 1)


def service_ceilings(unbatched: Mapping[str, Any], facts: Mapping[str, Any], assumptions: Assumptions) -> dict[str, Any]:
    """The service's limits, what one bid needs of each, and which binds first at 10x and 100x the baseline."""
    batch = unbatched["batch_size"]
    processor, intake = unbatched["processor_per_bid"], unbatched["intake_per_bid"]
    seconds = unbatched["seconds"]
    concurrency_seconds = (seconds["place_bid_median"] + seconds["process_batch_median"] / batch
                           + assumptions.broadcast_seconds * assumptions.broadcast_invocations_per_transaction / batch)
    needs: dict[str, tuple[float, Limit]] = {
        "lambda_concurrency": (concurrency_seconds, LIMITS["lambda_concurrency"]),
        "api_gateway_rps": (1.0, LIMITS["api_gateway_rps"]),
        "sqs_fifo_send_message": (1.0, LIMITS["sqs_fifo_api_per_s" if facts["fifo_high_throughput"] else "sqs_fifo_queue_per_s"]),
        "dynamodb_table_write_units": (processor["table_write_units"] + intake["table_write_units"], LIMITS["table_write_units_per_s"]),
        "dynamodb_table_read_units": (processor["read_units"] + intake["read_units"], LIMITS["table_read_units_per_s"]),
    }
    for index, units in processor["by_index"].items():
        needs[f"dynamodb_index_write_units:{index}"] = (units + intake["by_index"].get(index, 0.0), LIMITS["index_write_units_per_s"])
    # A partition key every lot writes (no {lot} or {id} in it) caps the whole service at one partition's rate.
    parts = unbatched["partitions_per_bid"]
    for key, units in parts["table_writes"].items():
        if "{" not in key:
            needs[f"shared_partition:{key}"] = (units, LIMITS["partition_write_units_per_s"])
    for index, keys in parts["index_writes"].items():
        shared = {k: v for k, v in keys.items() if "{" not in k}
        if shared:  # shards: writes spread over the values seen (a lower bound on the shards there are)
            label = f"shared_index_partition:{index}:{','.join(sorted(shared))}"
            needs[label] = (sum(shared.values()) / len(shared), LIMITS["partition_write_units_per_s"])
    ceilings = {name: limit.value / per_bid if per_bid else math.inf for name, (per_bid, limit) in needs.items()}
    rows = {
        name: {"per_bid": round(per_bid, 4), "limit": limit.value, "unit": limit.unit,
               "limit_verified": limit.verified, "ceiling_bids_per_s": _round(ceilings[name])}
        for name, (per_bid, limit) in needs.items()
    }
    ordered = sorted(rows, key=lambda k: ceilings[k])
    baseline = assumptions.baseline_bids_per_s
    at = {}
    for multiple in (1, 10, 100):
        rate = baseline * multiple
        over = [k for k in ordered if ceilings[k] < rate]
        at[f"{multiple}x"] = {"bids_per_s": rate, "limits_exceeded": over, "first_hit": over[0] if over else None,
                              "utilization": {k: round(rate / ceilings[k], 3) for k in ordered[:4] if not math.isinf(ceilings[k])}}
    return {"baseline_bids_per_s": baseline, "limits": {k: rows[k] for k in ordered},
            "first_limit": ordered[0], "ceiling_bids_per_s": rows[ordered[0]]["ceiling_bids_per_s"], "at": at,
            "per_bid_from_scenario": "unbatched_returning"}


# --- Lambda and cost --------------------------------------------------------------------


def _billed_seconds(seconds: float) -> float:
    return math.ceil(seconds * 1000) / 1000  # Lambda bills duration in 1 ms steps


def lambda_use(summary: Mapping[str, Any], facts: Mapping[str, Any], assumptions: Assumptions) -> dict[str, Any]:
    functions = facts["functions"]
    batch = summary["batch_size"]
    seconds = summary["seconds"]
    rows = {
        "PlaceBidFunction": (1.0, seconds["place_bid_median"]),
        "ProcessBidFunction": (1.0 / batch, seconds["process_batch_median"]),
        "BroadcastLotChangesFunction": (assumptions.broadcast_invocations_per_transaction / batch, assumptions.broadcast_seconds),
    }
    out = {}
    for name, (invocations, duration) in rows.items():
        memory_gb = functions[name]["memory_mb"] / 1024
        out[name] = {"invocations_per_bid": round(invocations, 4), "seconds_per_invocation": duration,
                     "memory_mb": functions[name]["memory_mb"], "architecture": functions[name]["architecture"],
                     "gb_seconds_per_bid": round(invocations * memory_gb * _billed_seconds(duration), 6),
                     "duration_source": "assumed" if name == "BroadcastLotChangesFunction" else "measured on this machine"}
    return out


def cost_per_million(dynamodb: Mapping[str, float], summary: Mapping[str, Any], lambdas: Mapping[str, Any],
                     assumptions: Assumptions) -> dict[str, Any]:
    """US dollars for a million bids: the bid path end to end, by service."""
    batch = summary["batch_size"]
    chunks = math.ceil(summary["message_bytes_max"] / SQS_CHUNK_BYTES)
    million = 1_000_000
    gb_seconds = {"arm64": 0.0, "x86_64": 0.0}
    for row in lambdas.values():
        gb_seconds[row["architecture"]] += row["gb_seconds_per_bid"]
    lines = {
        "api_gateway_rest": million * PRICES["api_gateway_rest_request"].usd,
        "lambda_requests": million * sum(r["invocations_per_bid"] for r in lambdas.values()) * PRICES["lambda_request"].usd,
        "lambda_duration": million * (gb_seconds["arm64"] * PRICES["lambda_gb_second_arm64"].usd
                                      + gb_seconds["x86_64"] * PRICES["lambda_gb_second_x86_64"].usd),
        # SendMessage per bid; the event source's ReceiveMessage and DeleteMessageBatch per batch.
        "sqs_fifo": million * (chunks + 2 * chunks / batch) * PRICES["sqs_fifo_request"].usd,
        "dynamodb_writes": million * dynamodb["write_units"] * PRICES["dynamodb_write_request_unit"].usd,
        "dynamodb_reads": million * dynamodb["read_units"] * PRICES["dynamodb_read_request_unit"].usd,
        # Each decided batch: lot.updated to every watcher; each bid: its outcome to its bidder.
        "websocket_messages": million * (assumptions.watchers_per_lot / batch + 1) * PRICES["websocket_message"].usd,
    }
    return {"usd": {k: round(v, 2) for k, v in lines.items()}, "total_usd": round(sum(lines.values()), 2),
            "dynamodb_units_per_bid": dict(dynamodb)}


def dynamodb_units(summary: Mapping[str, Any]) -> dict[str, float]:
    """Write and read units per bid on the whole bid path (intake and processor)."""
    processor, intake = summary["processor_per_bid"], summary["intake_per_bid"]
    return {"write_units": round(processor["write_units"] + intake["write_units"], 3),
            "read_units": round(processor["read_units"] + intake["read_units"], 3)}


def original_units(summary: Mapping[str, Any], kind: str) -> dict[str, float]:
    """The original design's processor figures (ORIGINAL_DESIGN), with today's measured intake."""
    intake = summary["intake_per_bid"]
    original: Mapping[str, Any] = ORIGINAL_DESIGN[kind]
    return {"write_units": round(float(original["write_units"]) + intake["write_units"], 3),
            "read_units": round(float(original["read_units"]) + intake["read_units"], 3)}


def model(scenarios: Sequence[Scenario], facts: Mapping[str, Any], assumptions: Assumptions) -> dict[str, Any]:
    summaries = {s.name: summarize(s) for s in scenarios}
    costs = {}
    for name, kind in (("unbatched_returning", "unbatched"), ("batch_of_10", "batch_of_10")):
        if name not in summaries:
            continue
        lambdas = lambda_use(summaries[name], facts, assumptions)
        costs[name] = {
            "lambda": lambdas,
            "today": cost_per_million(dynamodb_units(summaries[name]), summaries[name], lambdas, assumptions),
            "original_design": cost_per_million(original_units(summaries[name], kind), summaries[name], lambdas, assumptions),
        }
    return {
        "scenarios": summaries,
        "per_lot_ceilings": {name: per_lot_ceiling(s) for name, s in summaries.items()},
        "service": service_ceilings(summaries["unbatched_returning"], facts, assumptions) if "unbatched_returning" in summaries else {},
        "cost_per_million_bids": costs,
        "targets": [t | {"scenario": name} for name, s in summaries.items() for t in s["targets"]],
        "original_design": ORIGINAL_DESIGN,
        "limits": {k: asdict(v) for k, v in LIMITS.items()},
        "prices": {"date": PRICES_DATE, "region": PRICES_REGION, "items": {k: asdict(v) for k, v in PRICES.items()}},
        "assumptions": asdict(assumptions),
        "template": dict(facts),
    }
