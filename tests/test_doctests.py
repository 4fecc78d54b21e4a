"""The examples in the docstrings run and stay true (numpydoc Examples sections, seeded)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "p2p.ids",
    "p2p.sims.topology",
    "p2p.sims.churn",
    "p2p.sims.graphsim",
    "p2p.sims.searchgraph",
    "p2p.sims.scenarios",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
    if name.startswith("p2p.sims"):
        assert result.attempted > 0, f"{name} has no examples"
