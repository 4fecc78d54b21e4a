"""The ``p2p`` command: a typer app with one module per command group.

``p2p node start|status|bootstrap`` (cli/node.py), ``p2p put|get`` (cli/dht.py), ``p2p share|unshare|shared|search``
(cli/search.py), ``p2p demo`` (cli/demo.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

import p2p

from . import demo, dht, node, search, sim
from .common import one_line

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



def main(argv: Sequence[str] | None = None) -> int:
    """The ``p2p`` console script: run :data:`app` with click's own usage errors as one line.

    Typer renders a bad option value or an unknown command as a multi-line box; here it becomes
    ``error: <message> (see 'p2p <command> --help')`` on stderr with exit code 2, like every other
    usage error of the CLI. ``p2p`` with no arguments (or a group with no command) prints the help.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 ok, 1 runtime error, 2 usage error, 130 interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="p2p", standalone_mode=False)
    except typer.TyperException as exc:  # typer's (vendored click's) parse errors
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 2  # the help has been printed already, as typer itself does
        code = int(getattr(exc, "exit_code", 1))
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if code == 2 and ctx is not None else ""
        print(f"error: {one_line(exc.format_message())}{hint}", file=sys.stderr, flush=True)
        return code
    except typer.Abort:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    return code if isinstance(code, int) else 0


def run() -> None:  # pragma: no cover - the console-script entry point
    """Entry point of the installed ``p2p`` script: :func:`main`, then exit with its code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
