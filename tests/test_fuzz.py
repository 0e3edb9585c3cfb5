"""Fuzzing the entry paths: hypothesis mutates valid ``.smg``, ``.nir``, target TOML and input files
(truncation, flipped and inserted bytes, values replaced by other types, shapes, NaN / inf / huge numbers) and
every outcome must be success or a SpikemeshError with a one-line message, within a time bound. The examples are
bounded (``max_examples``) and each has a deadline, so the suite stays fast."""

from __future__ import annotations

import copy
import json
import math
import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.errors import SpikemeshError
from spikemesh.ir import (
    IF,
    LIF,
    Conv2d,
    Dense,
    Flatten,
    Graph,
    Input,
    Integrator,
    Output,
    Population,
    Projection,
    SumPool2d,
)
from spikemesh.ir.serialize import FORMAT, FORMAT_VERSION, graph_to_parts, write_archive
from spikemesh.simulate import simulate
from spikemesh.target.registry import load_target_toml, resources_summary, target_from_dict

FUZZ = settings(max_examples=60, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def graph() -> Graph:
    rng = np.random.default_rng(0)
    return Graph(
        inputs=(Input("in", (2, 6, 6)),),
        populations=(Population("c1", (3, 6, 6), LIF(0.875)), Population("p", (27,), IF()),
                     Population("o", (3,), Integrator())),
        projections=(Projection("a", "in", "c1", (Conv2d(rng.integers(-3, 4, (3, 2, 3, 3)).astype(float),
                                                          padding=1),)),
                     Projection("b", "c1", "p", (SumPool2d(2), Flatten())),
                     Projection("c", "p", "o", (Dense(rng.integers(-3, 4, (3, 27)).astype(float)),))),
        outputs=(Output("out", "o"),),
    )


def outcome(fn: Callable[[], Any]) -> Any:
    """Run ``fn``: success, or a SpikemeshError with a one-line message; anything else fails the test."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except SpikemeshError as e:
        msg = str(e)
        assert msg and "\n" not in msg, repr(msg)
        return None


# values that replace a field: wrong types, non-finite and extreme numbers, wrong shapes
ODD_VALUES = st.sampled_from([
    None, True, False, 0, -1, 1, 2, 3, 7, 2**31, 2**63, 10**30, -10**12, 0.5, -0.5, 1.5, 1e-300, 1e300,
    float("nan"), float("inf"), float("-inf"), "", "x", "fast", "LIF", "1e3", [], [0], [-1], [1, 2], ["a"],
    [[1, 2], [3]], [10**6, 10**6], [2.5], {}, {"a": 1}, {"kind": "IF"},
])
ODD_ARRAYS = st.sampled_from([
    np.array("text"), np.array([b"a", b"b"]), np.array([1 + 2j]), np.array([np.nan]), np.array([np.inf]),
    np.array(1e300), np.array(-1e300), np.zeros(0), np.zeros((0, 3)), np.zeros((3, 0)), np.array(0.0),
    np.array(-1.0), np.array(2.0), np.array([True]), np.ones((2, 2, 2, 2, 2)), np.arange(5.0),
    np.full(3, 2**62, dtype=np.int64), np.array([1.5, -2.5]), np.zeros((1, 1)),
])


def leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value inside nested dicts and lists."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += leaves(v, (*path, i))
    return out


def set_path(obj: Any, path: tuple, value: Any) -> None:
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def mutate_bytes(data: bytes, draw: Any) -> bytes:
    how = draw(st.sampled_from(["truncate", "flip", "insert", "zero"]))
    n = len(data)
    if how == "truncate":
        return data[: draw(st.integers(0, max(n - 1, 0)))]
    pos = draw(st.integers(0, max(n - 1, 0)))
    k = draw(st.integers(1, 64))
    if how == "flip":
        return data[:pos] + bytes(b ^ draw(st.integers(1, 255)) for b in data[pos:pos + k]) + data[pos + k:]
    if how == "zero":
        return data[:pos] + bytes(len(data[pos:pos + k])) + data[pos + k:]
    return data[:pos] + draw(st.binary(min_size=1, max_size=64)) + data[pos:]


# ------------------------------------------------------------------------------------------------ .smg
@pytest.fixture(scope="module")
def smg_parts() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    body, arrays = graph_to_parts(graph())
    return json.loads(json.dumps(body)), arrays


def _load_and_use(path: Path) -> None:
    g = spikemesh.load_model(path)
    g.summary()


@FUZZ
@given(data=st.data())
def test_fuzz_smg_structure(smg_parts: tuple, tmp_path: Path, data: st.DataObject) -> None:
    """A field of the graph structure or an array replaced (the checksum kept valid): the check that the
    mutated value reaches must refuse it cleanly."""
    body, arrays = copy.deepcopy(smg_parts[0]), dict(smg_parts[1])
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            path = data.draw(st.sampled_from(leaves(body)))
            set_path(body, path, copy.deepcopy(data.draw(ODD_VALUES)))
        else:
            arrays[data.draw(st.sampled_from(sorted(arrays)))] = data.draw(ODD_ARRAYS)
    f = tmp_path / "m.smg"
    write_archive(f, FORMAT, FORMAT_VERSION, body, arrays)
    outcome(lambda: _load_and_use(f))


@FUZZ
@given(data=st.data())
def test_fuzz_smg_bytes(tmp_path: Path, data: st.DataObject) -> None:
    f = tmp_path / "m.smg"
    graph().save(f)
    f.write_bytes(mutate_bytes(f.read_bytes(), data.draw))
    outcome(lambda: _load_and_use(f))


# ------------------------------------------------------------------------------------------------ .nir
@pytest.fixture(scope="module")
def nir_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    g = Graph(inputs=(Input("x", (4,)),), populations=(Population("h", (3,), IF(threshold=2.0, reset="zero")),),
              projections=(Projection("w", "x", "h", (Dense(np.arange(12.0).reshape(3, 4) - 5.0),)),),
              outputs=(Output("y", "h"),))
    f = tmp_path_factory.mktemp("nir") / "g.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spikemesh.save_nir(g, f)
    return f.read_bytes()


def _datasets(f: h5py.File) -> list[str]:
    out: list[str] = []
    f.visititems(lambda name, obj: out.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(out)


@FUZZ
@given(data=st.data())
def test_fuzz_nir_datasets(nir_file: bytes, tmp_path: Path, data: st.DataObject) -> None:
    """A dataset of the NIR file (a parameter, a type, a shape, the edges) replaced by another value."""
    f = tmp_path / "g.nir"
    f.write_bytes(nir_file)
    with h5py.File(f, "r+") as h:
        name = data.draw(st.sampled_from(_datasets(h)))
        value = data.draw(ODD_ARRAYS | st.sampled_from([np.array(b"Quantum"), np.array([[b"x", b"ghost"]]),
                                                        np.arange(4).reshape(2, 2)]))
        del h[name]
        if value.dtype.kind == "U":
            value = value.astype("S")
        h[name] = value
    outcome(lambda: _load_and_use(f))


@pytest.fixture
def short_nir_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrupt HDF5 file can make the library loop: the reader is stopped after 2 s instead of 30."""
    from spikemesh.frontend.nir import read

    monkeypatch.setattr(read, "READ_TIMEOUT", 2.0)


@settings(FUZZ, deadline=10000)
@given(data=st.data())
def test_fuzz_nir_bytes(nir_file: bytes, tmp_path: Path, short_nir_timeout: None, data: st.DataObject) -> None:
    f = tmp_path / "g.nir"
    f.write_bytes(mutate_bytes(nir_file, data.draw))
    outcome(lambda: _load_and_use(f))


def test_nir_reader_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HDF5 library's endless loop on a damaged heap (the corpus file nir/heap_loop.nir) ends as a one-line
    FileFormatError after the time limit."""
    from spikemesh.errors import FileFormatError
    from spikemesh.frontend.nir import read

    monkeypatch.setattr(read, "READ_TIMEOUT", 1.0)
    f = Path(__file__).resolve().parent / "corpus" / "files" / "nir" / "heap_loop.nir"
    with pytest.raises(FileFormatError, match="did not finish within"):
        spikemesh.load_model(f)


# ------------------------------------------------------------------------------------------------ TOML
TOML = """name = "chip"
family = "mesh"
clock_hz = 1e8
features = ["LIF", "IF", "Integrator", "reset_subtract", "multicast"]
[chips]
x = 2
y = 1
[chip]
cores_x = 4
cores_y = 4
[core]
neurons = 256
axons = 256
synapse_bits = 524288
weight_bits = 8
state_bits = 16
[noc]
hop_cycles = 1
buffer_flits = 4
table_entries = 64
[energy]
synop_pj = 1.0
static_mw = 2.0
"""


@FUZZ
@given(data=st.data())
def test_fuzz_target_values(data: st.DataObject) -> None:
    """A value of a target description (as the TOML reader passes it on) replaced; a target that loads has
    sane resources."""
    d = tomllib.loads(TOML)
    for _ in range(data.draw(st.integers(1, 3))):
        set_path(d, data.draw(st.sampled_from(leaves(d))), copy.deepcopy(data.draw(ODD_VALUES)))
    t = outcome(lambda: target_from_dict(d, where="chip.toml"))
    if t is not None:
        r = resources_summary(t)
        assert r["cores"] >= 1 and r["neurons"] >= 1 and math.isfinite(t.clock_hz) and t.clock_hz > 0
        assert all(math.isfinite(v) and v >= 0 for v in (t.energy.synop_pj, t.energy.static_mw))


@FUZZ
@given(data=st.data())
def test_fuzz_target_toml_bytes(tmp_path: Path, data: st.DataObject) -> None:
    f = tmp_path / "chip.toml"
    f.write_bytes(mutate_bytes(TOML.encode(), data.draw))
    outcome(lambda: load_target_toml(f))


# ------------------------------------------------------------------------------------------------ inputs
@FUZZ
@given(data=st.data())
def test_fuzz_inputs(tmp_path: Path, data: st.DataObject) -> None:
    """Input arrays of other dtypes, shapes and values, given directly and through an .npy file."""
    g = graph()
    steps = data.draw(st.integers(0, 4))
    batch = data.draw(st.integers(0, 2))
    shape = data.draw(st.sampled_from([(steps, batch, 2, 6, 6), (steps, 2, 6, 6), (steps, batch, 6, 6),
                                       (steps, batch, 2, 6, 7), (), (steps,)]))
    dtype = data.draw(st.sampled_from(["uint8", "int64", "float64", "bool", "complex128", "U1", "float32"]))
    fill = data.draw(st.sampled_from([0, 1, 3, -2, 2**40, 2**62, 1e300, float("nan"), float("inf"), 0.5]))
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = np.full(shape, fill).astype(dtype)
    except (ValueError, OverflowError, TypeError):
        x = np.full(shape, 1).astype(dtype)
    f = tmp_path / "x.npy"
    np.save(f, x)
    f.write_bytes(mutate_bytes(f.read_bytes(), data.draw) if data.draw(st.booleans()) else f.read_bytes())

    def run() -> None:
        from spikemesh.cli.commands import _load_inputs

        simulate(g, _load_inputs(str(f)), engine="reference")

    outcome(lambda: simulate(g, x, engine="reference"))
    outcome(run)


@FUZZ
@given(data=st.data())
def test_fuzz_event_lists(data: st.DataObject) -> None:
    from spikemesh.simulator.io import bin_events

    n = data.draw(st.integers(0, 5))
    pool = st.sampled_from([0, 1, 5, -1, 0.5, 1e12, float("nan"), float("inf"), 2**40])
    ev = {k: np.array([data.draw(pool) for _ in range(n)], dtype=np.float64) for k in "xypt"}
    dt = data.draw(st.sampled_from([1e-3, 0.0, -1.0, float("nan"), 1e-12]))
    out = outcome(lambda: bin_events(ev["x"], ev["y"], ev["p"], ev["t"], (2, 6, 6), dt))
    if out is not None:
        assert out.shape[1:] == (1, 2, 6, 6) and out.min() >= 0
