"""API Gateway's throttling on one machine: a token bucket per route, as a stage's settings
declare it. A bucket holds `burst` requests and refills at `rate` a second; a request that
finds it empty is refused (429) before the authorizer or the function runs.

REST: the stage's MethodSettings; the most specific setting for a route wins (its method and
resource, then any method of the resource, then the method anywhere, then "/*" "*"), and
each route has a bucket of its own, as each method of a stage has in API Gateway.
WebSocket: the stage's RouteSettings by route key, else DefaultRouteSettings.

In front of both, when the template associates a WAF web ACL with the REST API: its
rate-based rules (`RateRules`), counted per client address or per a header's value over
the rule's window; a key past its limit is blocked with the rule's response while its rate
stays above it (every request counts, blocked ones too, as WAF counts them).

(Eighteen lines of arithmetic, so no dependency: the rate limiters on PyPI count fixed
windows or logs rather than API Gateway's bucket of rate and burst.)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from local.sam.model import RateRule, Throttle


class TokenBucket:
    def __init__(self, throttle: Throttle, clock: Callable[[], float]) -> None:
        self.throttle = throttle
        self.clock = clock
        self.tokens = float(throttle.burst)
        self.at = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.throttle.burst), self.tokens + (now - self.at) * self.throttle.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Throttling:
    """Buckets by route, made on a route's first request; thread-safe."""

    def __init__(self, throttles: Mapping[Any, Throttle], clock: Callable[[], float] = time.monotonic) -> None:
        self.throttles = dict(throttles)
        self.clock = clock
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._lock = threading.Lock()

    def admits(self, route: Hashable, settings: Sequence[Hashable]) -> bool:
        """Whether `route` may take one more request now, throttled by the first of the
        `settings` keys the stage sets (none: not throttled)."""
        throttle = next((self.throttles[key] for key in settings if key in self.throttles), None)
        if throttle is None:
            return True
        with self._lock:
            bucket = self._buckets.get(route)
            if bucket is None:
                bucket = self._buckets[route] = TokenBucket(throttle, self.clock)
            return bucket.take()

    def admits_rest(self, method: str, path: str) -> bool:
        return self.admits((method, path), [(method, path), ("*", path), (method, "/*"), ("*", "/*")])

    def admits_websocket(self, route_key: str) -> bool:
        return self.admits(route_key, [route_key, "*"])


class RateRules:
    """A web ACL's rate-based rules in their priority order; thread-safe."""

    def __init__(self, rules: Sequence[RateRule], clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = list(rules)
        self.clock = clock
        self._seen: dict[tuple[int, str], deque[float]] = {}
        self._lock = threading.Lock()

    def blocking(self, source_ip: str, header: Callable[[str], str | None]) -> RateRule | None:
        """The first rule that blocks this request, counting it under each rule's key."""
        now = self.clock()
        blocked = None
        with self._lock:
            for index, rule in enumerate(self.rules):
                key = source_ip if rule.header is None else header(rule.header)
                if key is None:
                    continue  # a request without the header is not counted by that rule
                seen = self._seen.setdefault((index, key), deque())
                while seen and seen[0] <= now - rule.window_s:
                    seen.popleft()
                seen.append(now)
                if blocked is None and len(seen) > rule.limit:
                    blocked = rule
        return blocked
