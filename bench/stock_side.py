"""Stock side of the ours-vs-stock benchmark: the fixed workload run on PyPI ``kademlia`` 2.2.3 servers.

All stock servers live in one asyncio subprocess driven through ``StockPeers`` (tests/stockpeer.py).  That
module is loaded by file path from the repository root computed from ``__file__`` (``tests/`` is
deliberately not a package), so this works from any working directory, both as ``python -m
bench.stock_side`` and ``python bench/stock_side.py``.

Workload (all randomness from ``random.Random(seed)``):
  1. start ``n`` stock servers (node ids derived from ``seed`` too);
  2. sequential joins: node 0 bootstraps from nothing, node i from ``min(i, 3)`` distinct earlier nodes;
  3. ``puts`` sets, one at a time, of random 16-byte hex keys with random 32-char values, each from a random
     node;
  4. ``gets`` gets of those keys (cycling through them), each from a random node different from the setter.
Latency, datagrams and bytes per op are measured inside the subprocess around the awaited operation.
"""

from __future__ import annotations

import importlib.util
import random
import string
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import per_op, summary

ROOT = Path(__file__).resolve().parent.parent


def load_stockpeer() -> ModuleType:
    """Import ``tests/stockpeer.py`` by path (shared with the tests under the module name ``stockpeer``)."""
    module = sys.modules.get("stockpeer")
    if module is None:
        spec = importlib.util.spec_from_file_location("stockpeer", ROOT / "tests" / "stockpeer.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["stockpeer"] = module
        spec.loader.exec_module(module)
    return module





def run_stock_workload(
    n: int, puts: int, gets: int, seed: int, python: str = sys.executable
) -> dict[str, Any]:
    """Run the benchmark workload on ``n`` stock servers and return its figures (see module docstring)."""
    if n < 2:
        raise ValueError("need at least 2 nodes (gets come from a node other than the setter)")
    stockpeer = load_stockpeer()
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    wall0 = time.perf_counter()
    with stockpeer.StockPeers.spawn(python=python) as peers:
        cpu0 = peers.stats()["cpu_seconds"]
        nodes = peers.start(n, seed=seed)
        addrs = [("127.0.0.1", node["port"]) for node in nodes]

        join_seconds: list[float] = []
        join_datagrams: list[int] = []
        for i in range(n):
            contacts = rng.sample(range(i), min(i, 3))
            reply = peers.request("bootstrap", index=i, addrs=[list(addrs[j]) for j in contacts])
            join_seconds.append(reply["seconds"])
            join_datagrams.append(reply["datagrams"])

        rpc_before_puts = peers.stats()["rpc_sent"]
        written: list[tuple[str, str, int]] = []
        put_seconds: list[float] = []
        put_datagrams: list[int] = []
        set_failures = 0
        for _ in range(puts):
            key = rng.randbytes(16).hex()
            value = "".join(rng.choice(alphabet) for _ in range(32))
            setter = rng.randrange(n)
            reply = peers.set_ex(setter, key, value)
            put_seconds.append(reply["seconds"])
            put_datagrams.append(reply["datagrams"])
            if not reply["result"]:
                set_failures += 1
            written.append((key, value, setter))

        rpc_before_gets = peers.stats()["rpc_sent"]
        get_seconds: list[float] = []
        get_datagrams: list[int] = []
        get_success = 0
        for g in range(gets if written else 0):
            key, value, setter = written[g % len(written)]
            getter = rng.randrange(n - 1)
            if getter >= setter:
                getter += 1  # uniform over the other n - 1 nodes
            reply = peers.get_ex(getter, key)
            get_seconds.append(reply["seconds"])
            get_datagrams.append(reply["datagrams"])
            if reply["found"] and reply["value"] == value:
                get_success += 1

        stats = peers.stats()
    rpc_after = stats["rpc_sent"]


    return {
        **summary(
            n,
            join_seconds=join_seconds,
            join_datagrams=join_datagrams,
            put_seconds=put_seconds,
            put_datagrams=put_datagrams,
            get_seconds=get_seconds,
            get_datagrams=get_datagrams,
            get_success=get_success,
            puts=puts,
            set_failures=set_failures,
        ),
        "cpu_seconds": stats["cpu_seconds"] - cpu0,
        "rpc_sent": rpc_after,
        "rpc_per_put": per_op(rpc_before_puts, rpc_before_gets, puts),
        "rpc_per_get": per_op(rpc_before_gets, rpc_after, len(get_seconds)),
        "task_errors": stats["task_errors"],
        "wall_seconds": time.perf_counter() - wall0,
    }


if __name__ == "__main__":
    import json

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    print(json.dumps(run_stock_workload(n=size, puts=100, gets=100, seed=1), indent=2))
