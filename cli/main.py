"""The ``p2p`` command: a typer app with one module per command group.

``p2p node start|status|bootstrap`` (cli/node.py), ``p2p put|get`` (cli/dht.py), ``p2p share|unshare|shared|search``
(cli/search.py), ``p2p demo`` (cli/demo.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

import p2p

from . import demo, dht, node, search, sim

app = typer.Typer(
    name="p2p",
    help=(
        "Peer-to-peer overlay toolkit: run a Kademlia DHT node (wire-compatible with PyPI kademlia 2.2.3), "
        "store and fetch records, share files and search for them by keyword over a neighbour overlay, and try it all "
        "locally with 'p2p demo'."
    ),
    epilog="Every command takes --json. Exit codes: 0 ok, 1 runtime error, 2 usage error. See docs/cli.md.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"p2p {p2p.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Peer-to-peer overlay toolkit."""


app.add_typer(node.app, name="node")
app.command("put")(dht.put)
app.command("get")(dht.get)
app.command("share")(search.share)
app.command("unshare")(search.unshare)
app.command("shared")(search.shared)
app.command("search")(search.search)
app.command("demo")(demo.demo)
app.add_typer(sim.app, name="sim")

if __name__ == "__main__":  # pragma: no cover
    app()
