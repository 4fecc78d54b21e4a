"""Helpers shared by the command modules: options, error reporting, value parsing and printing.

No protocol logic lives here (or anywhere in the CLI): commands parse arguments, call p2p APIs, and print.

Exit codes: 0 success; 1 runtime error (no node running, bootstrap unreachable, port in use, data dir
locked, value too large, key not found, ...); 2 usage error (malformed address, value not of ``--type``,
and typer's own option errors); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from p2p.control import SOCKET_NAME, ControlClient
from p2p.errors import P2PError
from p2p.persist import default_data_dir
from p2p.transport.udp import AddressError, parse_address

__all__ = [
    "UsageProblem",
    "ValueType",
    "JsonOpt",
    "DataDirOpt",
    "BootstrapOpt",
    "fail",
    "guard",
    "one_line",
    "emit_json",
    "client_data_dir",
    "control_client",
    "check_addresses",
    "parse_value",
    "format_value",
    "json_value",
    "stderr_console",
]

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        help="The node's data directory (default: the platform's user data dir, ~/.local/share/p2p/node on Linux).",
        show_default=False,
    ),
]
BootstrapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--bootstrap",
        "-b",
        metavar="HOST:PORT",
        help="Address of a node to join through (repeat the option for several).",
        show_default=False,
    ),
]


class UsageProblem(Exception):
    """Bad user input found by the CLI itself; reported as one line with exit code 2."""


class ValueType(StrEnum):
    """How ``p2p put`` interprets its VALUE argument."""

    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    BYTES_HEX = "bytes-hex"


def one_line(exc: BaseException) -> str:
    """``str(exc)`` squeezed to one line (the class name when empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the :class:`typer.Exit` to raise."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def _leaf(exc: BaseException) -> BaseException:
    """The most telling exception inside (possibly nested) exception groups: ours before anything else."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = list(exc.exceptions)
        mine = [e for e in leaves if isinstance(e, P2PError | UsageProblem | BaseExceptionGroup)]
        exc = (mine or leaves)[0]
    return exc


@contextlib.contextmanager
def _errors_to_exit() -> Iterator[None]:
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except BaseException as raw:
        exc = _leaf(raw)
        if isinstance(exc, typer.Exit | typer.Abort | SystemExit):
            raise exc from None
        if isinstance(exc, KeyboardInterrupt):
            raise fail("interrupted", 130) from None
        if isinstance(exc, UsageProblem):
            raise fail(one_line(exc), 2) from None
        if isinstance(exc, P2PError):
            raise fail(one_line(exc), 1) from None
        if isinstance(exc, OSError):
            raise fail(
                f"{exc.strerror or one_line(exc)}" + (f": {exc.filename}" if exc.filename else ""), 1
            ) from None
        if isinstance(exc, Exception):
            if os.environ.get("P2P_DEBUG"):
                raise
            raise fail(
                f"internal error: {type(exc).__name__}: {one_line(exc)} (set P2P_DEBUG=1 for a traceback)", 1
            ) from None
        raise


def guard(fn: F) -> F:
    """Decorate a command: any error becomes one ``error: ...`` line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _errors_to_exit():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit_json(obj: Any) -> None:
    """Print ``obj`` as one line of JSON on stdout and flush."""
    print(json.dumps(obj, separators=(", ", ": ")), flush=True)


def stderr_console() -> Any:
    """A rich console on stderr (progress bars and warnings)."""
    from rich.console import Console

    return Console(stderr=True)


def client_data_dir(data_dir: Path | None) -> Path:
    """The data dir a client command talks to (never created)."""
    return (data_dir if data_dir is not None else default_data_dir()).expanduser().absolute()


def control_client(data_dir: Path | None) -> ControlClient:
    """A client of the control endpoint of the node running with ``data_dir`` (default data dir if None)."""
    return ControlClient(client_data_dir(data_dir) / SOCKET_NAME)


def check_addresses(addrs: list[str] | None) -> list[str]:
    """Validate ``HOST:PORT`` strings (syntax only; resolution happens when the node uses them).

    Raises
    ------
    UsageProblem
        For a malformed address.
    """
    out = []
    for a in addrs or []:
        try:
            parse_address(a)
        except AddressError as exc:
            raise UsageProblem(f"--bootstrap: {one_line(exc)}") from None
        out.append(a)
    return out


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_value(text: str, value_type: ValueType) -> Any:
    """The record value ``text`` stands for under ``--type``.

    Raises
    ------
    UsageProblem
        If ``text`` is not a valid ``value_type``.
    """
    t = ValueType(value_type)
    try:
        if t is ValueType.STR:
            return text
        if t is ValueType.INT:
            try:
                return int(text)
            except ValueError:
                return int(text.strip(), 0)  # 0x.., 0o.., 0b..
        if t is ValueType.FLOAT:
            return float(text)
        if t is ValueType.BOOL:
            low = text.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        return bytes.fromhex(text)
    except ValueError:
        hint = {
            ValueType.INT: "an integer",
            ValueType.FLOAT: "a number",
            ValueType.BOOL: "true or false",
            ValueType.BYTES_HEX: "hexadecimal digits, two per byte",
        }.get(t, "")
        raise UsageProblem(f"invalid value for --type {t.value}: {text!r} (expected {hint})") from None


def format_value(value: Any) -> str:
    """How ``p2p get`` prints a value: str as is, bytes as hex, bools as true/false."""
    if type(value) is bytes:
        return value.hex()
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is float:
        return repr(value)
    return str(value)


def json_value(value: Any) -> dict[str, Any]:
    """``{"value": ..., "value_type": ...}`` for JSON output; bytes as hex with ``"encoding": "hex"``."""
    if type(value) is bytes:
        return {"value": value.hex(), "value_type": "bytes", "encoding": "hex"}
    if type(value) is float and not math.isfinite(value):
        return {"value": repr(value), "value_type": "float", "encoding": "repr"}
    return {"value": value, "value_type": type(value).__name__}
