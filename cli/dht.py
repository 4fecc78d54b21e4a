"""``p2p put`` and ``p2p get``: through the local node's control endpoint, or an ephemeral node."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import trio
import typer

from p2p.control import ControlClient
from p2p.node import Node, open_node
from p2p.transport.udp import resolve_address

from .common import (
    BootstrapOpt,
    DataDirOpt,
    JsonOpt,
    ValueType,
    check_addresses,
    control_client,
    emit_json,
    format_value,
    guard,
    json_value,
    parse_value,
)

T = TypeVar("T")

KeyArg = Annotated[
    str, typer.Argument(help="The record's key (a string; its id is sha1 of the UTF-8 bytes).")
]


async def _ephemeral(addrs: list[str], op: Callable[[Node], Awaitable[T]]) -> T:
    """Run an in-memory node on a free port, join through ``addrs``, run ``op``, leave."""
    resolved = [await resolve_address(a) for a in addrs]
    loopback = all(ipaddress.ip_address(ip).is_loopback for ip, _ in resolved)
    v6 = any(":" in ip for ip, _ in resolved)
    host = ("::1" if v6 else "127.0.0.1") if loopback else ("::" if v6 else "0.0.0.0")
    async with open_node(host=host, port=0) as node:
        await node.bootstrap(resolved)
        return await op(node)


def _via(data_dir: Any, bootstrap: list[str] | None) -> tuple[list[str], ControlClient | None]:
    addrs = check_addresses(bootstrap)
    return addrs, None if addrs else control_client(data_dir)


@guard
def put(
    key: KeyArg,
    value: Annotated[str, typer.Argument(help="The value, read according to --type.")],
    value_type: Annotated[
        ValueType,
        typer.Option(
            "--type", "-t", help="How to read VALUE: str, int, float, bool (true/false) or bytes-hex."
        ),
    ] = ValueType.STR,
    data_dir: DataDirOpt = None,
    bootstrap: BootstrapOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Store VALUE under KEY on the k nodes closest to sha1(KEY).

    Without --bootstrap this asks the node running with --data-dir; with --bootstrap it runs a short-lived node that joins through those addresses, stores, and exits. Prints "stored on N nodes", counting the nodes that acknowledged (plus the local node when it keeps a copy itself).
    """
    parsed = parse_value(value, value_type)
    addrs, client = _via(data_dir, bootstrap)
    if client is not None:
        result = client.put(key, parsed)
        holders = result["acks"] + (1 if result["stored_locally"] else 0)
        mode = "node"
    else:

        async def op(node: Node) -> dict[str, Any]:
            r = await node.put(key, parsed)
            # The ephemeral node's own copy disappears when it exits: count remote acknowledgements only.
            return {
                "acks": r.acks,
                "targets": r.targets,
                "stored_locally": False,
                "requests": r.requests,
                "seconds": round(r.seconds, 6),
            }

        result = trio.run(_ephemeral, addrs, op)
        holders = result["acks"]
        mode = "ephemeral"
    if json_out:
        emit_json({"key": key, **json_value(parsed), "stored_on": holders, "mode": mode, **result})
    else:
        print(f"stored on {holders} node{'' if holders == 1 else 's'}")
    if holders == 0:
        print("error: no node stored the record", file=sys.stderr)
        raise typer.Exit(1)


@guard
def get(
    key: KeyArg,
    data_dir: DataDirOpt = None,
    bootstrap: BootstrapOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Look KEY up and print its value (bytes as hex). Exit 1 with "not found: KEY" if no node has it.

    Without --bootstrap this asks the node running with --data-dir; with --bootstrap it runs a short-lived node that joins through those addresses, looks up, and exits.
    """
    addrs, client = _via(data_dir, bootstrap)
    if client is not None:
        result = client.get(key)
        mode = "node"
    else:

        async def op(node: Node) -> dict[str, Any]:
            r = await node.get(key)
            return {
                "found": r.found,
                "value": r.value,
                "hops": r.hops,
                "requests": r.requests,
                "seconds": round(r.seconds, 6),
            }

        result = trio.run(_ephemeral, addrs, op)
        mode = "ephemeral"
    found = bool(result["found"])
    if json_out:
        shown = json_value(result["value"]) if found else {"value": None, "value_type": None}
        emit_json(
            {
                "key": key,
                "found": found,
                **shown,
                "hops": result["hops"],
                "requests": result["requests"],
                "seconds": result["seconds"],
                "mode": mode,
            }
        )
    elif found:
        print(format_value(result["value"]))
    if not found:
        print(f"not found: {key}", file=sys.stderr)
        raise typer.Exit(1)
