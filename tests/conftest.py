"""Shared test setup: ``tests/`` is not a package, so put it on ``sys.path`` once; helpers that live here
(``tests/stockpeer.py``, the stock-kademlia harness) then import as ``import stockpeer`` under any pytest
import mode."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
