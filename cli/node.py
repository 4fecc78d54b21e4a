"""``p2p node``: run a node in the foreground and talk to a running one."""

from __future__ import annotations

import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import trio
import typer

from p2p.errors import BootstrapFailed, P2PError
from p2p.node import Node, open_node
from p2p.persist import default_data_dir

from .common import (
    BootstrapOpt,
    DataDirOpt,
    JsonOpt,
    check_addresses,
    control_client,
    emit_json,
    guard,
    one_line,
)

app = typer.Typer(
    help="Run a node in the foreground (start) or ask the node of a data dir about itself (status).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Sync(StrEnum):
    NORMAL = "normal"
    FULL = "full"


def _say(json_out: bool, text: str, **event: Any) -> None:
    if json_out:
        emit_json(event)
    else:
        print(text, flush=True)


def _warn(json_out: bool, text: str) -> None:
    if json_out:
        emit_json({"event": "warning", "message": text})
    else:
        print(f"warning: {text}", file=sys.stderr, flush=True)


async def _join(node: Node, addrs: list[str], json_out: bool) -> None:
    """Bootstrap through ``addrs`` (or refresh from saved contacts); fatal only if the node knows nobody."""
    if addrs:
        try:
            result = await node.bootstrap(addrs)
        except P2PError as exc:
            if len(node.core.table) == 0:
                raise BootstrapFailed(f"bootstrap failed: {one_line(exc)}") from None
            _warn(
                json_out,
                f"bootstrap failed ({one_line(exc)}); continuing with {len(node.core.table)} saved contacts",
            )
            return
    elif len(node.core.table) > 0:
        try:
            result = await node.bootstrap([], contacts=node.core.contacts())
        except P2PError as exc:
            _warn(json_out, f"rejoining through saved contacts failed ({one_line(exc)}); waiting for peers")
            return
    else:
        return
    node.save_contacts()  # so a crash right after joining still restarts with a routing table
    _say(
        json_out,
        f"joined: {result.responded} bootstrap node(s) answered; {len(node.core.table)} contacts",
        event="joined",
        responded=result.responded,
        contacts=len(node.core.table),
        seconds=round(result.seconds, 3),
    )


async def _run(host: str, port: int, addrs: list[str], data_dir: Path, sync: str, json_out: bool) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(host=host, port=port, data_dir=data_dir, synchronous=sync) as node:
            st = node.status()
            _say(
                json_out,
                f"node {st['node_id']} listening on {st['address']} (data dir {st['data_dir']})",
                event="listening",
                node_id=st["node_id"],
                address=st["address"],
                data_dir=st["data_dir"],
                control=str(Path(st["data_dir"]) / "control.sock"),
                contacts=st["contacts"],
                records=st["records"],
            )
            async with trio.open_nursery() as nursery:

                async def stop_on_signal() -> None:
                    async for signum in signals:
                        _say(
                            json_out,
                            f"received {signal.Signals(signum).name}, stopping",
                            event="signal",
                            signal=signal.Signals(signum).name,
                        )
                        nursery.cancel_scope.cancel()
                        return

                nursery.start_soon(stop_on_signal)
                await _join(node, addrs, json_out)
                await trio.sleep_forever()
    _say(json_out, "node stopped", event="stopped")


@app.command()
@guard
def start(
    host: Annotated[
        str, typer.Option("--host", help="IP address or host name to bind the UDP socket to.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="UDP port (0: any free port).")
    ] = 4000,
    bootstrap: BootstrapOpt = None,
    data_dir: DataDirOpt = None,
    sync: Annotated[
        Sync,
        typer.Option("--sync", help="sqlite durability: normal survives a crash, full also a power failure."),
    ] = Sync.NORMAL,
    json_out: JsonOpt = False,
) -> None:
    """Run a node in the foreground until Ctrl-C or SIGTERM.

    Prints "node <id> listening on <ip:port> (data dir D)" first, then joins through --bootstrap (or rejoins through the contacts saved in the data dir). The node's identity, contacts and records persist in the data dir; `p2p put/get/node status --data-dir D` talk to it through D/control.sock.
    """
    addrs = check_addresses(bootstrap)
    directory = data_dir if data_dir is not None else default_data_dir()
    trio.run(_run, host, port, addrs, directory, sync.value, json_out)


def _status_text(st: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    stats = st.get("statistics", {})
    transport = st.get("transport", {})
    overview = Table(show_header=False, box=None, pad_edge=False)
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("node id", str(st.get("node_id")))
    overview.add_row("address", str(st.get("address")))
    overview.add_row("data dir", str(st.get("data_dir")))
    overview.add_row("uptime", f"{st.get('uptime', 0):.1f} s")
    overview.add_row("contacts", str(st.get("contacts")))
    overview.add_row("records", str(st.get("records")))
    console.print(overview)

    buckets = st.get("buckets", {})
    if buckets:
        table = Table(title="routing table", title_justify="left")
        table.add_column("bucket", justify="right")
        table.add_column("contacts", justify="right")
        for index, count in sorted(buckets.items(), key=lambda kv: int(kv[0])):
            table.add_row(str(index), str(count))
        console.print(table)

    counters = Table(title="counters", title_justify="left")
    counters.add_column("counter")
    counters.add_column("value", justify="right")
    rows = [
        ("datagrams sent", transport.get("datagrams_sent")),
        ("datagrams received", transport.get("datagrams_received")),
        ("requests sent", stats.get("requests_sent")),
        ("retransmissions", stats.get("retransmissions")),
        ("timeouts", stats.get("timeouts")),
        ("queries completed", stats.get("queries_completed")),
        ("queries failed", stats.get("queries_failed")),
        ("datagrams dropped", stats.get("dropped")),
    ]
    for name, value in rows:
        if value is not None:
            counters.add_row(name, str(value))
    console.print(counters)

    neighbours = st.get("neighbours")
    if neighbours is not None:
        table = Table(title=f"search overlay: {len(neighbours)} neighbours", title_justify="left")
        table.add_column("node id")
        table.add_column("address")
        for n in neighbours:
            table.add_row(str(n.get("node_id")), str(n.get("address")))
        console.print(table)
    search = st.get("search") or {}
    if search:
        table = Table(title=f"search counters ({st.get('items', 0)} items shared)", title_justify="left")
        table.add_column("counter")
        table.add_column("value", justify="right")
        for name, key in (
            ("queries seen", "queries_seen"),
            ("queries forwarded", "queries_forwarded"),
            ("duplicates dropped", "duplicates_dropped"),
            ("hits sent", "hits_sent"),
            ("hits received", "hits_received"),
            ("walkers forwarded", "walkers_forwarded"),
            ("rate limited", "rate_limited"),
            ("malformed (dropped)", None),
            ("seen cache entries", "seen_cache_entries"),
        ):
            value = (stats.get("drops") or {}).get("bad_query", 0) if key is None else search.get(key)
            if value is not None:
                table.add_row(name, str(value))
        console.print(table)


@app.command()
@guard
def status(data_dir: DataDirOpt = None, json_out: JsonOpt = False) -> None:
    """Show the running node of a data dir: id, address, contacts per bucket, records, counters, search neighbours and search counters."""
    st = control_client(data_dir).status()
    if json_out:
        emit_json(st)
    else:
        _status_text(st)


@app.command("bootstrap")
@guard
def bootstrap_cmd(
    addrs: Annotated[list[str], typer.Argument(metavar="HOST:PORT...", help="Nodes to join through.")],
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make the running node of a data dir join (again) through the given nodes."""
    result = control_client(data_dir).bootstrap(check_addresses(addrs))
    if json_out:
        emit_json(result)
    else:
        print(f"joined: {result['responded']} bootstrap node(s) answered; {result['contacts']} contacts")
