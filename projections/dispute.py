"""The dispute report on one bid: everything needed to answer "why did I lose?" with
proof, taken from the stored events and checked against their hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain import rules
from ledger.domain.errors import BidNotFound
from ledger.domain.events import (
    ADD_TO_END,
    BOUGHT,
    LEADER_CHANGE,
    OUTBID,
    RAISED,
    BidPlaced,
    BidRejected,
    BidRetracted,
    LotEvent,
)
from ledger.domain.rules import REASON_CODES
from ledger.domain.state import LotSnapshot, alias_name, evolve
from ledger.domain.values import format_decimal, format_time, to_currency
from ledger.service.queries import LotQueries
from ledger.snapshot_item import snapshot_to_item
from projections.audit import verify
from projections.history import event_record

NEIGHBOURS = 3

RULES = {
    None: "accepted: the lot was open at placed_at, the bidder was not the seller, and the amount (the "
    "bidder's maximum) fit the currency and met the minimum next bid (or raised the leader's own maximum)",
    "LOT_NOT_OPEN": "rejected: placed_at was before the lot opened (opens_at)",
    "LOT_CLOSED": "rejected: the lot was closed, or placed_at was at or after the close time in force (closes_at)",
    "LOT_CANCELLED": "rejected: the lot had been cancelled",
    "SELLER_CANNOT_BID": "rejected: the seller may not bid on their own lot",
    "ALREADY_LEADING": "rejected: the bidder was already the leading bidder (the rule before maximum bids)",
    "BELOW_OWN_MAXIMUM": "rejected: the bidder was leading and the amount was not above their own maximum",
    "BELOW_MINIMUM": "rejected: the amount was below the minimum next bid "
    "(the starting price for the first bid, then the current price plus the increment of its band)",
    "CURRENCY_PRECISION": "rejected: the amount had more decimals than the lot's currency allows",
    "AMOUNT_TOO_LARGE": "rejected: the amount (a maximum) was so large that the minimum next bid after it would "
    "have been larger than any amount the API takes",
    "BUY_NOW_NOT_OFFERED": "rejected: a purchase at the buy-now price when the lot had none, or no longer offered it "
    "by its terms (buy_now_until first_bid: a bid had been accepted; reserve_met: the reserve had been met)",
}
# The rule of an accepted purchase at the buy-now price (`rules.decide_buy_now`).
BOUGHT_RULE = ("accepted: a purchase at the buy-now price while the lot was open at placed_at and still offered it "
               "(by buy_now_until), by a buyer who was not the seller; the lot closed SOLD to the buyer at that price")
assert set(RULES) - {None} == set(REASON_CODES)


def explain(event: LotEvent, currency: str, alias_of: dict[str, int]) -> str | None:
    """What an accepted bid did to the price, in words, with the numbers that made it."""
    if not isinstance(event, BidPlaced):
        return None
    money = lambda amount: format_decimal(to_currency(amount, currency))  # noqa: E731
    price, maximum = money(event.price_after), money(event.amount)
    if event.outcome == OUTBID and event.leader_maximum is not None:
        return (f"your maximum {maximum} was below the leader's earlier maximum of at least {money(event.leader_maximum)} "
                f"(or equal to it and placed later), so the leader's maximum answered it and the price moved to {price}")
    if event.outcome == BOUGHT:
        return f"the bidder bought the lot at its buy-now price of {price}, which closed it SOLD to them"
    if event.outcome == RAISED:
        return f"the leader raised their maximum to {maximum}; the price stayed at {price} unless the reserve was reached"
    if event.price is None:
        return f"a bid of {maximum} (recorded before maximum bids: the amount was the price) took the lead"
    return f"your maximum {maximum} took the lead; the price moved to {price}, the least that keeps you ahead"


def soft_close_rule(state: LotSnapshot) -> dict[str, Any]:
    """The lot's soft-close terms, by their names in the lot's terms."""
    return {
        "soft_close_window_s": state.soft_close_window_s,
        "soft_close_extension_s": state.soft_close_extension_s,
        "soft_close_mode": state.soft_close_mode,
        "soft_close_trigger": state.soft_close_trigger,
        "max_extensions": state.max_extensions,
    }


def close_effect(state: LotSnapshot, event: LotEvent) -> dict[str, Any]:
    """What the bid did to the close time, by the lot's soft-close rule (`rules.soft_close`,
    the rule that decided it) against the state it met, in words; the close after it is
    the one its event records."""
    if not isinstance(event, BidPlaced):
        return {"closes_at": format_time(state.closes_at), "effect": None,
                "explanation": "a rejected bid never moves the close"}
    if event.outcome == BOUGHT:
        return {"closes_at": format_time(event.closes_at), "effect": None,
                "explanation": "a purchase at the buy-now price closes the lot at once: soft close does not apply"}
    move = rules.soft_close(state, event.placed_at, rules.changes_leader(state, event.bidder, event.outcome))
    time = lambda at: format_time(at) if isinstance(at, datetime) else "none"  # noqa: E731
    window, extension = state.soft_close_window_s, state.soft_close_extension_s
    cap = "no cap" if state.max_extensions is None else f"at most {state.max_extensions}"
    moved_by = (f"{extension} s added to the close in force" if state.soft_close_mode == ADD_TO_END
                else f"{extension} s after the bid")
    words = {
        rules.EXTENDED: f"it moved the close from {time(state.closes_at)} to {time(event.closes_at)} ({moved_by}); "
        f"extension {state.extension_count + 1} ({cap})",
        rules.EXTENDED_TO_HARD_CLOSE: f"it moved the close from {time(state.closes_at)} to the hard close "
        f"{time(state.hard_close_at)} ({moved_by} would have passed it); extension {state.extension_count + 1} ({cap})",
        rules.SOFT_CLOSE_OFF: "the lot has no soft close: the close stayed",
        rules.BEFORE_WINDOW: f"it was placed before the last {window} s before the close in force "
        f"({time(state.closes_at)}): the close stayed",
        rules.NOT_A_LEADER_CHANGE: "the lot extends only when the leader changes, and this bid did not "
        "(the leader's maximum answered it, or the leader raised their own): the close stayed",
        rules.EXTENSIONS_USED: f"the lot had had the most extensions its terms allow ({state.max_extensions}): the close stayed",
        rules.NOT_LATER: f"{extension} s after the bid was not later than the close in force "
        f"({time(state.closes_at)}): the close stayed",
        rules.AT_HARD_CLOSE: f"the close in force was already the hard close ({time(state.hard_close_at)}): the close stayed",
    }
    return {"closes_at": format_time(event.closes_at), "effect": move.why, "explanation": words[move.why]}


def _state_view(state: LotSnapshot) -> dict[str, Any]:
    """The lot as the bid met it, for the operator: bidders by id and alias."""
    data = snapshot_to_item(state)
    data["leader_alias"] = state.leader_name
    data.pop("sc", None)  # the item's short form of the soft-close rule, in words instead:
    return data | soft_close_rule(state)


def dispute_report(queries: LotQueries, bid_id: str) -> dict[str, Any]:
    receipt = queries.decided_bid(bid_id)
    lot_id, decided_version = receipt["lot_id"], int(receipt["version"])

    state_before: LotSnapshot | None = None
    deciding: LotEvent | None = None
    bids: list[LotEvent] = []
    extensions: list[dict[str, Any]] = []
    final: LotSnapshot | None = None
    aliases: dict[str, int] = {}  # bidder -> alias, from the events that gave them
    retraction: BidRetracted | None = None
    for event in queries.lot_events(lot_id):
        if isinstance(event, BidRetracted) and event.bid_id == bid_id:
            retraction = event
        if isinstance(event, BidPlaced) and event.alias is not None:
            aliases.setdefault(event.bidder, event.alias)
        if event.originator_version == decided_version:
            deciding = event
            state_before = final.model_copy(deep=True) if final is not None else None
        previous_close = final.closes_at if final is not None else None
        final = evolve(event, final)
        if isinstance(event, BidPlaced | BidRejected):
            bids.append(event)
        if previous_close is not None and final.closes_at != previous_close:
            extensions.append(
                {"version": event.originator_version, "from": format_time(previous_close), "to": format_time(final.closes_at)}
            )
    if deciding is None or state_before is None or final is None or getattr(deciding, "bid_id", None) != bid_id:
        raise BidNotFound(f"bid {bid_id!r}: its receipt names version {decided_version}, which is not its event")

    position = next(i for i, e in enumerate(bids) if e is deciding)
    chain = verify(queries, lot_id)
    reason = receipt.get("reason")
    return {
        "bid": {
            "bid_id": bid_id,
            "lot_id": lot_id,
            "bidder": receipt["bidder"],
            "bidder_alias": alias_name(aliases.get(receipt["bidder"])),
            "amount": receipt["amount"],
            "placed_at": receipt["placed_at"],
            "decided_at": receipt.get("decided_at"),
            "correlation_id": getattr(deciding, "correlation_id", None),
        },
        "outcome": {
            "status": receipt["status"],
            "reason": reason,
            "rule": BOUGHT_RULE if isinstance(deciding, BidPlaced) and deciding.outcome == BOUGHT else RULES.get(reason, reason),
            "explanation": explain(deciding, final.currency, aliases),
            "minimum": receipt.get("minimum"),
            "current_price": event_record(deciding)["data"].get("current_price", receipt.get("current_price")),
            "version": decided_version,
        },
        "retraction": None if retraction is None else retraction_view(retraction, final.currency),
        "lot_state_met": _state_view(state_before),
        "close_time_then": {
            "scheduled": format_time(state_before.scheduled_closes_at),
            "in_force": format_time(state_before.closes_at),
            "hard_close_at": format_time(state_before.hard_close_at) if state_before.hard_close_at else None,
            "rule": soft_close_rule(state_before),
            "extensions_before": [x for x in extensions if x["version"] < decided_version],
            "this_bid": close_effect(state_before, deciding),
        },
        "bids_before": [event_record(e) for e in bids[max(0, position - NEIGHBOURS) : position]],
        "deciding_event": event_record(deciding),
        "bids_after": [event_record(e) for e in bids[position + 1 : position + 1 + NEIGHBOURS]],
        "final_result": {
            "status": final.status,
            "outcome": final.outcome,
            "price": None if final.current_price is None else str(final.current_price),
            "leader": final.leader,
            "leader_alias": final.leader_name,
            "closes_at": format_time(final.closes_at),
            "version": final.version,
            "extensions": extensions,
        },
        "verification": {
            "chain_ok": chain.ok,
            "events_checked": chain.events,
            "first_bad_version": chain.first_bad_version,
            "problem": chain.problem,
            "head_hash": final.head_hash,
            "cited_versions": sorted(
                {decided_version, *(e.originator_version for e in bids[max(0, position - NEIGHBOURS) : position + 1 + NEIGHBOURS])}
            ),
        },
    }


def retraction_view(event: BidRetracted, currency: str) -> dict[str, Any]:
    """An accepted bid's retraction: by whom, why, when, and what the lot became (the
    standing its remaining bids gave, as the event recorded it)."""
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, currency))  # noqa: E731
    return {
        "version": event.originator_version,
        "recorded_at": format_time(event.timestamp),
        "retracted_by": event.retracted_by,
        "reason": event.reason,
        "lot_after": {
            "price": money(event.price),
            "leader": event.leader,
            "leader_alias": alias_name(event.leader_alias),
            "leader_maximum": money(event.leader_maximum),
            "leading_bid_id": event.leading_bid_id,
            "bid_count": event.bid_count,
            "reserve_met": event.reserve_met,
        },
        "rule": "an administrator withdrew the bid while the lot was open; the lot's standing was computed again "
        "from its remaining accepted bids (the proxy rule re-run over them in order); the close time stayed",
    }


def _rule_in_words(rule: dict[str, Any]) -> str:
    if rule["soft_close_window_s"] == 0 or rule["soft_close_extension_s"] == 0:
        return "none"
    moved = "added to the close" if rule["soft_close_mode"] == ADD_TO_END else "after the bid"
    trigger = "if it changes the leader" if rule["soft_close_trigger"] == LEADER_CHANGE else "if accepted"
    cap = "no cap but the hard close" if rule["max_extensions"] is None else f"at most {rule['max_extensions']} extensions"
    return (f"a bid in the last {rule['soft_close_window_s']} s, {trigger}, moves the close to "
            f"{rule['soft_close_extension_s']} s {moved}; {cap}")


def _retraction_lines(retraction: dict[str, Any] | None) -> list[str]:
    if retraction is None:
        return []
    after = retraction["lot_after"]
    leader = f"{after['leader']} ({after['leader_alias']})" if after["leader"] else "none"
    return [
        "## Retracted",
        "",
        f"**RETRACTED** by `{retraction['retracted_by']}` at {retraction['recorded_at']}, as event version "
        f"{retraction['version']}: {retraction['reason']}",
        "",
        f"The lot after it: price {after['price'] or '-'}, leader {leader}, leader's maximum {after['leader_maximum'] or '-'}, "
        f"{after['bid_count']} accepted bids standing, reserve {'met' if after['reserve_met'] else 'not met'}.",
        f"Rule: {retraction['rule']}.",
        "",
    ]


def dispute_markdown(report: dict[str, Any]) -> str:
    bid, outcome, then, final = report["bid"], report["outcome"], report["close_time_then"], report["final_result"]
    check = report["verification"]
    lines = [
        f"# Dispute report: bid `{bid['bid_id']}`",
        "",
        f"Lot `{bid['lot_id']}`; bidder `{bid['bidder']}` ({bid['bidder_alias'] or 'no accepted bid'}).",
        "",
        "## The bid as received",
        "",
        f"- amount: {bid['amount']}",
        f"- placed at: {bid['placed_at']} (the time the API received it)",
        f"- decided at: {bid['decided_at']}, as event version {outcome['version']}",
        "",
        "## Outcome",
        "",
        f"**{outcome['status']}**" + (f" — `{outcome['reason']}`" if outcome["reason"] else ""),
        "",
        f"Rule: {outcome['rule']}.",
        *([f"What it did: {outcome['explanation']}."] if outcome.get("explanation") else []),
        f"Minimum next bid then: {outcome['minimum']}; current price then: {outcome['current_price']}.",
        "",
        *_retraction_lines(report.get("retraction")),
        "## Close time then",
        "",
        f"- scheduled: {then['scheduled']}; in force: {then['in_force']}; hard close: {then['hard_close_at'] or 'none'}",
        f"- soft close: {_rule_in_words(then['rule'])}",
        f"- extensions before this bid: {len(then['extensions_before'])}",
        *[f"  - version {x['version']}: {x['from']} -> {x['to']}" for x in then["extensions_before"]],
        f"- this bid: {then['this_bid']['explanation']}",
        "",
        "## Bids around it",
        "",
        "| version | type | bidder | amount | placed at | reason |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for record in [*report["bids_before"], report["deciding_event"], *report["bids_after"]]:
        data = record["data"]
        marker = " (this bid)" if record["version"] == outcome["version"] else ""
        lines.append(
            f"| {record['version']}{marker} | {record['type']} | {data.get('bidder')} | {data.get('amount')} "
            f"| {data.get('placed_at')} | {data.get('reason') or ''} |"
        )
    lines += [
        "",
        "## Final result of the lot",
        "",
        f"- status {final['status']}, outcome {final['outcome'] or '-'}, price {final['price'] or '-'}, "
        f"leader {final['leader'] or '-'} ({final['leader_alias'] or '-'}), closes at {final['closes_at']}",
        "",
        "## Verification",
        "",
        f"- hash chain: {'intact' if check['chain_ok'] else 'BROKEN at version ' + str(check['first_bad_version']) + ': ' + str(check['problem'])}",
        f"- events checked: {check['events_checked']}; head hash `{check['head_hash']}`",
        f"- versions cited: {', '.join(map(str, check['cited_versions']))}",
        "",
    ]
    return "\n".join(lines)
