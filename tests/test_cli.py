"""The typer CLI in-process (typer.testing.CliRunner): help, version, one-line errors, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import p2p
from p2p.cli.common import UsageProblem, ValueType, format_value, parse_value
from p2p.cli.main import app

runner = CliRunner()


def assert_one_line_error(result, code: int | None = None) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["node", "--help"],
        ["node", "start", "--help"],
        ["node", "status", "--help"],
        ["node", "bootstrap", "--help"],
        ["put", "--help"],
        ["get", "--help"],
        ["demo", "--help"],
    ],
)
def test_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    if args:
        assert result.exit_code == 0
    else:  # no arguments: the help, with click's usage exit code
        assert result.exit_code in (0, 2)
    assert "Usage" in result.output
    if args and args[-2:] != ["node", "--help"] and args != ["--help"]:
        assert "--json" in result.output


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("node", "put", "get", "demo"):
        assert command in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"p2p {p2p.__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ["node", "start", "--bootstrap", "nope", "--data-dir", "{tmp}/d"],
        ["node", "start", "--bootstrap", "127.0.0.1:0", "--data-dir", "{tmp}/d"],
        ["node", "start", "--bootstrap", "127.0.0.1:http", "--data-dir", "{tmp}/d"],
        ["get", "k", "--bootstrap", "[::1]4000"],
        ["put", "k", "v", "--bootstrap", ":4000"],
        ["node", "bootstrap", "host", "--data-dir", "{tmp}/d"],
    ],
)
def test_malformed_address_is_one_line_usage_error(args: list[str], tmp_path: Path) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    line = assert_one_line_error(runner.invoke(app, args), code=2)
    assert "address" in line
    assert not (tmp_path / "d").exists()  # nothing was started


@pytest.mark.parametrize(
    ("value", "kind"),
    [("abc", "int"), ("1.2.3", "float"), ("maybe", "bool"), ("zz", "bytes-hex"), ("abc", "bytes-hex")],
)
def test_value_type_errors(value: str, kind: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["put", "k", value, "--type", kind, "--data-dir", str(tmp_path)])
    line = assert_one_line_error(result, code=2)
    assert f"--type {kind}" in line


def test_unknown_type_is_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["put", "k", "v", "--type", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_parse_and_format_values() -> None:
    assert parse_value("hello", ValueType.STR) == "hello"
    assert parse_value("-12", ValueType.INT) == -12
    assert parse_value("0x10", ValueType.INT) == 16
    assert parse_value("2.5", ValueType.FLOAT) == 2.5
    assert parse_value("TRUE", ValueType.BOOL) is True and parse_value("no", ValueType.BOOL) is False
    assert parse_value("00ff", ValueType.BYTES_HEX) == b"\x00\xff"
    with pytest.raises(UsageProblem):
        parse_value("0xzz", ValueType.INT)
    assert format_value(b"\x00\xff") == "00ff"
    assert format_value(True) == "true"
    assert format_value("plain") == "plain"


@pytest.mark.parametrize(
    "args",
    [
        ["node", "status"],
        ["node", "status", "--json"],
        ["get", "k"],
        ["put", "k", "v"],
        ["node", "bootstrap", "h:1"],
    ],
)
def test_no_node_running_is_one_line_error(args: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "none")])
    line = assert_one_line_error(result, code=1)
    assert "no node is running" in line
    assert not (tmp_path / "none").exists()  # a client never creates the data dir


def test_stale_socket_is_one_line_error(tmp_path: Path) -> None:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tmp_path / "control.sock"))
    s.close()
    line = assert_one_line_error(runner.invoke(app, ["node", "status", "--data-dir", str(tmp_path)]), code=1)
    assert "no node is running" in line


def test_unreachable_bootstrap_is_one_line_error() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a bound port nobody answers on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        result = runner.invoke(app, ["get", "k", "--bootstrap", f"127.0.0.1:{port}"])
    line = assert_one_line_error(result, code=1)
    assert "bootstrap" in line


def test_port_in_use_is_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        result = runner.invoke(app, ["node", "start", "--port", str(port), "--data-dir", str(tmp_path / "d")])
    line = assert_one_line_error(result, code=1)
    assert "in use" in line


def test_demo_json() -> None:
    result = runner.invoke(app, ["demo", "--nodes", "8", "--puts", "10", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout)
    assert summary["nodes"] == 8
    assert summary["gets"] == 10
    assert summary["gets_succeeded"] == 10
    assert summary["ok"] is True
    assert summary["acks_min"] >= 1
    assert summary["datagrams_sent"] > 0
    assert summary["put_latency_ms"]["median"] is not None


def test_demo_text_small_k() -> None:
    result = runner.invoke(app, ["demo", "--nodes", "12", "--puts", "5", "--k", "3"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "gets succeeded" in result.stdout
    assert "5/5" in result.stdout


def test_sim_list_and_run_write_results_and_figures(tmp_path):
    """`p2p sim run` passes scenario options through, writes results.json and the figure, and is reproducible."""
    import json

    listed = runner.invoke(app, ["sim", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {row["scenario"] for row in json.loads(listed.output)}
    assert {"kademlia_lookup", "churn_durability", "failure_resilience", "search", "lv_comparison"} <= names
    args = ["sim", "run", "kademlia_lookup", "--nodes", "60", "--lookups", "40", "--seed", "3"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    result = json.loads((tmp_path / "a" / "results.json").read_text())
    assert result["nodes"] == 60 and result["lookups"] == 40 and result["success_rate"] == 1.0
    assert (tmp_path / "a" / "hop_cdf.png").stat().st_size > 1000
    # stderr is not a terminal here, so progress comes as plain lines, ending each phase at 100%
    progress = [ln for ln in first.stderr.splitlines() if ln.startswith("kademlia_lookup: ")]
    assert progress and "40/40 (100%)" in progress[-1], first.stderr
    second = runner.invoke(app, [*args, "--json"])
    assert second.exit_code == 0
    again = json.loads(second.output)
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == {
        k: v for k, v in result.items() if k != "wall_seconds"
    }


def test_sim_run_bad_input_is_one_line(tmp_path):
    for args, needle in (
        (["sim", "run", "nope"], "unknown scenario"),
        (["sim", "run", "kademlia_lookup", "--bogus", "1"], "unknown option --bogus"),
        (["sim", "run", "kademlia_lookup", "--nodes", "many"], "--nodes"),
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(
    ("args", "needle", "where"),
    [
        (["node", "start", "--port", "abc"], "--port", "p2p node start --help"),
        (["bogus"], "No such command 'bogus'", "p2p --help"),
        (["get"], "Missing argument", "p2p get --help"),
        (["put", "k", "v", "--type", "list"], "--type", "p2p put --help"),
        (["sim", "run", "kademlia_lookup", "--nodes", "many"], "--nodes", None),
    ],
)
def test_console_script_usage_errors_are_one_line(args, needle, where, capsys) -> None:
    """The installed ``p2p`` script (cli.main.main) turns typer's boxed parse errors into one line, exit 2."""
    from p2p.cli.main import main

    assert main(args) == 2
    err = capsys.readouterr().err
    line = err.strip()
    assert len(err.strip().splitlines()) == 1 and line.startswith("error: "), err
    assert needle in line and "╭" not in err
    if where is not None:
        assert line.endswith(f"(see '{where}')")


def test_console_script_help_and_version(capsys) -> None:
    from p2p.cli.main import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"p2p {p2p.__version__}"
    assert main(["node", "start", "--help"]) == 0
    assert "--bootstrap" in capsys.readouterr().out
    assert main([]) == 2  # no command: the help, with click's usage exit code
    assert "Usage" in capsys.readouterr().out
