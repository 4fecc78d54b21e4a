"""Acceptance test with real processes: ``p2p node start`` x3, put/get through the control endpoints, a node
killed with SIGKILL restarts from its data dir with the same id and still serves the record.

Every process is killed in a ``finally``; every wait is bounded; readiness is polled, never slept for.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

P2P = Path(sys.executable).parent / "p2p"
HOST = "127.0.0.1"


def free_udp_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def p2p(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(P2P), *args], capture_output=True, text=True, timeout=timeout)


class NodeProcess:
    """One ``p2p node start`` process, stdout and stderr going to files we poll."""

    def __init__(self, tmp: Path, name: str, port: int, data_dir: Path, bootstrap: list[int] = ()) -> None:  # type: ignore[assignment]
        self.name = name
        self.port = port
        self.data_dir = data_dir
        self.out_path = tmp / f"{name}.{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        args = [str(P2P), "node", "start", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
        for p in bootstrap:
            args += ["--bootstrap", f"{HOST}:{p}"]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def output(self) -> str:
        return self.out_path.read_text()

    def errors(self) -> str:
        return self.err_path.read_text()

    def first_line(self, timeout: float = 20) -> str:
        def line() -> str | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.errors()}")
            text = self.output()
            return text.split("\n", 1)[0] if "\n" in text else None

        return wait_until(line, timeout, f"{self.name} to print its first line")

    def status(self) -> dict[str, Any] | None:
        result = p2p("node", "status", "--json", "--data-dir", str(self.data_dir), timeout=20)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def wait_ready(self, timeout: float = 20) -> dict[str, Any]:
        line = self.first_line(timeout)
        assert line.startswith("node ") and f"listening on {HOST}:{self.port}" in line, line
        return wait_until(self.status, timeout, f"{self.name}'s control endpoint")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    try:
        yield started
    finally:
        for node in started:
            node.kill()


def test_three_nodes_put_get_kill_restart(tmp_path: Path, processes: list[NodeProcess]) -> None:
    pa, pb, pc = free_udp_ports(3)
    da, db, dc = (tmp_path / n for n in "abc")

    a = NodeProcess(tmp_path, "a", pa, da)
    processes.append(a)
    a.wait_ready()
    b = NodeProcess(tmp_path, "b", pb, db, bootstrap=[pa])
    c = NodeProcess(tmp_path, "c", pc, dc, bootstrap=[pa])
    processes += [b, c]
    for node in (b, c):
        node.wait_ready()
    for node in (a, b, c):
        wait_until(
            lambda n=node: (n.status() or {}).get("contacts", 0) >= 2, 20, f"{node.name} to know both peers"
        )

    put = p2p("put", "greeting", "hello", "--data-dir", str(da))
    assert put.returncode == 0, put.stderr
    assert put.stdout.strip() == "stored on 3 nodes"

    got = p2p("get", "greeting", "--data-dir", str(db))
    assert got.returncode == 0, got.stderr
    assert got.stdout == "hello\n"

    missing = p2p("get", "no-such-key", "--data-dir", str(db))
    assert missing.returncode == 1
    assert missing.stderr.strip() == "not found: no-such-key"

    # With three nodes (k = 20) every node holds the record; C is the one we crash.
    before = c.status()
    assert before is not None and before["records"] >= 1
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(timeout=10)
    assert (dc / "control.sock").exists()  # left behind by the crash
    stale = p2p("node", "status", "--data-dir", str(dc))
    assert stale.returncode == 1 and stale.stderr.startswith("error: no node is running")

    c2 = NodeProcess(tmp_path, "c2", pc, dc)  # same data dir and port, no --bootstrap: saved contacts
    processes.append(c2)
    after = c2.wait_ready()
    assert after["node_id"] == before["node_id"]
    assert after["records"] >= 1
    assert after["address"] == f"{HOST}:{pc}"
    assert before["node_id"] in c2.first_line()

    local = p2p("get", "greeting", "--data-dir", str(dc), "--json")
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["value"] == "hello"

    # SIGTERM stops a node gracefully: exit 0 within a few seconds.
    for node in (a, b):
        assert node.stop(signal.SIGTERM, timeout=10) == 0, node.errors()
        assert node.output().rstrip().endswith("node stopped")
        assert not (node.data_dir / "control.sock").exists()

    # Only the restarted node is left: an ephemeral node joining through it gets the record over UDP.
    remote = p2p("get", "greeting", "--bootstrap", f"{HOST}:{pc}", timeout=60)
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == "hello\n"

    assert c2.stop(signal.SIGINT, timeout=10) == 0, c2.errors()
    assert "Traceback" not in a.errors() + b.errors() + c2.errors()


def test_second_node_on_same_data_dir_refused(tmp_path: Path, processes: list[NodeProcess]) -> None:
    p1, p2 = free_udp_ports(2)
    first = NodeProcess(tmp_path, "first", p1, tmp_path / "d")
    processes.append(first)
    first.wait_ready()
    second = p2p("node", "start", "--port", str(p2), "--data-dir", str(tmp_path / "d"), timeout=20)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"error: another node is running with data dir {tmp_path / 'd'}"
    ]
    assert first.status() is not None  # the first node is unharmed


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_gracefully(sig: int, tmp_path: Path, processes: list[NodeProcess]) -> None:
    [port] = free_udp_ports(1)
    node = NodeProcess(tmp_path, "n", port, tmp_path / "d")
    processes.append(node)
    node.wait_ready()
    assert node.stop(sig, timeout=10) == 0, node.errors()
    assert node.output().rstrip().endswith("node stopped")
    assert "Traceback" not in node.errors()
    assert not os.path.exists(tmp_path / "d" / "control.sock")


def test_json_output_of_node_start(tmp_path: Path, processes: list[NodeProcess]) -> None:
    [port] = free_udp_ports(1)
    out = tmp_path / "n.out"
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            [str(P2P), "node", "start", "--port", str(port), "--data-dir", str(tmp_path / "d"), "--json"],
            stdout=fh,
            stderr=subprocess.DEVNULL,
        )
    try:
        first = wait_until(
            lambda: out.read_text().split("\n", 1)[0] if "\n" in out.read_text() else None, 20, "line"
        )
        event = json.loads(first)
        assert event["event"] == "listening"
        assert event["address"] == f"{HOST}:{port}"
        assert len(event["node_id"]) == 40
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert json.loads(out.read_text().strip().splitlines()[-1]) == {"event": "stopped"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
