"""API Gateway's throttling on one machine: a token bucket per route, as a stage's settings
declare it. A bucket holds `burst` requests and refills at `rate` a second; a request that
finds it empty is refused (429) before the authorizer or the function runs.

REST: the stage's MethodSettings; the most specific setting for a route wins (its method and
resource, then any method of the resource, then the method anywhere, then "/*" "*"), and
each route has a bucket of its own, as each method of a stage has in API Gateway.
WebSocket: the stage's RouteSettings by route key, else DefaultRouteSettings.

(Eighteen lines of arithmetic, so no dependency: the rate limiters on PyPI count fixed
windows or logs rather than API Gateway's bucket of rate and burst.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence

from local.sam.model import Throttle


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

    def __init__(self, throttles: Mapping[Hashable, Throttle], clock: Callable[[], float] = time.monotonic) -> None:
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
