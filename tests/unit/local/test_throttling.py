"""API Gateway's throttling as the local gateway applies it: a token bucket of rate and
burst per route, the most specific of the stage's settings, read from the template."""

from __future__ import annotations

from pathlib import Path

from local.apigateway.throttling import Throttling
from local.sam.model import LocalEndpoints, Throttle
from local.sam.template import SamTemplate

REPO = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_takes_its_burst_at_once_then_its_rate() -> None:
    clock = Clock()
    throttling = Throttling({("*", "/*"): Throttle(rate=2, burst=3)}, clock)
    assert [throttling.admits_rest("GET", "/lots") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one request's worth at 2 a second
    assert [throttling.admits_rest("GET", "/lots") for _ in range(2)] == [True, False]
    clock.now += 60  # refilled to the burst, not beyond
    assert sum(throttling.admits_rest("GET", "/lots") for _ in range(10)) == 3


def test_each_route_has_its_own_bucket_and_the_most_specific_setting() -> None:
    clock = Clock()
    throttling = Throttling({("*", "/*"): Throttle(rate=1, burst=1), ("POST", "/bid"): Throttle(rate=1, burst=5)}, clock)
    assert throttling.admits_rest("POST", "/lots")
    assert not throttling.admits_rest("POST", "/lots")
    assert sum(throttling.admits_rest("POST", "/bid") for _ in range(10)) == 5  # a flood of lots takes none of it
    assert throttling.admits_rest("GET", "/lots")
    assert Throttling({}).admits_rest("GET", "/lots")  # no setting: not throttled


def test_websocket_routes_take_their_own_setting_else_the_default() -> None:
    throttling = Throttling({"*": Throttle(rate=1, burst=2), "$connect": Throttle(rate=1, burst=1)}, Clock())
    assert [throttling.admits_websocket("$connect") for _ in range(2)] == [True, False]
    assert [throttling.admits_websocket("subscribe") for _ in range(3)] == [True, True, False]


def test_the_templates_throttling_reaches_the_local_gateway() -> None:
    app = SamTemplate.load(REPO / "template.yaml", {"BidThrottlingRateLimit": "7"}).resolve(
        LocalEndpoints.placeholder("us-east-1", "000000000000"))
    assert app.rest_throttles[("*", "/*")] == Throttle(rate=50, burst=100)
    assert app.rest_throttles[("POST", "/bid")] == Throttle(rate=7, burst=2500)
    assert app.rest_throttles[("POST", "/lots/{lot_id}/buy")] == Throttle(rate=7, burst=2500)
    assert app.rest_throttles[("POST", "/lots")] == Throttle(rate=10, burst=20)
    assert app.websocket is not None
    assert app.websocket.throttles == {"*": Throttle(rate=100, burst=200), "$connect": Throttle(rate=20, burst=50)}
    throttled = app.gateway_responses["THROTTLED"]
    assert (throttled.status, throttled.headers["Retry-After"]) == (429, "1")


def test_the_waf_is_an_optional_part_of_the_template() -> None:
    def rules(overrides: dict[str, str]) -> int:
        template = SamTemplate.load(REPO / "template.yaml", overrides)
        return len(template.resolve(LocalEndpoints.placeholder("us-east-1", "000000000000")).rate_rules)

    assert rules({}) == 0
    assert rules({"WafRateLimitPerIp": "300"}) == 2


def test_a_web_acls_rate_rules_block_a_key_past_its_limit_in_the_window() -> None:
    from local.apigateway.throttling import RateRules
    from local.sam.model import RateRule

    clock = Clock()
    per_ip = RateRule("RatePerIp", limit=5, window_s=60, header=None, status=429)
    per_token = RateRule("RatePerToken", limit=2, window_s=60, header="authorization", status=429)
    rules = RateRules([per_ip, per_token], clock)
    mallory = {"authorization": "Bearer mallory"}.get
    alice = {"authorization": "Bearer alice"}.get
    assert [rules.blocking("10.0.0.1", mallory) for _ in range(3)] == [None, None, per_token]
    assert rules.blocking("10.0.0.1", alice) is None  # another token from the same address
    assert rules.blocking("10.0.0.1", {}.get) is None  # the address's fifth request
    assert rules.blocking("10.0.0.1", {}.get) is per_ip  # its sixth
    assert rules.blocking("10.0.0.2", {}.get) is None
    clock.now += 61  # the window has passed
    assert rules.blocking("10.0.0.1", mallory) is None


def test_the_optional_waf_reaches_the_local_gateway_as_its_rate_rules() -> None:
    app = SamTemplate.load(REPO / "template.yaml", {"WafRateLimitPerIp": "300", "WafRateLimitPerUser": "120"}).resolve(
        LocalEndpoints.placeholder("us-east-1", "000000000000"))
    assert [(r.name, r.limit, r.window_s, r.header, r.status, r.headers) for r in app.rate_rules] == [
        ("RatePerIp", 300, 60, None, 429, {"Retry-After": "60"}),
        ("RatePerToken", 120, 60, "authorization", 429, {"Retry-After": "60"}),
    ]
    assert '"code": "THROTTLED"' in app.rate_rules[0].body
