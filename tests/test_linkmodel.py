"""Unit tests of the pure link model (p2p.linkmodel)."""

from __future__ import annotations

import ast
import math
import os
import random
import statistics
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import p2p.linkmodel as lm
from p2p.errors import ConfigError
from p2p.linkmodel import (
    ConstantLatency,
    LatencyMatrix,
    LatencyModel,
    LinkModel,
    LognormalLatency,
    Partition,
    UniformLatency,
    address_region,
    source_seed,
)

A = ("127.0.0.1", 4000)
B = ("127.0.0.2", 4000)
C = ("127.0.0.3", 4000)
D = ("127.0.0.4", 4000)


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConstantLatency(-0.1),
        lambda: ConstantLatency(math.inf),
        lambda: ConstantLatency(math.nan),
        lambda: UniformLatency(-1, 1),
        lambda: UniformLatency(0.2, 0.1),
        lambda: LognormalLatency(0, 0.5),
        lambda: LognormalLatency(0.05, -1),
        lambda: LatencyMatrix(()),
        lambda: LatencyMatrix(((0.1, 0.2),)),
        lambda: LatencyMatrix(((0.1, -0.2), (0.1, 0.1))),
        lambda: LatencyMatrix((("x",),)),
        lambda: LatencyMatrix(((0.1,),), jitter=-1),
        lambda: LinkModel(loss=-0.1),
        lambda: LinkModel(loss=1.5),
        lambda: LinkModel(duplicate=2),
        lambda: LinkModel(reorder=-1),
        lambda: LinkModel(reorder_delay=-0.01),
        lambda: LinkModel(reorder_delay=math.inf),
        lambda: LinkModel(loss=True),
        lambda: LinkModel(latency=0.01),  # type: ignore[arg-type]
        lambda: Partition.of([A, B], [B, C]),
    ],
)
def test_bad_parameters_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_config_error_is_a_value_error_naming_the_field():
    with pytest.raises(ValueError, match="loss"):
        LinkModel(loss=7)


def test_models_are_frozen_and_hashable():
    m = LinkModel(latency=UniformLatency(0.01, 0.02), loss=0.1)
    with pytest.raises(AttributeError):
        m.loss = 0.2  # type: ignore[misc]
    assert m == LinkModel(latency=UniformLatency(0.01, 0.02), loss=0.1)
    assert hash(m) == hash(LinkModel(latency=UniformLatency(0.01, 0.02), loss=0.1))
    assert isinstance(ConstantLatency(0.1), LatencyModel)
    assert LinkModel().latency == ConstantLatency(0.01)


# --------------------------------------------------------------------------------------------- latency


def test_constant_latency_draws_nothing():
    rng = random.Random(1)
    state = rng.getstate()
    assert LinkModel(latency=ConstantLatency(0.25)).deliveries(rng, A, B) == (0.25,)
    assert rng.getstate() == state


def test_uniform_latency_bounds_and_spread():
    rng = random.Random(2)
    model = UniformLatency(0.01, 0.03)
    xs = [model.sample(rng, A, B) for _ in range(2000)]
    assert all(0.01 <= x <= 0.03 for x in xs)
    assert 0.019 < statistics.fmean(xs) < 0.021


def test_lognormal_latency_median_and_tail():
    rng = random.Random(3)
    model = LognormalLatency(median=0.05, sigma=0.5)
    xs = sorted(model.sample(rng, A, B) for _ in range(10_000))
    assert all(x > 0 for x in xs)
    assert 0.047 < xs[5000] < 0.053
    # 99th percentile of a lognormal is median * exp(2.326 * sigma) ~ 3.2 x median
    assert 0.13 < xs[9900] < 0.19
    assert LognormalLatency(0.05, 0.0).sample(rng, A, B) == pytest.approx(0.05)


def test_latency_matrix_by_region():
    matrix = ((0.001, 0.100, 0.200), (0.100, 0.002, 0.300), (0.200, 0.300, 0.003))
    model = LatencyMatrix(matrix)
    assert model.regions == 3
    addrs = [(f"127.0.0.{i}", 4000) for i in range(1, 40)]
    for a in addrs:
        expected = zlib.crc32(f"{a[0]}:{a[1]}".encode()) % 3
        assert model.region(a) == address_region(a, 3) == expected
    assert {model.region(a) for a in addrs} == {0, 1, 2}
    rng = random.Random(0)
    state = rng.getstate()
    for a in addrs[:10]:
        for b in addrs[:10]:
            assert model.sample(rng, a, b) == matrix[model.region(a)][model.region(b)]
    assert rng.getstate() == state  # no jitter: no draws


def test_latency_matrix_accepts_lists_and_jitter():
    model = LatencyMatrix([[0.01, 0.02], [0.03, 0.04]], jitter=0.005)  # type: ignore[arg-type]
    assert model.matrix == ((0.01, 0.02), (0.03, 0.04))
    rng = random.Random(5)
    base = model.matrix[model.region(A)][model.region(B)]
    xs = [model.sample(rng, A, B) for _ in range(500)]
    assert all(base <= x <= base + 0.005 for x in xs)
    assert len(set(xs)) > 400


# ------------------------------------------------------------------------------------------- partition


def test_partition_blocks_between_groups_only():
    p = Partition.of([A, B], [C])
    assert p.blocks(A, C) and p.blocks(C, A) and p.blocks(B, C)
    assert not p.blocks(A, B) and not p.blocks(B, A)
    assert not p.blocks(A, A) and not p.blocks(C, C)
    # D is in no group: it reaches everyone and everyone reaches it
    for x in (A, B, C):
        assert not p.blocks(D, x) and not p.blocks(x, D)
    assert p.group_of(A) == p.group_of(B) == 0 and p.group_of(C) == 1 and p.group_of(D) is None
    assert p and not Partition()


def test_empty_partition_blocks_nothing():
    p = Partition()
    assert not p.blocks(A, B)
    assert Partition.of() == p


def test_partition_single_group_isolates_nobody_from_unlisted():
    p = Partition.of([A])
    assert not p.blocks(A, B) and not p.blocks(B, A)


def test_partition_equality_ignores_index():
    assert Partition.of([A, B], [C]) == Partition.of([B, A], [C])
    assert hash(Partition.of([A, B], [C])) == hash(Partition.of([B, A], [C]))


# ------------------------------------------------------------------------------------------ deliveries


def test_perfect_link():
    rng = random.Random(0)
    assert all(LinkModel.perfect(0.02).deliveries(rng, A, B) == (0.02,) for _ in range(100))


def test_total_loss_delivers_nothing():
    rng = random.Random(0)
    m = LinkModel(loss=1.0)
    assert all(m.deliveries(rng, A, B) == () for _ in range(1000))


def test_loss_rate_is_respected():
    rng = random.Random(42)
    m = LinkModel(loss=0.1)
    lost = sum(1 for _ in range(10_000) if not m.deliveries(rng, A, B))
    # binomial(10000, 0.1): sd = 30; allow 5 sd
    assert 850 <= lost <= 1150


def test_duplication_gives_two_copies():
    rng = random.Random(0)
    m = LinkModel(latency=UniformLatency(0.01, 0.02), duplicate=1.0)
    for _ in range(100):
        d = m.deliveries(rng, A, B)
        assert len(d) == 2 and all(0.01 <= x <= 0.02 for x in d)
    m2 = LinkModel(duplicate=0.2)
    dup = sum(1 for _ in range(10_000) if len(m2.deliveries(rng, A, B)) == 2)
    assert 1800 <= dup <= 2200


def test_reorder_adds_bounded_extra_delay():
    rng = random.Random(7)
    m = LinkModel(latency=ConstantLatency(0.01), reorder=0.3, reorder_delay=0.5)
    delays = [m.deliveries(rng, A, B)[0] for _ in range(10_000)]
    held = [d for d in delays if d > 0.01]
    assert all(0.01 <= d <= 0.51 for d in delays)
    assert 2700 <= len(held) <= 3300
    assert statistics.fmean(held) == pytest.approx(0.26, abs=0.02)


def test_draw_order_is_as_documented():
    """Replay the documented draw sequence by hand with a twin generator."""
    m = LinkModel(latency=UniformLatency(0.0, 1.0), loss=0.3, duplicate=0.4, reorder=0.5, reorder_delay=2.0)
    rng, twin = random.Random(99), random.Random(99)

    def copy_delay() -> float:
        d = twin.uniform(0.0, 1.0)
        if twin.random() < 0.5:
            d += twin.uniform(0.0, 2.0)
        return d

    for _ in range(2000):
        if twin.random() < 0.3:
            expected: tuple[float, ...] = ()
        else:
            first = copy_delay()
            expected = (first, copy_delay()) if twin.random() < 0.4 else (first,)
        assert m.deliveries(rng, A, B) == expected
    assert rng.getstate() == twin.getstate()


def test_deliveries_deterministic_given_rng_state():
    m = LinkModel.terrible()
    r1, r2 = random.Random(source_seed(5, A)), random.Random(source_seed(5, A))
    seq1 = [m.deliveries(r1, A, B) for _ in range(500)]
    seq2 = [m.deliveries(r2, A, B) for _ in range(500)]
    assert seq1 == seq2
    kinds = {len(d) for d in seq1}
    assert kinds == {0, 1, 2}
    r3 = random.Random(source_seed(6, A))
    assert [m.deliveries(r3, A, B) for _ in range(500)] != seq1


@settings(max_examples=200, deadline=None)
@given(
    loss=st.floats(0, 1),
    duplicate=st.floats(0, 1),
    reorder=st.floats(0, 1),
    reorder_delay=st.floats(0, 10),
    low=st.floats(0, 1),
    width=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_deliveries_are_well_formed(loss, duplicate, reorder, reorder_delay, low, width, seed):
    m = LinkModel(UniformLatency(low, low + width), loss, duplicate, reorder, reorder_delay)
    rng = random.Random(seed)
    for _ in range(20):
        d = m.deliveries(rng, A, B)
        assert len(d) in (0, 1, 2)
        assert all(low <= x <= low + width + reorder_delay + 1e-12 for x in d)
        if loss == 0:
            assert d
        if loss == 1:
            assert d == ()


# ----------------------------------------------------------------------------------- seeds and purity


def test_source_seed_is_stable_across_processes():
    assert source_seed(3, ("127.0.0.1", 4000)) == "3:127.0.0.1:4000"
    code = (
        "import random; from p2p.linkmodel import source_seed, address_region; "
        "print(random.Random(source_seed(3, ('127.0.0.1', 4000))).random(), "
        "address_region(('127.0.0.1', 4000), 7))"
    )
    outs = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        outs.add(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    here = f"{random.Random(source_seed(3, ('127.0.0.1', 4000))).random()} {address_region(('127.0.0.1', 4000), 7)}\n"
    assert outs == {here}


def test_linkmodel_is_pure():
    tree = ast.parse(Path(lm.__file__).read_text())
    allowed = {"__future__", "math", "zlib", "collections.abc", "dataclasses", "typing"}
    runtime_imports: set[str] = set()
    for node in tree.body:  # module level, outside `if TYPE_CHECKING:`
        if isinstance(node, ast.Import):
            runtime_imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            runtime_imports.add(node.module or "")
    assert runtime_imports <= allowed, runtime_imports - allowed
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            assert node.module in {"errors", "wire"}
    # no calls into the `random` module (it is imported for type checking only): randomness is injected
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert not (isinstance(node.func.value, ast.Name) and node.func.value.id == "random"), ast.dump(
                node
            )
