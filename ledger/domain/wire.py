"""The one strict JSON reader for everything that arrives from outside: REST bodies,
WebSocket messages and queue messages. A message is one JSON object in UTF-8, within
a size and a nesting limit, with no duplicate keys, no NaN or Infinity and no lone
surrogates; anything else is refused before a model sees it (the standard parser
would let the last duplicate key win, recurse until it crashes, and take `[...]`)."""

from __future__ import annotations

import json
from typing import Any

from ledger.domain.errors import LedgerError

MAX_MESSAGE_BYTES = 16 * 1024
MAX_DEPTH = 32  # objects and arrays inside one another; the deepest command needs 3


class MalformedJson(LedgerError):
    """Not one well-formed JSON object within the limits; nothing was read from it."""

    code = "MALFORMED_JSON"


def _refuse_constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not a JSON number", {"problem": "non_finite_number"})


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJson(f"the key {key[:64]!r} appears twice in one object", {"problem": "duplicate_key"})
        result[key] = value
    return result


def _has_lone_surrogate(text: str) -> bool:
    # Only a JSON escape such as "\ud800" can make one; it cannot be stored or sent on.
    return any("\ud800" <= char <= "\udfff" for char in text)


def _check_tree(document: Any, max_depth: int) -> None:
    """Depth and strings of a parsed document, walked without recursion."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                raise MalformedJson("strings must be valid Unicode (no lone surrogates)", {"problem": "lone_surrogate"})
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > max_depth:
            raise MalformedJson(f"JSON nested deeper than {max_depth} levels", {"problem": "too_deep", "max_depth": max_depth})
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children)


def parse_json_object(
    raw: bytes | str, *, max_bytes: int = MAX_MESSAGE_BYTES, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """The JSON object `raw` holds (bytes must be UTF-8), or MalformedJson saying why not."""
    text: str | None
    if isinstance(raw, str):
        size = len(raw.encode("utf-8", "surrogatepass"))
        text = raw
    else:
        size = len(raw)
        text = None
    if size > max_bytes:
        raise MalformedJson(f"the message is larger than {max_bytes} bytes", {"problem": "too_large", "max_bytes": max_bytes})
    if text is None:
        try:
            text = bytes(raw).decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as error:
            raise MalformedJson(f"the message is not UTF-8 (byte {error.start})", {"problem": "not_utf8"}) from None
    try:
        document = json.loads(text, object_pairs_hook=_object_without_duplicate_keys, parse_constant=_refuse_constant)
    except RecursionError:
        raise MalformedJson(f"JSON nested deeper than {max_depth} levels", {"problem": "too_deep", "max_depth": max_depth}) from None
    except json.JSONDecodeError as error:
        raise MalformedJson(f"not valid JSON: {error.msg} at character {error.pos}", {"problem": "invalid_json"}) from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise MalformedJson(f"not valid JSON: {str(error)[:100]}", {"problem": "invalid_json"}) from None
    if not isinstance(document, dict):
        raise MalformedJson("the message must be one JSON object {...}", {"problem": "not_an_object"})
    _check_tree(document, max_depth)
    return document
