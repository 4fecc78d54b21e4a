"""The local control endpoint: a 0600 UNIX socket in the data dir speaking newline-delimited JSON."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
import trio

from p2p.control import (
    MAX_LINE,
    SOCKET_NAME,
    ControlClient,
    ControlReplyError,
    decode_value,
    encode_value,
    serve_control,
)
from p2p.errors import ControlError
from p2p.node import open_node


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path is short enough on Linux.
    return tmp_path / "node"


async def call(client: ControlClient, op: str, **args: Any) -> dict[str, Any]:
    return await trio.to_thread.run_sync(lambda: client.request(op, **args))


async def raw_exchange(path: Path, payload: bytes, replies: int = 1) -> list[dict[str, Any]]:
    """Send raw bytes, read ``replies`` reply lines."""

    def run() -> list[dict[str, Any]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(path))
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)  # the server answers what it got, then sees end of file
            buf = b""
            while buf.count(b"\n") < replies:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return [json.loads(line) for line in buf.splitlines()]

    return await trio.to_thread.run_sync(run)


async def test_socket_is_owner_only_and_removed_on_exit(data_dir: Path) -> None:
    async with open_node(port=0, data_dir=data_dir):
        sock = data_dir / SOCKET_NAME
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert not sock.exists()


async def test_status_put_get_bootstrap(data_dir: Path) -> None:
    async with open_node(port=0, data_dir=data_dir) as node, open_node(port=0) as peer:
        client = ControlClient(data_dir)  # a data dir is accepted as well as the socket path
        assert client.path == data_dir / SOCKET_NAME

        status = await call(client, "status")
        assert status["node_id"] == node.status()["node_id"]
        assert status["contacts"] == 0
        assert status["records"] == 0

        host, port = peer.address
        joined = await call(client, "bootstrap", addrs=[f"{host}:{port}"])
        assert joined["responded"] == 1

        put = await trio.to_thread.run_sync(client.put, "greeting", "hello")
        assert put["acks"] == 1
        assert put["stored_locally"] is True
        assert put["seconds"] >= 0

        got = await trio.to_thread.run_sync(client.get, "greeting")
        assert got["found"] is True
        assert got["value"] == "hello"
        assert got["value_type"] == "str"
        assert (await peer.get("greeting")).value == "hello"

        for key, value in [("b", b"\x00\xff"), ("i", -(2**62)), ("f", 2.5), ("t", True), ("s", "ünï")]:
            await trio.to_thread.run_sync(client.put, key, value)
            got = await trio.to_thread.run_sync(client.get, key)
            assert got["value"] == value and type(got["value"]) is type(value)
        raw = await call(client, "get", key="b")
        assert raw["value_type"] == "bytes" and raw["value"] == "AP8="  # base64 on the wire

        missing = await call(client, "get", key="nobody-has-this")
        assert missing["found"] is False and missing["value"] is None

        status = await call(client, "status")
        assert status["records"] == 6
        assert status["contacts"] == 1


async def test_node_errors_become_error_replies(data_dir: Path) -> None:
    async with open_node(port=0, data_dir=data_dir):
        client = ControlClient(data_dir / SOCKET_NAME)
        with pytest.raises(ControlReplyError) as info:
            await trio.to_thread.run_sync(client.put, "k", "v")  # nobody to store on
        assert info.value.kind == "NoContacts"
        with pytest.raises(ControlReplyError) as info:
            await trio.to_thread.run_sync(client.put, "k", "x" * 9000)
        assert info.value.kind == "ValueTooLarge"
        with pytest.raises(ControlReplyError) as info:
            await call(client, "bootstrap", addrs=["not an address"])
        assert info.value.kind == "AddressError"
        assert "\n" not in str(info.value)
        # ... and the server still answers.
        assert (await call(client, "status"))["records"] == 0


async def test_bad_requests_get_error_replies_and_server_keeps_serving(data_dir: Path) -> None:
    async with open_node(port=0, data_dir=data_dir):
        sock = data_dir / SOCKET_NAME
        payload = b"".join(
            [
                b"this is not json\n",
                b"[1, 2]\n",
                b'{"op": "launch"}\n',
                b'{"nop": 1}\n',
                b'{"op": "get"}\n',
                b'{"op": "get", "key": 5}\n',
                b'{"op": "put", "key": "k", "value": "x", "value_type": "list"}\n',
                b'{"op": "put", "key": "k", "value": "!!", "value_type": "bytes"}\n',
                b'{"op": "put", "key": "k", "value": 1, "value_type": "bool"}\n',
                b'{"op": "status", "extra": 1}\n',
                b'{"op": "bootstrap", "addrs": []}\n',
                b"\xff\xfe\n",
                b"\n",  # blank lines are skipped
                b'{"op": "status"}\n',
            ]
        )
        replies = await raw_exchange(sock, payload, replies=13)
        assert len(replies) == 13
        *errors, last = replies
        for reply in errors:
            assert reply["ok"] is False
            assert reply["kind"] == "BadRequest"
            assert reply["error"] and "\n" not in reply["error"]
        assert last["ok"] is True and "node_id" in last["result"]

        # An over-long line gets an error and the connection is closed; others are still served.
        [reply] = await raw_exchange(sock, b"x" * (MAX_LINE + 10) + b"\n")
        assert reply["ok"] is False and "longer than" in reply["error"]

        # A client that disconnects mid-line or without reading does no harm.
        def rude() -> None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(sock))
                s.sendall(b'{"op": "sta')
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(sock))
                s.sendall(b'{"op": "status"}\n')

        await trio.to_thread.run_sync(rude)
        # A last request without newline before EOF is still answered.
        [reply] = await raw_exchange(sock, b'{"op": "status"}')
        assert reply["ok"] is True
        assert (await call(ControlClient(sock), "status"))["records"] == 0


async def test_concurrent_connections(data_dir: Path) -> None:
    async with open_node(port=0, data_dir=data_dir):
        client = ControlClient(data_dir)
        results: list[dict[str, Any]] = []

        async def one() -> None:
            results.append(await call(client, "status"))

        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(one)
        assert len(results) == 20


async def test_client_errors_are_one_line_control_errors(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no node is running"):
        ControlClient(tmp_path / "missing" / SOCKET_NAME).request("status")

    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # the file stays, nobody listens
    with pytest.raises(ControlError, match="no node is running") as info:
        ControlClient(stale).request("status")
    assert "\n" not in str(info.value)

    with pytest.raises(ControlError, match="more than the control endpoint accepts"):
        ControlClient(stale).request("put", key="k", value="x" * (MAX_LINE + 1), value_type="str")


async def test_stale_socket_is_replaced_and_live_one_refused(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    stale = data_dir / SOCKET_NAME
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    async with open_node(port=0, data_dir=data_dir) as node:
        assert (await call(ControlClient(data_dir), "status"))["records"] == 0
        # A second server on the same path sees the live one and refuses to start.
        async with trio.open_nursery() as nursery:
            with pytest.raises(ControlError, match="another node answers"):
                await nursery.start(serve_control, node, stale)
        assert (await call(ControlClient(data_dir), "status"))["records"] == 0


async def test_not_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("precious")
    async with open_node(port=0) as node, trio.open_nursery() as nursery:
        with pytest.raises(ControlError, match="not a socket"):
            await nursery.start(serve_control, node, path)
    assert path.read_text() == "precious"


def test_value_codec_round_trips() -> None:
    for value in ["", "x", 0, -5, 2**100, 1.5, float("inf"), True, False, b"", b"\x00\x01"]:
        encoded, kind = encode_value(value)
        json.dumps(encoded)
        back = decode_value(json.loads(json.dumps(encoded)), kind)
        assert back == value and type(back) is type(value)
    assert decode_value(3, "float") == 3.0
    for bad in [(None, "str"), (True, "int"), ("x", "bytes"), (1, "nope"), ("1", "int")]:
        with pytest.raises(ControlError):
            decode_value(*bad)
    with pytest.raises(ControlError):
        encode_value([1])


async def test_records_put_through_control_survive_a_restart(data_dir: Path) -> None:
    # Regression: a fresh (empty, hence falsy) SqliteStore was once replaced by a MemoryStore.
    async with open_node(port=0, data_dir=data_dir) as node, open_node(port=0) as peer:
        await node.bootstrap([peer.address])
        client = ControlClient(data_dir)
        assert (await trio.to_thread.run_sync(client.put, "greeting", "hello"))["stored_locally"] is True
        node_id = (await call(client, "status"))["node_id"]
    async with open_node(port=0, data_dir=data_dir):
        client = ControlClient(data_dir)
        status = await call(client, "status")
        assert status["node_id"] == node_id
        assert status["records"] == 1
        got = await trio.to_thread.run_sync(client.get, "greeting")
        assert got["value"] == "hello" and got["hops"] == 0
