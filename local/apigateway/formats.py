"""Small pieces of API Gateway's wire format shared by the REST and WebSocket sides."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clf_time(moment: datetime) -> str:
    """`requestTime`: Common Log Format, "09/Apr/2015:12:34:56 +0000"."""
    utc = moment.astimezone(UTC)
    return f"{utc.day:02d}/{_MONTHS[utc.month - 1]}/{utc.year}:{utc:%H:%M:%S} +0000"


def random_id(size: int = 11) -> str:
    """An opaque id in the shape of API Gateway's (connection ids, extended request ids):
    base64 of random bytes, such as "L0SM9cOFvHcCIhw="."""
    return base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The `multiValue...` form: every value of a repeated name, in order."""
    result: dict[str, list[str]] = {}
    for key, value in pairs:
        result.setdefault(key, []).append(value)
    return result


def last_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The single-value form: API Gateway keeps the last value of a repeated name."""
    return {key: value for key, value in pairs}


def forwarded_headers(headers: list[tuple[str, str]], source_ip: str) -> list[tuple[str, str]]:
    """The request headers plus the X-Forwarded-* API Gateway adds before the integration."""
    host = next((value for key, value in reversed(headers) if key.lower() == "host"), "")
    port = host.rsplit(":", 1)[1] if ":" in host else "80"
    added = [("X-Forwarded-For", source_ip), ("X-Forwarded-Port", port), ("X-Forwarded-Proto", "http")]
    added_names = {name.lower() for name, _ in added}
    return [(key, value) for key, value in headers if key.lower() not in added_names] + added
