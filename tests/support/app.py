"""The application for tests on the in-memory recorder (no DynamoDB, no Java), the way
Cosmic Python's `bootstrap_test_app` builds its own: the production wiring, with the
storage chosen by PERSISTENCE_MODULE and any part given as an argument."""

from __future__ import annotations

from typing import Any

from handlers.bootstrap import App, build

IN_MEMORY = {"PERSISTENCE_MODULE": "ledger.memory"}


def build_test_app(**overrides: Any) -> App:
    """`handlers.bootstrap.build` on a fresh in-memory recorder."""
    return build(IN_MEMORY, **overrides)
