"""`samsold-bench sale`: how long a sale of 1,000 lots takes to create on a fresh local stack
(the template's limits lifted): `POST /sales` with the first lots, then
`POST /sales/{sale_id}/lots` with the rest, each timed from request to its 201, and the sale
read back whole, a page of `GET /sales/{sale_id}` at a time. The goal: seconds, not minutes.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from samsold_bench.harness import fresh_stack, limits_lifted, machine, on_loopback, write_results
from samsold_cli.ops import call_api
from samsold_cli.shared import console

GOAL_S = 60.0  # creating the whole sale: well under a minute


def _terms(run_id: str, start: int, count: int) -> list[dict[str, Any]]:
    return [{"lot_id": f"sale-{run_id}-{n}", "title": f"Estate lot {n + 1}", "currency": "EUR", "starting_price": "10.00"}
            for n in range(start, start + count)]


def _timed(api: str, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[float, Any]:
    started = time.perf_counter()
    status, payload = call_api(api, method, path, token, body)
    seconds = time.perf_counter() - started
    if status >= 300:
        raise RuntimeError(f"{method} {path} answered {status}: {str(payload)[:500]}")
    return seconds, payload


def run_sale(api: str, seller_token: str, first: int, added: int, interval_s: int) -> dict[str, Any]:
    """Create a sale of `first` lots, add `added`, read it back; the seconds each took."""
    from ledger.domain.values import format_time, utc_now

    run_id = uuid.uuid4().hex[:8]
    sale_id = f"bench-{run_id}"
    body = {"sale_id": sale_id, "title": "Benchmark estate sale", "interval_s": interval_s,
            "first_closes_at": format_time(utc_now() + timedelta(hours=1)), "lots": _terms(run_id, 0, first)}
    created_s, created = _timed(api, "POST", "/sales", seller_token, body)
    added_s, more = (0.0, {"lots": []}) if added == 0 else _timed(
        api, "POST", f"/sales/{sale_id}/lots", seller_token, {"lots": _terms(run_id, first, added)})
    read_s, pages, seen, cursor = 0.0, 0, [], None
    while True:
        seconds, page = _timed(api, "GET", f"/sales/{sale_id}" + (f"?cursor={cursor}" if cursor else ""))
        read_s, pages = read_s + seconds, pages + 1
        seen += [lot["lot_id"] for lot in page["items"]]
        if (cursor := page["next"]) is None:
            break
    expected = [f"sale-{run_id}-{n}" for n in range(first + added)]
    return {
        "sale_id": sale_id,
        "lots": first + added,
        "seconds": {"create": round(created_s, 2), "add": round(added_s, 2), "create_and_add": round(created_s + added_s, 2),
                    "read_all_pages": round(read_s, 2)},
        "answered_lots": {"create": len(created["lots"]), "add": len(more["lots"])},
        "pages_read": pages,
        "read_back_in_order": seen == expected,
        "last_close_after_first_s": (first + added - 1) * interval_s,
    }


def sale(
    first: Annotated[int, typer.Option(min=1, max=500, help="Lots POST /sales creates")] = 500,
    added: Annotated[int, typer.Option(min=0, max=500, help="Lots POST /sales/{sale_id}/lots adds")] = 500,
    interval: Annotated[int, typer.Option(min=1, max=3600, help="Seconds between two lots' closes")] = 10,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/sale.json"),
) -> None:
    """Seconds to create a sale of FIRST + ADDED lots on a fresh local stack (127.0.0.1 only),
    and to read it back page by page."""
    from bootstrap import use_placeholder_credentials
    from local.cognito.user_pool import DevAuth

    use_placeholder_credentials()
    started = time.perf_counter()
    load_before = os.getloadavg()
    with fresh_stack("samsold-sale-", limits_lifted()) as (directory, endpoints, stack):
        token = DevAuth(directory).mint(f"sale-seller-{uuid.uuid4().hex[:6]}", seller=True, handle="sale")
        results = run_sale(on_loopback(endpoints["rest"]), token, first, added, interval)
    document = sale_document(results, {"first": first, "added": added, "interval_s": interval}, load_before)
    document |= {"stack_exit_code": stack.exitcode, "total_seconds": round(time.perf_counter() - started, 1)}
    write_results(document, output)
    if not results["read_back_in_order"]:
        console.print("[red]the sale read back is not the lots created, in order[/red]")


def sale_document(results: dict[str, Any], options: dict[str, Any], load_before: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "benchmark": "samsold sale",
        "stack": "fresh local stack (temporary data directory, the template's throttling and quotas lifted), in a child process",
        "measured_from": "each request sent to its 201 (create: POST /sales; add: POST /sales/{sale_id}/lots; the "
                         "sale's lots then all seen), and every page of GET /sales/{sale_id} read back",
        "machine": machine(load_before),
        "options": options,
        "goal": {"create_and_add_s": GOAL_S},
        **results,
        "within_goal": results["seconds"]["create_and_add"] <= GOAL_S,
    }
