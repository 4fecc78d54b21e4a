"""Tests of p2p.persist: the sqlite record store, node identity, contacts and metadata."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2p.errors import ConfigError, InvalidValue, P2PError
from p2p.persist import (
    DB_FILENAME,
    SCHEMA_VERSION,
    PersistError,
    SqliteStore,
    UnknownSchema,
    default_data_dir,
    resolve_data_dir,
)
from p2p.store import MemoryStore, Record, RecordStore
from p2p.wire import Contact

TOP = 2**160 - 1


def canon(r: Record | None) -> tuple | None:
    """A record as a tuple that tells bool from int and compares floats bit-exactly (NaN, -0.0)."""
    if r is None:
        return None
    v = r.value
    vv = struct.pack(">d", v) if type(v) is float else v
    return (r.key, type(v).__name__, vv, float(r.stored_at), float(r.expires_at), r.publisher)


@pytest.fixture
def store(tmp_path: Path):
    with SqliteStore.open(tmp_path / "data") as s:
        yield s


# ------------------------------------------------------------------------------------------ values

VALUES = [
    0,
    1,
    -1,
    True,
    False,
    2**63 - 1,
    2**63,
    2**64 - 1,
    -(2**63),
    0.0,
    -0.0,
    1.5,
    -1e308,
    5e-324,
    math.inf,
    -math.inf,
    math.nan,
    "",
    "héllo wörld ✓ 𝄞 日本",
    "\x00nul",
    b"",
    b"\x00\xff" * 100,
]


@pytest.mark.parametrize("value", VALUES, ids=[f"{type(v).__name__}:{v!r}"[:40] for v in VALUES])
def test_value_round_trip_exact_type(tmp_path: Path, value) -> None:
    rec = Record(key=12345, value=value, stored_at=10.0, expires_at=20.0, publisher=None)
    with SqliteStore.open(tmp_path) as s:
        s.put(rec)
        assert canon(s.get(12345)) == canon(rec)
    with SqliteStore.open(tmp_path) as s:  # and from disk, through a new connection
        got = s.get(12345)
        assert got is not None
        assert type(got.value) is type(value)
        assert canon(got) == canon(rec)


def test_bool_is_not_int(store: SqliteStore) -> None:
    store.put(Record(1, True, 0.0, 1.0))
    store.put(Record(2, 1, 0.0, 1.0))
    store.put(Record(3, False, 0.0, 1.0))
    store.put(Record(4, 0, 0.0, 1.0))
    assert [type(store.get(k).value) for k in (1, 2, 3, 4)] == [bool, int, bool, int]
    assert store.get(1).value is True and store.get(3).value is False


def test_ids_and_publisher_extremes(store: SqliteStore) -> None:
    for key in (0, 1, TOP):
        store.put(Record(key, b"v", 1.0, 2.0, publisher=TOP - key))
    assert [canon(store.get(k)) for k in (0, 1, TOP)] == [
        canon(Record(k, b"v", 1.0, 2.0, TOP - k)) for k in (0, 1, TOP)
    ]


def test_put_rejects_bad_input(store: SqliteStore) -> None:
    with pytest.raises(InvalidValue):
        store.put(Record(1, None, 0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        store.put(Record(1, [1], 0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.put(Record(2**160, 1, 0.0, 1.0))
    with pytest.raises(ValueError):
        store.put(Record(-1, 1, 0.0, 1.0))
    with pytest.raises(ValueError):
        store.put(Record(1, 1, 0.0, 1.0, publisher=2**160))
    with pytest.raises(ValueError):
        store.put(Record(1, 1, math.nan, 1.0))
    assert len(store) == 0 and store.get(1) is None


# ------------------------------------------------------------------------------------------ records


def test_protocol(store: SqliteStore) -> None:
    assert isinstance(store, RecordStore)


def test_put_replace_delete_expire_len_iter(store: SqliteStore) -> None:
    assert len(store) == 0 and list(store) == [] and store.get(1) is None
    store.put(Record(1, "a", 0.0, 100.0))
    store.put(Record(2, "b", 0.0, 50.0, publisher=9))
    store.put(Record(3, "c", 0.0, 200.0))
    assert len(store) == 3
    store.put(Record(1, b"A", 5.0, 300.0, publisher=7))  # replace: count unchanged
    assert len(store) == 3
    assert store.get(1) == Record(1, b"A", 5.0, 300.0, 7)
    store.put(Record(2, "b2", 1.0, 60.0))  # replace drops the publisher
    assert store.get(2).publisher is None
    assert store.delete(3) is True
    assert store.delete(3) is False
    assert store.delete(2**170) is False and store.get(-5) is None
    assert len(store) == 2
    assert store.expire(59.9) == 0
    assert store.expire(60.0) == 1  # expires_at <= now
    assert [r.key for r in store] == [1]
    assert store.expire(1e9) == 1
    assert len(store) == 0


def test_iteration_is_a_snapshot(store: SqliteStore) -> None:
    for k in range(10):
        store.put(Record(k, k, 0.0, float(k)))
    seen = []
    for r in store:
        store.delete(r.key)  # mutate while iterating
        store.put(Record(r.key + 100, 0, 0.0, 1.0))
        seen.append(r.key)
    assert seen == list(range(10))
    assert sorted(r.key for r in store) == list(range(100, 110))
    assert len(store) == 10


def test_len_matches_count_after_reopen(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path) as s:
        for k in range(50):
            s.put(Record(k, k, 0.0, float(k)))
        s.expire(9.0)
        s.delete(20)
        assert len(s) == 39
    with SqliteStore.open(tmp_path) as s:
        assert len(s) == 39 == len(list(s))


def test_bad_rows_are_skipped(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path) as s:
        s.put(Record(1, "good", 0.0, 10.0))
        s.save_contacts([Contact(5, "10.0.0.1", 4000)], now=1.0)
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    ins = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)"
    db.execute(ins, (b"short", 1, "int", 0.0, 10.0, None))  # key not 20 bytes
    db.execute(ins, ((2).to_bytes(20, "big"), 1, "complex", 0.0, 10.0, None))  # unknown type
    db.execute(ins, ((3).to_bytes(20, "big"), "x", "int", 0.0, 10.0, None))  # type mismatch
    db.execute(ins, ((4).to_bytes(20, "big"), 5, "bool", 0.0, 10.0, None))  # bool not 0/1
    db.execute(ins, ((5).to_bytes(20, "big"), b"abc", "float", 0.0, 10.0, None))  # float not 8 bytes
    db.execute(ins, ((6).to_bytes(20, "big"), "zz", "bigint", 0.0, 10.0, None))  # not hex
    db.execute(ins, ((7).to_bytes(20, "big"), 1, "int", 0.0, 10.0, b"pub"))  # bad publisher
    db.execute(ins, ((8).to_bytes(20, "big"), 1, "int", "soon", 10.0, None))  # bad time
    db.execute(  # text that is not UTF-8
        "INSERT INTO records VALUES (?, CAST(x'fffe' AS TEXT), 'str', 0.0, 10.0, NULL)",
        ((9).to_bytes(20, "big"),),
    )
    db.execute("INSERT INTO contacts VALUES (?, ?, ?, ?)", (b"bad", "10.0.0.2", 1, 1.0))
    db.execute("INSERT INTO contacts VALUES (?, ?, ?, ?)", ((6).to_bytes(20, "big"), "10.0.0.3", 70000, 1.0))
    db.execute("INSERT INTO meta VALUES ('node_id', ?)", (b"not twenty",))
    db.commit()
    db.close()
    with SqliteStore.open(tmp_path) as s:
        assert [r.value for r in s] == ["good"]
        for k in range(2, 10):
            assert s.get(k) is None
        assert s.load_contacts() == [Contact(5, "10.0.0.1", 4000)]
        assert s.load_node_id() is None
        # the bad rows still expire with the rest
        assert s.expire(10.0) == 10
        assert list(s) == [] and len(s) == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("put"),
                st.sampled_from([0, 1, 2, 3, TOP]),
                st.one_of(
                    st.integers(min_value=-(2**63), max_value=2**64 - 1),
                    st.booleans(),
                    st.floats(allow_nan=False),
                    st.text(max_size=20),
                    st.binary(max_size=20),
                ),
                st.floats(min_value=0, max_value=100),
                st.one_of(st.none(), st.integers(min_value=0, max_value=TOP)),
            ),
            st.tuples(st.just("delete"), st.sampled_from([0, 1, 2, 3, TOP, 2**160])),
            st.tuples(st.just("expire"), st.floats(min_value=0, max_value=100)),
            st.tuples(st.just("reopen")),
        ),
        max_size=25,
    )
)
def test_matches_memory_store_model(ops) -> None:
    model = MemoryStore()
    with tempfile.TemporaryDirectory() as tmp:
        s = SqliteStore.open(Path(tmp))
        try:
            for op in ops:
                if op[0] == "put":
                    _, key, value, expires, publisher = op
                    rec = Record(key, value, 1.0, expires, publisher)
                    model.put(rec)
                    s.put(rec)
                elif op[0] == "delete":
                    assert s.delete(op[1]) == model.delete(op[1])
                elif op[0] == "expire":
                    assert s.expire(op[1]) == model.expire(op[1])
                else:
                    s.close()
                    s = SqliteStore.open(Path(tmp))
                assert len(s) == len(model)
            assert sorted(map(canon, s)) == sorted(map(canon, model))
            for key in (0, 1, 2, 3, TOP):
                assert canon(s.get(key)) == canon(model.get(key))
        finally:
            s.close()


# ------------------------------------------------------------------------------------------ durability


CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from p2p.persist import SqliteStore
    from p2p.store import Record
    s = SqliteStore.open(Path(sys.argv[1]), synchronous=sys.argv[2])
    s.put(Record(42, "acknowledged", 1.0, 2.0, publisher=7))
    s.save_node_id(99)
    s.set_meta("term", "3")
    print("done", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_acknowledged_put_survives_sigkill(tmp_path: Path, synchronous: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), synchronous],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "done", proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    # the WAL was not checkpointed by a clean close: recovery must come from it
    assert (tmp_path / (DB_FILENAME + "-wal")).exists()
    with SqliteStore.open(tmp_path) as s:
        assert s.get(42) == Record(42, "acknowledged", 1.0, 2.0, publisher=7)
        assert s.load_node_id() == 99
        assert s.get_meta("term") == "3"
        assert len(s) == 1


# ------------------------------------------------------------------------------------------ state


def test_identity_contacts_meta_survive_reopen(tmp_path: Path) -> None:
    contacts = [
        Contact(TOP, "192.0.2.1", 1),
        Contact(0, "::1", 65535),
        Contact(12345, "198.51.100.7", 8468),
    ]
    with SqliteStore.open(tmp_path) as s:
        assert s.load_node_id() is None
        assert s.load_contacts() == []
        assert s.get_meta("term") is None
        s.save_node_id(TOP)
        s.save_contacts(contacts, now=1000.0)
        s.set_meta("term", "7")
        s.set_meta("vote", b"\x01" * 20)
        s.set_meta("raw", bytearray(b"ab"))
    with SqliteStore.open(tmp_path) as s:
        assert s.load_node_id() == TOP
        assert s.load_contacts() == contacts  # order kept
        assert s.get_meta("term") == "7"
        assert s.get_meta("vote") == b"\x01" * 20
        assert s.get_meta("raw") == b"ab"
        s.save_node_id(5)
        s.save_contacts(contacts[:1] + [Contact(3, "10.0.0.1", 9), Contact(3, "10.0.0.2", 10)], now=2000.0)
        s.set_meta("term", "8")
        assert s.delete_meta("vote") is True
        assert s.delete_meta("vote") is False
    with SqliteStore.open(tmp_path) as s:
        assert s.load_node_id() == 5
        assert s.load_contacts() == [
            contacts[0],
            Contact(3, "10.0.0.2", 10),
        ]  # replaced; later duplicate wins
        assert s.get_meta("term") == "8" and s.get_meta("vote") is None
        s.save_contacts([], now=3000.0)
        assert s.load_contacts() == []


def test_save_contacts_is_atomic(store: SqliteStore) -> None:
    store.save_contacts([Contact(1, "10.0.0.1", 1)], now=1.0)
    with pytest.raises(ValueError):
        store.save_contacts([Contact(2, "10.0.0.2", 2), Contact(2**160, "10.0.0.3", 3)], now=2.0)
    with pytest.raises(ValueError):
        store.save_contacts([Contact(2, "10.0.0.2", 0)], now=2.0)
    assert store.load_contacts() == [Contact(1, "10.0.0.1", 1)]


def test_meta_and_identity_type_errors(store: SqliteStore) -> None:
    with pytest.raises(TypeError):
        store.set_meta("term", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.set_meta(b"term", "3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.save_node_id(2**160)


# ------------------------------------------------------------------------------------------ file & dir


def test_wal_mode_and_synchronous(tmp_path: Path) -> None:
    for synchronous, level in (("normal", 1), ("full", 2)):
        with SqliteStore.open(tmp_path, synchronous=synchronous) as s:
            conn = s._c()
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == level
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # WAL is persistent in the file: an independent connection sees it too
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SqliteStore.open(tmp_path, synchronous="off")
    with pytest.raises(ConfigError):
        SqliteStore.open(tmp_path, busy_timeout=-1)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(UnknownSchema, match="newer"):
        SqliteStore.open(tmp_path)
    assert issubclass(UnknownSchema, PersistError) and issubclass(PersistError, P2PError)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / DB_FILENAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(PersistError):
        SqliteStore.open(tmp_path / "a")
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    db.execute("PRAGMA application_id = 12345")
    db.commit()
    db.close()
    with pytest.raises(PersistError, match="another application"):
        SqliteStore.open(tmp_path)


def test_closed_store(tmp_path: Path) -> None:
    s = SqliteStore.open(tmp_path)
    s.close()
    s.close()  # idempotent
    assert s.closed
    with pytest.raises(PersistError):
        s.put(Record(1, 1, 0.0, 1.0))
    with pytest.raises(PersistError):
        len(s)
    with pytest.raises(PersistError):
        s.load_node_id()


def test_data_dir_created_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        d = resolve_data_dir(tmp_path / "deep" / "er")
    finally:
        os.umask(old)
    assert d.is_dir() and d.is_absolute()
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    with SqliteStore.open(tmp_path / "other" / "dir") as s:
        assert stat.S_IMODE(s.path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(s.path.stat().st_mode) == 0o600
    assert resolve_data_dir(d) == d  # existing: returned as is
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        resolve_data_dir(tmp_path / "file")


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is the Linux convention")
def test_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "p2p" / "node"
    d = resolve_data_dir(None)
    assert d == tmp_path / "xdg" / "p2p" / "node"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


@pytest.mark.parametrize("value", [-(2**63) - 1, 2**64, 2**200, -(2**300)])
def test_ints_the_wire_cannot_carry_are_refused(tmp_path, value):
    """msgpack (and so the wire) carries ints in [-2**63, 2**64); the store refuses others up front."""
    from p2p.errors import InvalidValue

    with SqliteStore.open(tmp_path) as db:
        with pytest.raises(InvalidValue):
            db.put(Record(1, value, 0.0, 10.0))
        assert len(db) == 0
