"""The capacity model's outputs: the JSON document, and the Markdown tables that
docs/CAPACITY.md carries (`samsold-bench capacity --markdown` prints them again after a change)."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from samsold_bench.capacity.model import PRICES, PRICES_DATE, PRICES_REGION

BEGIN = "<!-- samsold-bench capacity: generated tables begin -->"
END = "<!-- samsold-bench capacity: generated tables end -->"


def replace_generated(text: str, tables: str) -> str:
    """`text` (docs/CAPACITY.md) with what lies between its BEGIN and END markers replaced by `tables`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {BEGIN} ... {END} block")
    return text[: start + len(BEGIN)] + "\n\n" + tables.rstrip() + "\n\n" + text[end:]


def git_commit(repo: Path) -> str:
    """The commit the figures come from (with "+changes" when the tree differs from it)."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def document(figures: Mapping[str, Any], *, commit: str, date: str, sizes: Mapping[str, int], seconds: float) -> dict[str, Any]:
    return {
        "benchmark": "samsold capacity",
        "commit": commit,
        "date": date,
        "engine": "DynamoDB Local (in memory), the handlers called in process",
        "sizes": dict(sizes),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "total_seconds": round(seconds, 1),
        **figures,
    }


def _n(value: Any) -> str:
    if value is None:
        return "no limit"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_n(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(doc: Mapping[str, Any]) -> str:
    """The tables of docs/CAPACITY.md, from one run's document."""
    scenarios: Mapping[str, Any] = doc["scenarios"]
    out = [f"Figures from commit `{doc['commit']}`, {doc['date']} (`samsold-bench capacity`, {doc['engine']}; "
           f"sizes {', '.join(f'{k} {v}' for k, v in doc['sizes'].items())}).", ""]

    out += ["### Units per bid (ProcessBid's path; PlaceBid's beside it)", ""]
    rows = []
    for name, s in scenarios.items():
        p, i = s["processor_per_bid"], s["intake_per_bid"]
        calls = ", ".join(f"{op} {n:g}" for op, n in s["processor_calls_per_batch"].items())
        rows.append([name, s["batch_size"], s["bids"], p["write_units"], p["table_write_units"], p["index_write_units"],
                     p["read_units"], calls, i["write_units"], i["read_units"]])
    out += [_table(["scenario", "batch", "bids", "WCU/bid", "table", "index", "RCU/bid", "calls per batch",
                    "PlaceBid WCU/bid", "PlaceBid RCU/bid"], rows), ""]

    out += ["### Targets (the most the item layout is meant to cost)", ""]
    out += [_table(["scenario", "target", "measured", "met"],
                   [[t["scenario"], t["target"], t["value"], "met" if t["met"] else "**not met**"] for t in doc["targets"]]), ""]

    out += ["### Items written per batch", ""]
    rows = []
    for name, s in scenarios.items():
        for item in s["items_written_per_batch"]:
            size = item["size_bytes"]
            rows.append([name, f"`{item['item']}`", item["action"], item["per_batch"],
                         f"{size['min']:,}-{size['max']:,}" if size["min"] != size["max"] else f"{size['min']:,}",
                         item["table_units_per_write"], item["index_units_per_write"], ", ".join(item["index_written_by"]) or "-"])
    out += [_table(["scenario", "item", "action", "per batch", "bytes", "table WCU each", "index WCU each", "indexes written"], rows), ""]

    out += ["### A new container's first batch of a lot (reads the lot)", ""]
    out += [_table(["scenario", "calls", "RCU", "WCU"],
                   [[name, ", ".join(f"{op} {n}" for op, n in s["cold_batch"]["calls"].items()), s["cold_batch"]["read_units"],
                     s["cold_batch"]["write_units"]] for name, s in scenarios.items() if "cold_batch" in s]), ""]

    out += ["### Per-lot ceiling (bids per second one lot can take)", ""]
    rows = []
    for name, c in doc["per_lot_ceilings"].items():
        b = c["bids_per_s"]
        rows.append([name, round(c["batch_seconds"] * 1000, 1), b["fifo_one_batch_in_flight"], c["lot_partition_write_units_per_bid"],
                     b["lot_partition_writes"], c["lot_partition_read_units_per_bid"], b["lot_partition_reads"],
                     b["sqs_fifo_message_group"], f"**{_n(c['ceiling_bids_per_s'])}** ({c['binding_limit']})"])
    out += [_table(["scenario", "batch ms (measured)", "one batch in flight", "lot key WCU/bid", "1,000 WCU/s",
                    "lot key RCU/bid", "3,000 RCU/s", "SQS group", "ceiling"], rows), ""]

    service = doc["service"]
    if service:
        out += [f"### Service-wide ceilings (per-bid needs of `{service['per_bid_from_scenario']}`; baseline "
                f"{_n(service['baseline_bids_per_s'])} bids/s)", ""]
        out += [_table(["limit", "per bid", "limit", "unit", "verified", "ceiling bids/s"],
                       [[f"`{k}`", v["per_bid"], v["limit"], v["unit"], "yes" if v["limit_verified"] else "no",
                         v["ceiling_bids_per_s"]] for k, v in service["limits"].items()]), ""]
        out += [_table(["load", "bids/s", "first limit hit", "limits exceeded"],
                       [[k, v["bids_per_s"], f"`{v['first_hit']}`" if v["first_hit"] else "none",
                         ", ".join(f"`{x}`" for x in v["limits_exceeded"]) or "-"] for k, v in service["at"].items()]), ""]

    for name, cost in doc["cost_per_million_bids"].items():
        out += [f"### Lambda per bid and the cost of a million bids (`{name}`)", ""]
        out += [_table(["function", "invocations/bid", "ms/invocation", "MB", "arch", "GB-s/bid", "duration"],
                       [[f, r["invocations_per_bid"], round(r["seconds_per_invocation"] * 1000, 1), r["memory_mb"],
                         r["architecture"], f"{r['gb_seconds_per_bid']:.5f}", r["duration_source"]]
                        for f, r in cost["lambda"].items()]), ""]
        today, original = cost["today"], cost["original_design"]
        rows = [[line, today["usd"][line], original["usd"][line]] for line in today["usd"]]
        rows.append(["**total**", f"**{today['total_usd']:.2f}**", f"**{original['total_usd']:.2f}**"])
        rows.append(["DynamoDB WCU / RCU per bid", f"{today['dynamodb_units_per_bid']['write_units']:g} / "
                     f"{today['dynamodb_units_per_bid']['read_units']:g}",
                     f"{original['dynamodb_units_per_bid']['write_units']:g} / {original['dynamodb_units_per_bid']['read_units']:g}"])
        out += [_table(["USD per million bids", "today", "original design"], rows), ""]

    out += [f"### Prices ({PRICES_REGION}, taken {PRICES_DATE})", ""]
    out += [_table(["item", "USD", "per", "source", "checked"],
                   [[k, f"{p.usd:.10f}".rstrip("0"), p.per, p.source, p.verified] for k, p in PRICES.items()]), ""]
    return "\n".join(out)
