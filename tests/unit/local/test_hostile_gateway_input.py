"""Input the local gateway must answer as API Gateway does rather than fail on: a NUL in a
static file's path, a WebSocket frame nested deeper than the JSON parser recurses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from local.apigateway.gateway import _static
from local.apigateway.rest import IncomingRequest
from local.apigateway.websocket import _select_route


def get(path: str) -> IncomingRequest:
    return IncomingRequest("GET", path, [], [], b"", "127.0.0.1", datetime.now(UTC))


def test_a_nul_in_a_static_path_is_no_file_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>hi</p>")
    assert _static(tmp_path, get("/index.html\x00.js")) is None
    assert _static(tmp_path, get("/\x00")) is None
    served = _static(tmp_path, get("/index.html"))
    assert served is not None and served.status == 200


def test_a_frame_nested_too_deep_selects_no_route() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert _select_route("$request.body.action", deep) is None
    assert _select_route("$request.body.action", '{"action": ' + deep + "}") is None
    assert _select_route("$request.body.action", '{"action": "subscribe"}') == "subscribe"
