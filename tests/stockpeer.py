"""Run stock PyPI ``kademlia`` 2.2.3 servers in one asyncio subprocess, driven over JSON lines.

Two halves live in this file:

* The **subprocess side** (``python tests/stockpeer.py``): an asyncio loop that owns N
  ``kademlia.network.Server`` instances and reads one JSON command per line on stdin, answering one JSON
  object per line on stdout (``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``).  stdin is read by a
  thread feeding an ``asyncio.Queue``, so the loop keeps running (and the stock servers keep answering RPCs)
  while the controller is idle.  Commands run one at a time, each under a timeout.  Logging goes to stderr.

* The **controller side**: :class:`StockPeers`, a synchronous client used by tests and benchmarks.

Commands (every command may carry ``"id"`` (echoed back) and ``"timeout"`` seconds, default 30):

``start``      ``{"count": N, "host": "127.0.0.1", "base_port": 0, "seed": null, "ksize": 20, "alpha": 3}``
               -> ``{"nodes": [{"index", "port", "node_id"}]}``; may be called repeatedly (indices continue).
``bootstrap``  ``{"index", "addrs": [[ip, port], ...]}`` -> ``{"found", "seconds", "datagrams", "bytes"}``
``set``        ``{"index", "key" | "key_b64", "value" | "value_b64"}``
               -> ``{"result", "seconds", "datagrams", "bytes"}``
``get``        ``{"index", "key" | "key_b64"}``
               -> ``{"found", "value", "value_type", "seconds", "datagrams", "bytes"}`` (bytes as base64)
``stats``      -> ``{"datagrams_sent", "bytes_sent", "cpu_seconds", "rpc_sent": {name: count},
               "task_errors", "servers"}``
``neighbors``  ``{"index"}`` -> ``{"neighbors": [[hex id, ip, port], ...]}``
``storage``    ``{"index"}`` -> ``{"items": [[hex digest, value_type, value], ...]}`` (extra, for interop)
``stop_node``  ``{"index"}`` -> stops one server (extra, for churn); its index stays reserved.
``stop``       -> stops everything and exits 0.  EOF on stdin does the same.

``datagrams``/``bytes`` in op replies are the send-counter deltas (all servers in the subprocess) measured
around the awaited operation inside the subprocess; background sends that outlive the op (e.g. stock's
fire-and-forget key hand-over ``store``s) are counted by whichever op is running when they happen.

Controller use from trio tests: :class:`StockPeers` calls block, so while our trio node must answer the stock
nodes' RPCs call them through ``await peers.acall("get", 0, "key")`` (runs in a worker thread).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

DEFAULT_TIMEOUT = 30.0

# --------------------------------------------------------------------------------------------------------
# value encoding shared by both sides
# --------------------------------------------------------------------------------------------------------


def encode_value(value: Any) -> tuple[Any, str]:
    """Return (JSON-safe value, type name); bytes become base64 text."""
    if isinstance(value, bool):
        return value, "bool"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii"), "bytes"
    if isinstance(value, int):
        return value, "int"
    if isinstance(value, float):
        return value, "float"
    if isinstance(value, str):
        return value, "str"
    raise TypeError(f"unsupported DHT value type {type(value).__name__}")


def decode_value(value: Any, value_type: str | None) -> Any:
    """Inverse of :func:`encode_value`."""
    if value is None or value_type is None:
        return None
    if value_type == "bytes":
        return base64.b64decode(value)
    if value_type == "int":
        return int(value)
    if value_type == "float":
        return float(value)
    if value_type == "bool":
        return bool(value)
    if value_type == "str":
        return str(value)
    raise ValueError(f"unknown value_type {value_type!r}")


# --------------------------------------------------------------------------------------------------------
# subprocess side (asyncio + stock kademlia); imports of kademlia happen only here
# --------------------------------------------------------------------------------------------------------


class _Harness:
    def __init__(self) -> None:
        self.servers: list[Any] = []
        self.datagrams = 0
        self.bytes = 0
        self.rpc_sent: Counter[str] = Counter()
        self.task_errors = 0

    # -- counting -----------------------------------------------------------------------------------
    def _wrap_transport(self, transport: Any) -> None:
        orig = transport.sendto
        harness = self

        def sendto(data: bytes, addr: Any = None) -> None:
            harness.datagrams += 1
            harness.bytes += len(data)
            # cheap peek at the RPC name: 0x00 + 20-byte id + fixarray(2) + fixstr name
            if data[:1] == b"\x00":
                name = "request:?"
                if len(data) > 23 and data[21] == 0x92 and 0xA0 <= data[22] <= 0xBF:
                    name = data[23 : 23 + (data[22] & 0x1F)].decode("ascii", "replace")
                harness.rpc_sent[name] += 1
            else:
                harness.rpc_sent["response"] += 1
            return orig(data, addr)

        transport.sendto = sendto

    def _server(self, cmd: dict) -> Any:
        index = cmd.get("index")
        if not isinstance(index, int) or not 0 <= index < len(self.servers):
            raise ValueError(f"bad index {index!r} (have {len(self.servers)} servers)")
        server = self.servers[index]
        if server is None:
            raise ValueError(f"server {index} was stopped")
        return server

    @staticmethod
    def _key(cmd: dict) -> Any:
        if "key_b64" in cmd:
            return base64.b64decode(cmd["key_b64"])
        key = cmd.get("key")
        if not isinstance(key, str):
            raise ValueError("key must be a string (or use key_b64)")
        return key

    async def _measured(self, coro: Any) -> tuple[Any, dict]:
        d0, b0, t0 = self.datagrams, self.bytes, time.perf_counter()
        result = await coro
        return result, {
            "seconds": time.perf_counter() - t0,
            "datagrams": self.datagrams - d0,
            "bytes": self.bytes - b0,
        }

    # -- commands -----------------------------------------------------------------------------------
    async def cmd_start(self, cmd: dict) -> dict:
        import hashlib
        import random

        from kademlia.network import Server

        count = int(cmd.get("count", 1))
        host = cmd.get("host", "127.0.0.1")
        base_port = int(cmd.get("base_port", 0))
        seed = cmd.get("seed")
        rng = random.Random(seed) if seed is not None else None
        nodes = []
        for i in range(count):
            node_id = None
            if rng is not None:
                node_id = hashlib.sha1(rng.getrandbits(255).to_bytes(32, "big")).digest()
            server = Server(ksize=int(cmd.get("ksize", 20)), alpha=int(cmd.get("alpha", 3)), node_id=node_id)
            await server.listen(base_port + i if base_port else 0, interface=host)
            self._wrap_transport(server.transport)
            port = server.transport.get_extra_info("sockname")[1]
            self.servers.append(server)
            nodes.append({"index": len(self.servers) - 1, "port": port, "node_id": server.node.id.hex()})
        return {"nodes": nodes}

    async def cmd_bootstrap(self, cmd: dict) -> dict:
        server = self._server(cmd)
        addrs = [(str(a[0]), int(a[1])) for a in cmd.get("addrs", [])]
        found, info = await self._measured(server.bootstrap(addrs))
        return {"found": len(found or []), **info}

    async def cmd_set(self, cmd: dict) -> dict:
        server = self._server(cmd)
        if "value_b64" in cmd:
            value = base64.b64decode(cmd["value_b64"])
        elif "value" in cmd and cmd["value"] is not None:
            value = cmd["value"]
        else:
            raise ValueError("set needs value or value_b64")
        result, info = await self._measured(server.set(self._key(cmd), value))
        return {"result": bool(result), **info}

    async def cmd_get(self, cmd: dict) -> dict:
        server = self._server(cmd)
        value, info = await self._measured(server.get(self._key(cmd)))
        if value is None:
            return {"found": False, "value": None, "value_type": None, **info}
        enc, vtype = encode_value(value)
        return {"found": True, "value": enc, "value_type": vtype, **info}

    async def cmd_stats(self, cmd: dict) -> dict:
        return {
            "datagrams_sent": self.datagrams,
            "bytes_sent": self.bytes,
            "cpu_seconds": time.process_time(),
            "rpc_sent": dict(self.rpc_sent),
            "task_errors": self.task_errors,
            "servers": sum(1 for s in self.servers if s is not None),
        }

    async def cmd_neighbors(self, cmd: dict) -> dict:
        server = self._server(cmd)
        contacts = [
            [node.id.hex(), node.ip, node.port]
            for bucket in server.protocol.router.buckets
            for node in bucket.get_nodes()
        ]
        return {"neighbors": contacts}

    async def cmd_storage(self, cmd: dict) -> dict:
        server = self._server(cmd)
        items = []
        for dkey, value in server.storage:
            enc, vtype = encode_value(value)
            items.append([dkey.hex(), vtype, enc])
        return {"items": items}

    async def cmd_stop_node(self, cmd: dict) -> dict:
        server = self._server(cmd)
        server.stop()
        self.servers[cmd["index"]] = None
        return {}

    def stop_all(self) -> None:
        for server in self.servers:
            if server is not None:
                server.stop()
        self.servers = [None] * len(self.servers)


def _exception_handler(harness: _Harness):
    import logging

    log = logging.getLogger("stockpeer")

    def handler(loop: Any, context: dict) -> None:
        harness.task_errors += 1
        if harness.task_errors <= 20:
            exc = context.get("exception")
            log.error("asyncio error #%d: %s %r", harness.task_errors, context.get("message"), exc)

    return handler


async def _serve(out: Any) -> int:
    import asyncio

    loop = asyncio.get_running_loop()
    harness = _Harness()
    loop.set_exception_handler(_exception_handler(harness))
    lines: asyncio.Queue = asyncio.Queue()

    def reader() -> None:
        stdin = sys.stdin.buffer
        while True:
            line = stdin.readline()
            try:
                loop.call_soon_threadsafe(lines.put_nowait, line or None)
            except RuntimeError:  # loop closed
                return
            if not line:
                return

    threading.Thread(target=reader, name="stockpeer-stdin", daemon=True).start()

    def reply(obj: dict) -> None:
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        out.flush()

    while True:
        line = await lines.get()
        if line is None:
            break
        if not line.strip():
            continue
        cmd_id = None
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ValueError("command must be a JSON object")
            cmd_id = cmd.get("id")
            name = cmd.get("cmd")
            if name == "stop":
                harness.stop_all()
                reply({"ok": True, "id": cmd_id})
                break
            handler = getattr(harness, f"cmd_{name}", None) if isinstance(name, str) else None
            if handler is None:
                raise ValueError(f"unknown cmd {name!r}")
            timeout = float(cmd.get("timeout", DEFAULT_TIMEOUT))
            result = await asyncio.wait_for(handler(cmd), timeout)
            reply({"ok": True, "id": cmd_id, **result})
        except TimeoutError:
            reply({"ok": False, "id": cmd_id, "error": "timeout"})
        except Exception as exc:  # reported to the controller, never fatal
            reply({"ok": False, "id": cmd_id, "error": f"{type(exc).__name__}: {exc}"})
    harness.stop_all()
    await asyncio.sleep(0)
    return 0


def main() -> int:
    import asyncio
    import logging

    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies may reach the real stdout
    level = os.environ.get("STOCKPEER_LOGLEVEL", "ERROR").upper()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    for name in ("kademlia", "rpcudp", "asyncio"):
        logging.getLogger(name).setLevel(level)
    return asyncio.run(_serve(out))


# --------------------------------------------------------------------------------------------------------
# controller side
# --------------------------------------------------------------------------------------------------------


class StockPeerError(RuntimeError):
    """The stock subprocess replied with an error, timed out or died."""


class StockPeers:
    """Synchronous client for a ``stockpeer.py`` subprocess.  Thread-safe (one request at a time)."""

    SCRIPT = os.path.abspath(__file__)

    def __init__(self, proc: subprocess.Popen, stderr_file: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.proc = proc
        self.timeout = timeout
        self._stderr = stderr_file
        self._lock = threading.Lock()
        self._next_id = 0
        self._replies: queue.Queue = queue.Queue()
        self._closed = False
        self._reader = threading.Thread(target=self._read_stdout, name="stockpeers-stdout", daemon=True)
        self._reader.start()

    @classmethod
    def spawn(
        cls, python: str = sys.executable, timeout: float = DEFAULT_TIMEOUT, env: dict | None = None
    ) -> StockPeers:
        stderr_file = tempfile.TemporaryFile(prefix="stockpeer-", suffix=".log")
        proc = subprocess.Popen(
            [python, cls.SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            env={**os.environ, **(env or {})},
        )
        return cls(proc, stderr_file, timeout)

    # -- plumbing -----------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return "<stderr unavailable>"

    def _fail(self, message: str) -> StockPeerError:
        rc = self.proc.poll()
        state = f"exited with {rc}" if rc is not None else "still running"
        return StockPeerError(f"{message} (stockpeer subprocess {state}); stderr tail:\n{self.stderr_tail()}")

    def request(self, cmd: str, timeout: float | None = None, **args: Any) -> dict:
        """Send one command and return the raw reply dict; raises StockPeerError on any failure."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                raise StockPeerError("StockPeers is closed")
            if self.proc.poll() is not None:
                raise self._fail(f"cannot send {cmd!r}")
            self._next_id += 1
            msg_id = self._next_id
            line = json.dumps({"cmd": cmd, "id": msg_id, "timeout": timeout, **args}) + "\n"
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line.encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise self._fail(f"writing {cmd!r} failed: {exc}") from exc
            deadline = time.monotonic() + timeout + 10.0
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._fail(f"no reply to {cmd!r} within {timeout + 10.0:.0f} s")
                try:
                    raw = self._replies.get(timeout=remaining)
                except queue.Empty:
                    continue
                if raw is None:
                    self._replies.put(None)  # keep EOF visible to later calls
                    raise self._fail(f"subprocess closed stdout while waiting for {cmd!r}")
                try:
                    reply = json.loads(raw)
                except ValueError:
                    continue
                if reply.get("id") != msg_id:
                    continue  # stale reply of an earlier timed-out request
                if not reply.get("ok"):
                    raise StockPeerError(f"{cmd!r} failed: {reply.get('error')}")
                return reply

    async def acall(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``self.<method>(*args, **kwargs)`` in a trio worker thread (keeps the trio loop responsive)."""
        import functools

        import trio

        return await trio.to_thread.run_sync(functools.partial(getattr(self, method), *args, **kwargs))

    # -- API ------------------------------------------------------------------------------------------
    def start(
        self, count: int, host: str = "127.0.0.1", base_port: int = 0, seed: int | None = None, **kw: Any
    ) -> list[dict]:
        """Start ``count`` stock servers; returns [{"index", "port", "node_id"}, ...]."""
        return self.request("start", count=count, host=host, base_port=base_port, seed=seed, **kw)["nodes"]

    def bootstrap(self, index: int, addrs: list, timeout: float | None = None) -> int:
        """Bootstrap server ``index`` from [(ip, port), ...]; returns the number of nodes found."""
        return self.request("bootstrap", timeout, index=index, addrs=[list(a) for a in addrs])["found"]

    def _set_args(self, key: Any, value: Any) -> dict:
        args: dict[str, Any] = (
            {"key_b64": base64.b64encode(key).decode()} if isinstance(key, bytes) else {"key": key}
        )
        enc, vtype = encode_value(value)
        args["value_b64" if vtype == "bytes" else "value"] = enc
        return args

    def set_ex(self, index: int, key: str | bytes, value: Any, timeout: float | None = None) -> dict:
        """``set`` returning the full reply (result, seconds, datagrams, bytes)."""
        return self.request("set", timeout, index=index, **self._set_args(key, value))

    def set(self, index: int, key: str | bytes, value: Any, timeout: float | None = None) -> bool:
        return bool(self.set_ex(index, key, value, timeout)["result"])

    def get_ex(self, index: int, key: str | bytes, timeout: float | None = None) -> dict:
        """``get`` returning the full reply, with "value" already decoded to its Python type."""
        args = {"key_b64": base64.b64encode(key).decode()} if isinstance(key, bytes) else {"key": key}
        reply = self.request("get", timeout, index=index, **args)
        reply["value"] = decode_value(reply.get("value"), reply.get("value_type"))
        return reply

    def get(self, index: int, key: str | bytes, timeout: float | None = None) -> tuple[bool, Any]:
        reply = self.get_ex(index, key, timeout)
        return bool(reply["found"]), reply["value"]

    def stats(self) -> dict:
        return self.request("stats")

    def neighbors(self, index: int) -> list[tuple[str, str, int]]:
        return [tuple(n) for n in self.request("neighbors", index=index)["neighbors"]]

    def storage(self, index: int) -> dict[str, Any]:
        """{hex sha1 key: value} held by server ``index``."""
        items = self.request("storage", index=index)["items"]
        return {k: decode_value(v, t) for k, t, v in items}

    def stop_node(self, index: int) -> None:
        self.request("stop_node", index=index)

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        try:
            if self.proc.poll() is None:
                try:
                    self.request("stop", timeout=timeout)
                except StockPeerError:
                    pass
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=timeout)
        finally:
            self._closed = True
            self._reader.join(timeout=2.0)
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            self._stderr.close()

    def __enter__(self) -> StockPeers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
