"""docs/CAPACITY.md's generated block is replaced in place, the hand-written text kept."""

from __future__ import annotations

import pytest

from samsold_bench.capacity.report import BEGIN, END, replace_generated


def test_only_the_generated_block_is_replaced():
    text = f"intro\n\n{BEGIN}\n\nold tables\n\n{END}\n\noutro\n"
    assert replace_generated(text, "new tables\n") == f"intro\n\n{BEGIN}\n\nnew tables\n\n{END}\n\noutro\n"


def test_a_document_without_the_block_is_refused():
    with pytest.raises(ValueError):
        replace_generated("no markers here", "tables")
