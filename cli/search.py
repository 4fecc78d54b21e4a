"""``p2p share``, ``p2p unshare``, ``p2p shared`` and ``p2p search``: unstructured search over the neighbour
overlay, through the local node's control endpoint (``search`` can also run an ephemeral node)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import trio
import typer

from p2p.control import ControlClient, search_json
from p2p.node import Node, item_from_file

from .common import (
    BootstrapOpt,
    DataDirOpt,
    JsonOpt,
    UsageProblem,
    check_addresses,
    client_data_dir,
    emit_json,
    guard,
)
from .dht import _ephemeral


class Strategy(StrEnum):
    FLOOD = "flood"
    WALK = "walk"
    RING = "ring"


def _client(data_dir: Path | None, timeout: float = 60.0) -> ControlClient:
    from p2p.control import SOCKET_NAME

    return ControlClient(client_data_dir(data_dir) / SOCKET_NAME, timeout=timeout)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


@guard
def share(
    path: Annotated[Path, typer.Argument(help="The file to share (its size and sha256 are computed here).")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name to share it under (default: the file name).")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A keyword for searches (repeat for several, at most 8).")
    ] = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Share a file through the node running with --data-dir: searches whose keywords all match its name or tags find it.

    Prints "shared NAME (SIZE, sha256 HASH)". The item persists in the node's data dir until `p2p unshare HASH`.
    """
    try:
        item = item_from_file(path, name=name, tags=tag or ())
    except Exception as exc:  # InvalidQuery: unreadable file, bad name or tags
        raise UsageProblem(str(exc)) from None
    result = _client(data_dir).share(
        item.path or str(path), name=item.name, tags=list(item.tags), hash=item.content_hash.hex(), size=item.size
    )
    if json_out:
        emit_json(result)
    else:
        print(f"shared {result['name']} ({_size(result['size'])}, sha256 {result['hash']})")


@guard
def unshare(
    content_hash: Annotated[str, typer.Argument(metavar="HASH", help="The item's sha256 (hex), as `p2p shared` shows.")],
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Stop sharing the item with sha256 HASH. Exit 1 if the node shares no such item."""
    text = content_hash.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise UsageProblem(f"a hash is 64 hexadecimal digits (sha256), not {content_hash!r}")
    result = _client(data_dir).unshare(text)
    if json_out:
        emit_json(result)
    else:
        print(f"unshared {result['name']} (sha256 {result['hash']})")


@guard
def shared(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """List the items the node running with --data-dir shares."""
    items = _client(data_dir).shared()
    if json_out:
        emit_json({"items": items})
        return
    if not items:
        print("no shared items")
        return
    for it in items:  # one line per item: hash, size, name, tags (grep- and cut-friendly)
        tags = f"  [{', '.join(it['tags'])}]" if it["tags"] else ""
        print(f"{it['hash']}  {_size(it['size']):>10}  {it['name']}{tags}")


@guard
def search(
    keywords: Annotated[str, typer.Argument(help='Keywords, e.g. "free software"; an item matches when all of them are tokens of its name or tags.')],
    strategy: Annotated[Strategy, typer.Option("--strategy", "-s", help="flood, walk (random walkers) or ring (expanding ring).")] = Strategy.FLOOD,
    ttl: Annotated[int | None, typer.Option("--ttl", min=1, max=255, help="Flood TTL or walker steps (clamped to the node's maximum).")] = None,
    walkers: Annotated[int | None, typer.Option("--walkers", "-k", min=1, max=255, help="Random walkers (walk only; default 16).")] = None,
    max_hits: Annotated[int | None, typer.Option("--max-hits", "-m", min=1, help="Stop after this many hits.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=300.0, help="Seconds to collect hits.")] = 5.0,
    direct: Annotated[bool, typer.Option("--direct", help="Holders answer this node directly instead of along the query's path.")] = False,
    data_dir: DataDirOpt = None,
    bootstrap: BootstrapOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search the neighbour overlay and print the hits: item, holder, hops and time to hit. Exit 1 if nothing was found.

    Without --bootstrap this asks the node running with --data-dir; with --bootstrap it runs a short-lived node that joins through those addresses, waits for neighbours, searches, and exits.
    """
    options: dict[str, Any] = {
        "strategy": strategy.value, "ttl": ttl, "walkers": walkers, "max_hits": max_hits, "timeout": timeout,
        "direct": direct or None,
    }
    addrs = check_addresses(bootstrap)
    if addrs:

        async def op(node: Node) -> dict[str, Any]:
            await node.wait_neighbours(1, timeout=5.0)
            kw = {k: v for k, v in options.items() if v is not None}
            return search_json(await node.search(keywords, **kw))

        result = trio.run(_ephemeral, addrs, op)
    else:
        result = _client(data_dir, timeout=timeout + 30).search(keywords, **options)
    hits = result["hits"]
    if json_out:
        emit_json(result)
    elif hits:
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=f"{len(hits)} hit{'' if len(hits) == 1 else 's'} ({result['strategy']}, ttl {result['ttl']}, "
            f"{result['seconds']:.2f} s)",
            title_justify="left",
        )
        for col in ("item", "size", "holder", "hops", "time"):
            table.add_column(col, justify="right" if col in ("size", "hops", "time") else "left", overflow="fold")
        for h in hits:
            table.add_row(h["name"], _size(h["size"]), f"{h['holder']['address']} ({h['holder']['node_id'][:8]})",
                          str(h["hops"]), f"{h['seconds'] * 1000:.0f} ms")
        Console(highlight=False).print(table)
    if not hits:
        print(f"no hits for: {keywords}", file=sys.stderr)
        raise typer.Exit(1)
