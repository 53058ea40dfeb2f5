"""The local gateway's development sign-in: anyone may get a bidder's token, only this
machine an administrator's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from local.apigateway.rest import IncomingRequest
from local.cognito.user_pool import DevAuth
from samsold_cli.dev_site import _dev_token


def request(body: dict, source_ip: str) -> IncomingRequest:
    return IncomingRequest(
        method="POST", path="/dev/token", query=[], headers=[], body=json.dumps(body).encode(),
        source_ip=source_ip, received_at=datetime.now(UTC),
    )


def test_admin_tokens_only_for_this_machine(tmp_path):
    gateway = SimpleNamespace(auth=DevAuth(tmp_path))
    assert _dev_token(gateway, request({"user": "ada", "admin": True}, "127.0.0.1")).status == 200
    assert _dev_token(gateway, request({"user": "ada", "admin": True}, "10.1.2.3")).status == 403
    assert _dev_token(gateway, request({"user": "bob"}, "10.1.2.3")).status == 200
