"""The dispute report on one bid: everything needed to answer "why did I lose?" with
proof, taken from the stored events and checked against their hash chain, and where the
public log has the bid's event (the signed checkpoint covering it and its inclusion proof)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.domain import rules
from ledger.domain.bidder_records import records_from
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
from ledger.service.public_log import PublicLog
from ledger.service.queries import LotQueries
from ledger.snapshot_item import snapshot_to_item
from projections.audit import VerifyReport, verify
from projections.history import event_record
from projections.views import lot_summary

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
    "BIDDER_BLOCKED": "rejected: the auction house had blocked the bidder, or suspended their registration for the sale",
    "NOT_REGISTERED": "rejected: the lot's sale needs a registration its seller approved, and the bidder had none "
    "(or it had been declined)",
    "REGISTRATION_PENDING": "rejected: the bidder's registration for the sale was still waiting for approval",
    "LIMIT_EXCEEDED": "rejected: the bid would have taken the bidder's exposure in the sale (their maxima on the lots "
    "they lead plus the prices of the lots they won) past the limit of their registration",
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


@dataclass
class _Walk:
    """One pass over the lot's events for a report on one bid."""

    receipt: dict[str, Any]
    decided_version: int
    state_before: LotSnapshot
    deciding: LotEvent
    final: LotSnapshot
    bids: list[LotEvent]  # every BidPlaced and BidRejected, in order
    extensions: list[dict[str, Any]]
    aliases: dict[str, int]  # bidder -> alias, from the events that gave them
    retraction: BidRetracted | None
    events: list[LotEvent]


def _walk(queries: LotQueries, bid_id: str) -> _Walk:
    receipt = queries.decided_bid(bid_id)
    lot_id, decided_version = receipt["lot_id"], int(receipt["version"])
    state_before: LotSnapshot | None = None
    deciding: LotEvent | None = None
    bids: list[LotEvent] = []
    extensions: list[dict[str, Any]] = []
    final: LotSnapshot | None = None
    aliases: dict[str, int] = {}
    retraction: BidRetracted | None = None
    events = list(queries.lot_events(lot_id))
    for event in events:
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
    return _Walk(receipt, decided_version, state_before, deciding, final, bids, extensions, aliases, retraction, events)


def dispute_report(queries: LotQueries, bid_id: str, auditor: bool = False, log: PublicLog | None = None) -> dict[str, Any]:
    """The report on one bid for the person who asked: by default the bidder's (`bidder_report`,
    safe to send them), with `auditor` the auditor's (`auditor_report`: everything, ids included).
    With the public log, each cites the checkpoint covering the bid's event and carries its proof."""
    return auditor_report(queries, bid_id, log) if auditor else bidder_report(queries, bid_id, log)


def _public_log(log: PublicLog | None, walk: _Walk) -> dict[str, Any] | None:
    """The bid's event in the public log (`PublicLog.event_citation`: public data, the same in both reports)."""
    if log is None:
        return None
    return log.event_citation(walk.receipt["lot_id"], walk.decided_version, walk.deciding.timestamp)


def _close_time_then(walk: _Walk) -> dict[str, Any]:
    before = walk.state_before
    return {
        "scheduled": format_time(before.scheduled_closes_at),
        "in_force": format_time(before.closes_at),
        "hard_close_at": format_time(before.hard_close_at) if before.hard_close_at else None,
        "rule": soft_close_rule(before),
        "extensions_before": [x for x in walk.extensions if x["version"] < walk.decided_version],
        "this_bid": close_effect(before, walk.deciding),
    }


def _rule_of(walk: _Walk) -> str | None:
    deciding, reason = walk.deciding, walk.receipt.get("reason")
    return BOUGHT_RULE if isinstance(deciding, BidPlaced) and deciding.outcome == BOUGHT else RULES.get(reason, reason)


def _verification(walk: _Walk, cited: list[LotEvent], chain: VerifyReport) -> dict[str, Any]:
    return {
        "chain_ok": chain.ok,
        "events_checked": chain.events,
        "first_bad_version": chain.first_bad_version,
        "head_hash": walk.final.head_hash,
        "cited_versions": sorted({walk.decided_version, *(e.originator_version for e in cited)}),
    }


def auditor_report(queries: LotQueries, bid_id: str, log: PublicLog | None = None) -> dict[str, Any]:
    """Everything about the bid and the lot it met, bidders by id and alias, maxima and the
    hidden reserve included: for administrators and auditors, never for a bidder."""
    walk = _walk(queries, bid_id)
    receipt, deciding, final, bids = walk.receipt, walk.deciding, walk.final, walk.bids
    position = next(i for i, e in enumerate(bids) if e is deciding)
    around = bids[max(0, position - NEIGHBOURS) : position + 1 + NEIGHBOURS]
    chain = verify(queries, receipt["lot_id"])
    return {
        "audience": "auditor",
        "bid": {
            "bid_id": bid_id,
            "lot_id": receipt["lot_id"],
            "bidder": receipt["bidder"],
            "bidder_alias": alias_name(walk.aliases.get(receipt["bidder"])),
            "amount": receipt["amount"],
            "placed_at": receipt["placed_at"],
            "decided_at": receipt.get("decided_at"),
            "correlation_id": getattr(deciding, "correlation_id", None),
            # The version of the bidder's registration that admitted (or refused) it, on a lot that needs one.
            "registration_version": getattr(deciding, "registration_version", None),
        },
        "outcome": {
            "status": receipt["status"],
            "reason": receipt.get("reason"),
            "rule": _rule_of(walk),
            "explanation": explain(deciding, final.currency, walk.aliases),
            "minimum": receipt.get("minimum"),
            "current_price": event_record(deciding)["data"].get("current_price", receipt.get("current_price")),
            "version": walk.decided_version,
        },
        "retraction": None if walk.retraction is None else retraction_view(walk.retraction, final.currency),
        "lot_state_met": _state_view(walk.state_before),
        "close_time_then": _close_time_then(walk),
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
            "extensions": walk.extensions,
        },
        "verification": _verification(walk, around, chain) | {"problem": chain.problem},
        "public_log": _public_log(log, walk),
    }


def bidder_report(queries: LotQueries, bid_id: str, log: PublicLog | None = None) -> dict[str, Any]:
    """The report to send the bidder who placed the bid: the lot as the public saw it
    (aliases, public prices, whether the reserve was met, never the reserve), their own bids
    with their maxima, and other bidders' accepted bids only as the public bid history shows
    them (the price after each); other bidders' maxima, raises and rejected bids never, not
    even after the close; no user ids but theirs."""
    walk = _walk(queries, bid_id)
    receipt, deciding, final = walk.receipt, walk.deciding, walk.final
    bidder, currency = receipt["bidder"], final.currency
    # What this bidder may see: all their own bids, and others' accepted bids but raises.
    seen = [e for e in walk.bids if e.bidder == bidder or (isinstance(e, BidPlaced) and e.outcome != RAISED)]  # type: ignore[attr-defined]
    position = next(i for i, e in enumerate(seen) if e is deciding)
    chain = verify(queries, receipt["lot_id"])
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, currency))  # noqa: E731
    own = [e for e in walk.events if getattr(e, "bidder", None) == bidder]
    record = next((r for r in records_from(own, currency) if r["bidder"] == bidder), {})
    leading = final.leader == bidder
    return {
        "audience": "bidder",
        "bid": {
            "bid_id": bid_id,
            "lot_id": receipt["lot_id"],
            "bidder": bidder,
            "bidder_alias": alias_name(walk.aliases.get(bidder)),
            "amount": receipt["amount"],  # their maximum: theirs to see
            "placed_at": receipt["placed_at"],
            "decided_at": receipt.get("decided_at"),
            # Their registration's version that admitted (or refused) it, on a lot that needs one.
            "registration_version": getattr(deciding, "registration_version", None),
        },
        "outcome": {
            "status": receipt["status"],
            "reason": receipt.get("reason"),
            "rule": _rule_of(walk),
            "explanation": explain_to_bidder(deciding, currency),
            "minimum": receipt.get("minimum"),
            "current_price": money(walk.state_before.current_price),
            "version": walk.decided_version,
        },
        "retraction": None if walk.retraction is None else _public_retraction(walk.retraction, currency),
        "lot_state_met": _public_state(walk.state_before, walk.deciding),
        "close_time_then": _close_time_then(walk),
        "bids_around": [_public_bid(e, bidder, currency) for e in seen[max(0, position - NEIGHBOURS) : position + 1 + NEIGHBOURS]],
        "final_result": {
            "status": final.status,
            "outcome": final.outcome,
            "price": money(final.current_price),
            "leader_alias": final.leader_name,
            "you_lead": leading,
            "reserve_met": rules.reserve_met(final),
            "your_maximum": money(final.leader_maximum) if leading else record.get("maximum"),
            "closes_at": format_time(final.closes_at),
            "version": final.version,
            "extensions": walk.extensions,
        },
        "verification": _verification(walk, seen[max(0, position - NEIGHBOURS) : position + 1 + NEIGHBOURS], chain),
        "public_log": _public_log(log, walk),
    }


def explain_to_bidder(event: LotEvent, currency: str) -> str | None:
    """`explain`, without the leader's maximum: the bidder learns what the public price says."""
    if isinstance(event, BidPlaced) and event.outcome == OUTBID:
        money = lambda amount: format_decimal(to_currency(amount, currency))  # noqa: E731
        return (f"your maximum {money(event.amount)} was not above the leader's maximum (or equal to it and placed "
                f"later), so the leader's maximum answered it automatically and the price moved to {money(event.price_after)}")
    return explain(event, currency, {})


def _public_state(state: LotSnapshot, deciding: LotEvent) -> dict[str, Any]:
    """The lot as the bid met it, as its public page showed it then."""
    summary = lot_summary(state, getattr(deciding, "placed_at", state.updated_at)).model_dump(mode="json")
    return summary | {"leader_alias": state.leader_name}


def _public_bid(event: LotEvent, bidder: str, currency: str) -> dict[str, Any]:
    """A bid as this bidder may see it: their own with its amount (their maximum) and reason;
    another's as the public history shows it (its alias and the price after it)."""
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, currency))  # noqa: E731
    yours = event.bidder == bidder  # type: ignore[attr-defined]
    row: dict[str, Any] = {
        "version": event.originator_version,
        "bidder": "you" if yours else alias_name(getattr(event, "alias", None)),
        "placed_at": format_time(event.placed_at),  # type: ignore[attr-defined]
        "status": "ACCEPTED" if isinstance(event, BidPlaced) else "REJECTED",
        "reason": getattr(event, "reason", None),
        "price_after": money(event.price_after) if isinstance(event, BidPlaced) else None,
        "automatic": isinstance(event, BidPlaced) and event.outcome == OUTBID,
    }
    if yours:
        row["your_maximum"] = event.amount if isinstance(event, BidRejected) else money(event.amount)  # type: ignore[attr-defined]
    return row


def _public_retraction(event: BidRetracted, currency: str) -> dict[str, Any]:
    """The retraction of the bidder's own bid: when, why, and the lot after it as the public saw it."""
    money = lambda amount: None if amount is None else format_decimal(to_currency(amount, currency))  # noqa: E731
    return {
        "version": event.originator_version,
        "recorded_at": format_time(event.timestamp),
        "reason": event.reason,
        "lot_after": {"price": money(event.price), "leader_alias": alias_name(event.leader_alias),
                      "bid_count": event.bid_count, "reserve_met": event.reserve_met},
        "rule": "an administrator withdrew the bid while the lot was open; the lot's standing was computed again "
        "from its remaining accepted bids; the close time stayed",
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
    """The report as Markdown, the bidder's or the auditor's as it is."""
    return auditor_markdown(report) if report.get("audience", "auditor") == "auditor" else bidder_markdown(report)


def _close_lines(then: dict[str, Any]) -> list[str]:
    return [
        "## Close time then",
        "",
        f"- scheduled: {then['scheduled']}; in force: {then['in_force']}; hard close: {then['hard_close_at'] or 'none'}",
        f"- soft close: {_rule_in_words(then['rule'])}",
        f"- extensions before this bid: {len(then['extensions_before'])}",
        *[f"  - version {x['version']}: {x['from']} -> {x['to']}" for x in then["extensions_before"]],
        f"- this bid: {then['this_bid']['explanation']}",
        "",
    ]


def _received_lines(title: str, amount: str, bid: dict[str, Any], outcome: dict[str, Any]) -> list[str]:
    return [
        f"## {title}",
        "",
        f"- {amount}: {bid['amount']}",
        f"- placed at: {bid['placed_at']} (the time the API received it)",
        f"- decided at: {bid['decided_at']}, as event version {outcome['version']}",
        "",
        "## Outcome",
        "",
        f"**{outcome['status']}**" + (f" — `{outcome['reason']}`" if outcome["reason"] else ""),
        "",
        f"Rule: {outcome['rule']}.",
        *([f"What it did: {outcome['explanation']}."] if outcome.get("explanation") else []),
        f"Minimum next bid then: {outcome['minimum'] or '-'}; current price then: {outcome['current_price'] or '-'}.",
        "",
    ]


def _verification_lines(check: dict[str, Any]) -> list[str]:
    broken = f"BROKEN at version {check['first_bad_version']}"
    if check.get("problem"):
        broken += f": {check['problem']}"
    return [
        "## Verification",
        "",
        f"- hash chain: {'intact' if check['chain_ok'] else broken}",
        f"- events checked: {check['events_checked']}; head hash `{check['head_hash']}`",
        f"- versions cited: {', '.join(map(str, check['cited_versions']))}",
        "",
    ]


def _public_log_lines(cited: dict[str, Any] | None) -> list[str]:
    """Where the public log has the bid's event, with what a third party needs to check it (docs/PROOFS.md)."""
    lines = ["## Public log", ""]
    if cited is None:
        return [*lines, "Not asked: this report was made without the public log.", ""]
    event = f"Event version {cited['version']} of lot `{cited['lot_id']}` (hash `{cited['hash']}`)"
    if cited["status"] == "NOT_YET_IN_LOG":
        late = (" It is overdue: the log's sequencer is behind (LogSequencerFunction)." if cited["overdue"] else "")
        return [*lines, f"{event} is not in the public log yet. Events enter it within a minute of being written and a "
                f"signed checkpoint covers them within the next: by {cited['expected_by']}.{late}", ""]
    checkpoint = cited["checkpoint"]
    signed = f"signed at {checkpoint['published_at']}" if checkpoint["published_at"] else "time of signing not recorded"
    held = ("is leaf {index} of the public log `{origin}`, under its checkpoint of size {size} ({signed}): its inclusion "
            "proof below leads from the leaf `samsold/event/v1 {lot} {version} {hash}` to that checkpoint's root."
            if cited["status"] == "IN_LOG" else
            "is NOT the event the public log `{origin}` holds at leaf {index} under its checkpoint of size {size} "
            "({signed}): the stored event differs from the one logged.")
    return [
        *lines,
        event + " " + held.format(index=cited["log_index"], origin=checkpoint["origin"], size=checkpoint["size"],
                                  signed=signed, lot=cited["lot_id"], version=cited["version"], hash=cited["hash"]),
        "",
        "The checkpoint, verbatim (check it with the log's key, `GET /log/key`):",
        "",
        "```",
        checkpoint["note"].rstrip("\n"),
        "```",
        "",
        f"Inclusion proof (RFC 9162, base64, leaf side first; index {cited['log_index']}, tree size {checkpoint['size']}):",
        "",
        *[f"- `{step}`" for step in cited["inclusion"]],
        "",
        f"The whole lot's proof under it: `GET /lots/{cited['lot_id']}/proof?size={checkpoint['size']}`.",
        "",
    ]


def bidder_markdown(report: dict[str, Any]) -> str:
    """The bidder's report as Markdown: safe to send them."""
    bid, outcome, final = report["bid"], report["outcome"], report["final_result"]
    retraction = report.get("retraction")
    lines = [
        f"# Your bid `{bid['bid_id']}` on lot `{bid['lot_id']}`",
        "",
        f"You bid as {bid['bidder_alias'] or 'a bidder with no accepted bid'}. Other bidders appear by alias; "
        "their maximum bids stay private, as the auction's rules say.",
        "",
        *_received_lines("Your bid as received", "your maximum", bid, outcome),
        *([
            "## Retracted",
            "",
            f"**RETRACTED** by an administrator at {retraction['recorded_at']}: {retraction['reason']}. "
            f"The lot after it: price {retraction['lot_after']['price'] or '-'}, "
            f"leader {retraction['lot_after']['leader_alias'] or '-'}.",
            "",
        ] if retraction else []),
        *_close_lines(report["close_time_then"]),
        "## Bids around it",
        "",
        "| version | bidder | what | price after | placed at |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in report["bids_around"]:
        marker = " (this bid)" if row["version"] == outcome["version"] else ""
        if row["status"] == "REJECTED":
            what = f"your maximum {row['your_maximum']}, rejected {row['reason']}"
        elif "your_maximum" in row:
            what = f"your maximum {row['your_maximum']}" + (", answered automatically by the leader" if row["automatic"] else "")
        else:
            what = "a bid, answered automatically by the leader" if row["automatic"] else "a bid that took the lead"
        lines.append(f"| {row['version']}{marker} | {row['bidder']} | {what} | {row['price_after'] or '-'} | {row['placed_at']} |")
    reserve = "" if final["reserve_met"] else ", reserve not met"
    lines += [
        "",
        "## Result of the lot",
        "",
        f"- status {final['status']}, outcome {final['outcome'] or '-'}, price {final['price'] or '-'}{reserve}, "
        f"leader {'you' if final['you_lead'] else final['leader_alias'] or '-'}, closes at {final['closes_at']}",
        f"- your maximum: {final['your_maximum'] or '-'}",
        "",
        *_verification_lines(report["verification"]),
        *_public_log_lines(report.get("public_log")),
    ]
    return "\n".join(lines)


def auditor_markdown(report: dict[str, Any]) -> str:
    """The auditor's report as Markdown: user ids and maxima included; not for bidders."""
    bid, outcome, then, final = report["bid"], report["outcome"], report["close_time_then"], report["final_result"]
    check = report["verification"]
    lines = [
        f"# Dispute report for auditors: bid `{bid['bid_id']}`",
        "",
        "Not for bidders: it names every bidder and their maximum bids (send a bidder `samsold dispute` without --auditor).",
        "",
        f"Lot `{bid['lot_id']}`; bidder `{bid['bidder']}` ({bid['bidder_alias'] or 'no accepted bid'}).",
        "",
        *_received_lines("The bid as received", "amount", bid, outcome),
        *_retraction_lines(report.get("retraction")),
        *_close_lines(then),
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
        *_verification_lines(check),
        *_public_log_lines(report.get("public_log")),
    ]
    return "\n".join(lines)
