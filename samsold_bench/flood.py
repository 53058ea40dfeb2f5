"""`samsold-bench flood`: one user floods a lot with bids while another bids on it at a
steady pace, against a fresh local stack with the template's own throttling and quotas and
its optional WAF (a rate per bearer token), on 127.0.0.1 only.

First the steady bidder alone (the baseline), then the same with the flood beside it. The
flooder's bids climb from the starting price, each two steps above the one before, so the
API admits them (a bid below the minimum is refused there, 422, and never queued) while the
steady bidder's maximum stays far above them. It reports what the flooder got (202, 429 by
the code of the refusal: QUOTA_EXCEEDED from the service, THROTTLED from the gateway or the
WAF; any other answer by its status and code) and, for the steady bidder, each phase's statuses, the
time from POST to its answer, and from the gateway's receipt to the decision (both from
the bid receipt). Printed and written as JSON; the latencies are figures to compare, never
a pass or fail.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from samsold_bench.harness import (
    STARTING_PRICE,
    STEP,
    create_lots,
    fresh_stack,
    machine,
    ms_summary,
    on_loopback,
    write_results,
)

if TYPE_CHECKING:
    from bootstrap import App

MAX_FLOODERS = 200  # bounded: one user's concurrent requests on one machine, not a flood tool
REQUEST_TIMEOUT_S = 30.0
WARM_UP_BIDDERS = 8  # a local function grows to at most 8 workers
# The steady bidder's first maximum: far above where the flooder's climbing bids get to.
STEADY_FROM = Decimal("1000.00")


@dataclass
class Sent:
    bid_id: str | None = None  # the ledger's id of the bid, from the 202
    status: int | None = None
    code: str | None = None
    seconds: float | None = None


async def _post(session: Any, api: str, token: str, lot_id: str, amount: Decimal, confirm: bool = False) -> Sent:
    import aiohttp

    sent = Sent()
    started = time.perf_counter()
    try:
        bid: dict[str, Any] = {"lot_id": lot_id, "amount": str(amount)}
        async with session.post(f"{api}/bid", json=bid | ({"confirm": True} if confirm else {}),
                                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
                                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as response:
            body = await response.json(content_type=None)
            sent.status = response.status
            if isinstance(body, dict):
                sent.code = (body.get("error") or {}).get("code")
                sent.bid_id = body.get("bid_id") if response.status == 202 else None
    except (aiohttp.ClientError, TimeoutError):
        sent.code = "NO_ANSWER"
    sent.seconds = time.perf_counter() - started
    return sent


async def _steady(session: Any, api: str, token: str, lot_id: str, rate: float, seconds: float,
                  amounts: list[Decimal]) -> list[Sent]:
    """Bids at `rate` a second for `seconds`, each above the last and confirmed (so each is accepted)."""
    tasks = []
    started = time.monotonic()
    for index in range(max(1, int(rate * seconds))):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        amounts[0] += Decimal("1.00")
        tasks.append(asyncio.create_task(_post(session, api, token, lot_id, amounts[0], confirm=True)))
    return list(await asyncio.gather(*tasks))


async def _flood(session: Any, api: str, token: str, lot_id: str, flooders: int, until: float) -> list[Sent]:
    """`flooders` loops each posting a bid again as soon as the last is answered, each bid two
    steps above the last one sent (above the minimum its predecessor leaves, if accepted)."""
    sent: list[Sent] = []
    amount = [STARTING_PRICE]

    async def loop() -> None:
        while time.monotonic() < until:
            amount[0] += 2 * STEP
            sent.append(await _post(session, api, token, lot_id, amount[0]))

    await asyncio.gather(*(loop() for _ in range(flooders)))
    return sent


def _statuses(sent: list[Sent]) -> dict[str, int]:
    return dict(Counter(f"{s.status} {s.code}" if s.code else str(s.status) for s in sent))


async def _decisions(service: App, sent: list[Sent], timeout_s: float) -> dict[str, Any]:
    """Time from the gateway's receipt to the decision of each steady bid that got 202."""
    from ledger.domain.values import parse_time

    waiting = [s.bid_id for s in sent if s.bid_id]  # only a 202 names one
    receipts: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        receipts.update(await asyncio.to_thread(service.queries.bid_receipts, waiting))
        waiting = [bid_id for bid_id in waiting if bid_id not in receipts]
        if waiting:
            await asyncio.sleep(0.5)
    seconds = [(parse_time(r["decided_at"]) - parse_time(r["placed_at"])).total_seconds()
               for r in receipts.values() if r.get("decided_at")]
    return {"outcomes": dict(Counter(str(r.get("status")) for r in receipts.values())), "undecided": len(waiting),
            "receipt_to_decision_ms": ms_summary(seconds)}


async def run_flood(endpoints: dict[str, Any], data_dir: Path, flooders: int, flood_s: float, steady_rate: float,
                    baseline_s: float, settle_s: float) -> dict[str, Any]:
    import aiohttp

    from local.cognito.user_pool import DevAuth
    from samsold_cli.target import resolve_target

    api = on_loopback(endpoints["rest"])
    service = resolve_target(data_dir).app
    auth = DevAuth(data_dir)
    run = uuid.uuid4().hex[:6]
    flooder, steady = auth.mint(f"flooder-{run}"), auth.mint(f"steady-{run}")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=flooders + 16)) as session:
        lot_id, warm_lot = await create_lots(session, api, auth.mint(f"flood-seller-{run}", seller=True, handle="flood"), 2, prefix="flood")
        # The functions' workers start on a call's demand: start as many as the flood will
        # use before measuring (other bidders, another lot), so no phase measures a cold start.
        warmers = [auth.mint(f"warm-{run}-{index}") for index in range(WARM_UP_BIDDERS)]
        await asyncio.gather(*(_post(session, api, token, warm_lot, Decimal(f"{2 + index}.00"), confirm=True)
                               for index, token in enumerate(warmers)))
        amounts = [STEADY_FROM]
        alone = await _steady(session, api, steady, lot_id, steady_rate, baseline_s, amounts)
        until = time.monotonic() + flood_s
        flood, beside = await asyncio.gather(_flood(session, api, flooder, lot_id, flooders, until),
                                             _steady(session, api, steady, lot_id, steady_rate, flood_s, amounts))
    steady_phases = {}
    for name, sent in (("alone", alone), ("during_flood", beside)):
        steady_phases[name] = {"bids_sent": len(sent), "statuses": _statuses(sent),
                               "post_to_answer_ms": ms_summary([s.seconds for s in sent if s.seconds is not None]),
                               **await _decisions(service, sent, settle_s)}
    return {
        "lot_id": lot_id,
        "flooder": {"requests": len(flood), "requests_per_s": round(len(flood) / flood_s, 1), "statuses": _statuses(flood),
                    "answered_202": sum(s.status == 202 for s in flood), "answered_429": sum(s.status == 429 for s in flood),
                    "answered_otherwise": sum(s.status not in (202, 429) for s in flood)},
        "steady_bidder": steady_phases,
    }


def flood(
    flooders: Annotated[int, typer.Option(min=1, max=MAX_FLOODERS, help="The flooding user's requests in flight at once")] = 50,
    flood_seconds: Annotated[float, typer.Option(min=1, max=120, help="How long the flood lasts")] = 10.0,
    steady_rate: Annotated[float, typer.Option(min=0.1, max=20, help="The other bidder's bids a second")] = 2.0,
    baseline_seconds: Annotated[float, typer.Option(min=1, max=120, help="How long the other bidder bids alone first")] = 5.0,
    settle_seconds: Annotated[float, typer.Option(min=1, max=600, help="How long to wait for the steady bids' decisions")] = 60.0,
    waf_per_user: Annotated[int, typer.Option(min=0, max=100000, help="On the fresh stack, the WAF's requests per bearer token in 60 s (WafRateLimitPerUser; the per-address rule lifted, as every client here is 127.0.0.1); 0: no WAF")] = 300,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="A running local stack's data directory, with its own limits [default: start one with the template's]")] = None,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/flood.json"),
) -> None:
    """One user floods a lot with bids while another keeps bidding on it (127.0.0.1 only), on
    a fresh local stack with the template's throttling and quotas: what each user got."""
    from bootstrap import use_placeholder_credentials

    use_placeholder_credentials()
    started = time.perf_counter()
    load_before = os.getloadavg()
    from local.runtime import read_endpoints

    def measure(directory: Path, endpoints: dict[str, Any]) -> dict[str, Any]:
        return asyncio.run(run_flood(endpoints, directory, flooders, flood_seconds, steady_rate, baseline_seconds,
                                     settle_seconds))

    if data_dir is not None:
        if (endpoints := read_endpoints(data_dir)) is None:
            raise typer.BadParameter(f"no local stack runs on {data_dir} (start it with `samsold dev`)")
        stack = f"running stack on {data_dir}, with its own limits"
        results = measure(data_dir, endpoints)
    else:
        waf = {"WafRateLimitPerIp": "100000", "WafRateLimitPerUser": str(waf_per_user)} if waf_per_user else {}
        with fresh_stack("samsold-flood-", overrides=waf) as (directory, endpoints, _):
            results = measure(directory, endpoints)
        stack = ("fresh local stack (temporary data directory) with the template's default limits"
                 + (f" and its WAF at {waf_per_user} requests per token a minute" if waf_per_user else "")
                 + ", in a child process")
    document = {
        "benchmark": "samsold flood",
        "stack": stack,
        "machine": machine(load_before),
        "options": {"flooders": flooders, "flood_seconds": flood_seconds, "steady_rate": steady_rate,
                    "baseline_seconds": baseline_seconds, "waf_per_user": None if data_dir else waf_per_user},
        **results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_results(document, output)
