"""Graph save/load: round trip and every failure mode gives a one-line FileFormatError."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from spikemesh.errors import FileFormatError
from spikemesh.ir import (
    IF,
    LIF,
    AvgPool2d,
    BatchNorm,
    Conv1d,
    CubaLIF,
    Delay,
    Dense,
    Flatten,
    Graph,
    Input,
    Integrator,
    Output,
    Population,
    Scale,
    Sparse,
)
from spikemesh.ir import Projection as Proj
from spikemesh.ir.reference import run_reference
from spikemesh.ir.serialize import FORMAT_VERSION


def sample_graph() -> Graph:
    rng = np.random.default_rng(0)
    return Graph(
        [Input("in", (2, 8))],
        [
            Population("c", (3, 6), LIF(np.linspace(0.5, 0.9, 18).reshape(3, 6), 1.0, reset="zero",
                                        reset_timing="after_decay", comparison=">", refractory=2)),
            Population("h", (4,), CubaLIF(0.5, 0.75, np.array([1.0, 2.0, 3.0, 4.0]), v_min=-4.0)),
            Population("r", (4,), Integrator()),
            Population("q", (4,), IF(3, weight_bits=8, state_bits=16)),
        ],
        [
            Proj("in_c", "in", "c", [Conv1d(rng.normal(size=(3, 2, 3)), bias=rng.normal(size=3)),
                                     BatchNorm(np.zeros(3), np.ones(3), rng.random(3), rng.random(3))]),
            Proj("c_h", "c", "h", [Flatten(), Dense(rng.normal(size=(4, 18))), Delay([1, 2, 3, 1])]),
            Proj("h_h", "h", "h", [Sparse([0, 1, 2, 2, 3], [1, 2, 0], [0.5, -0.5, 0.25], 4), Delay(1)]),
            Proj("h_r", "h", "r", [Scale(np.array([1.0, 2.0, 3.0, 4.0]))]),
            Proj("h_q", "h", "q", [Dense(np.eye(4) * 3)]),
        ],
        [Output("out", "r")],
        dt=1e-4,
        metadata={"source": "test", "n": 3},
    )


def test_round_trip_identical(tmp_path):
    g = sample_graph()
    p = tmp_path / "g.smg"
    g.save(p)
    g2 = Graph.load(p)
    assert g2 == g
    assert g2.dt == 1e-4 and g2.metadata == {"source": "test", "n": 3}
    x = np.random.default_rng(1).random((10, 2, 2, 8))
    a, b = run_reference(g, x, mode="float"), run_reference(g2, x, mode="float")
    for k in a.spikes:
        assert np.array_equal(a.spikes[k], b.spikes[k])
    assert np.array_equal(a.output, b.output)
    # saving again gives the same bytes-level content (deterministic checksum)
    g2.save(tmp_path / "g2.smg")
    with np.load(p) as z1, np.load(tmp_path / "g2.smg") as z2:
        assert json.loads(z1["__meta__"].tobytes())["checksum"] == json.loads(z2["__meta__"].tobytes())["checksum"]


def test_round_trip_pooling(tmp_path):
    g = Graph([Input("in", (1, 4, 4))], [Population("p", (1, 2, 2), IF())],
              [Proj("pool", "in", "p", [AvgPool2d((2, 2))])], [])
    g.save(tmp_path / "p.smg")
    assert Graph.load(tmp_path / "p.smg") == g


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg
    return msg


def test_missing_empty_directory(tmp_path):
    with pytest.raises(FileFormatError, match="file not found") as e:
        Graph.load(tmp_path / "nope.smg")
    assert str(tmp_path / "nope.smg") in one_line(e)
    (tmp_path / "empty.smg").write_bytes(b"")
    with pytest.raises(FileFormatError, match="file is empty") as e:
        Graph.load(tmp_path / "empty.smg")
    one_line(e)
    with pytest.raises(FileFormatError, match="is a directory") as e:
        Graph.load(tmp_path)
    one_line(e)


def test_corrupt_bytes(tmp_path):
    p = tmp_path / "junk.smg"
    p.write_bytes(b"this is not a spikemesh graph\n" * 10)
    with pytest.raises(FileFormatError, match="corrupt or truncated") as e:
        Graph.load(p)
    one_line(e)
    # a truncated real file
    g = sample_graph()
    good = tmp_path / "good.smg"
    g.save(good)
    data = good.read_bytes()
    (tmp_path / "trunc.smg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="corrupt or truncated") as e:
        Graph.load(tmp_path / "trunc.smg")
    one_line(e)
    # flipped bytes in the middle of the compressed payload
    bad = bytearray(data)
    for i in range(len(bad) // 3, len(bad) // 3 + 40):
        bad[i] ^= 0xFF
    (tmp_path / "flip.smg").write_bytes(bytes(bad))
    with pytest.raises(FileFormatError) as e:
        Graph.load(tmp_path / "flip.smg")
    one_line(e)
    # a plain .npy array and an npz without header
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(FileFormatError, match="plain .npy"):
        Graph.load(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", x=np.zeros(3))
    with pytest.raises(FileFormatError, match="no header"):
        Graph.load(tmp_path / "b.npz")


def rewrite(src, dst, edit):
    """Copy the archive ``src`` to ``dst`` with its JSON header changed by ``edit(meta)``."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    edit(meta, arrays)
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    dst.write_bytes(buf.getvalue())


def test_bad_checksum(tmp_path):
    sample_graph().save(tmp_path / "g.smg")

    def tamper_weight(meta, arrays):
        k = next(k for k in arrays if k.endswith("/weight"))
        arrays[k] = arrays[k] + 1.0

    rewrite(tmp_path / "g.smg", tmp_path / "w.smg", tamper_weight)
    with pytest.raises(FileFormatError, match="checksum mismatch") as e:
        Graph.load(tmp_path / "w.smg")
    one_line(e)

    def tamper_body(meta, arrays):
        meta["body"]["dt"] = 1.0

    rewrite(tmp_path / "g.smg", tmp_path / "b.smg", tamper_body)
    with pytest.raises(FileFormatError, match="checksum mismatch"):
        Graph.load(tmp_path / "b.smg")


def test_newer_format_version(tmp_path):
    sample_graph().save(tmp_path / "g.smg")
    rewrite(tmp_path / "g.smg", tmp_path / "new.smg", lambda m, a: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(FileFormatError, match="newer spikemesh") as e:
        Graph.load(tmp_path / "new.smg")
    msg = one_line(e)
    assert f"available {FORMAT_VERSION + 1}" in msg and "upgrade" in msg
    rewrite(tmp_path / "g.smg", tmp_path / "other.smg", lambda m, a: m.update(format="something-else"))
    with pytest.raises(FileFormatError, match="not a spikemesh-graph file"):
        Graph.load(tmp_path / "other.smg")


def test_save_is_atomic(tmp_path):
    p = tmp_path / "g.smg"
    sample_graph().save(p)
    assert [f.name for f in tmp_path.iterdir()] == ["g.smg"]
    assert zipfile.is_zipfile(p)


def test_numpy_scalars_serialise(tmp_path):
    g = Graph([Input("in", (2,))],
              [Population("p", (2,), IF(np.float32(2.0), v_min=np.float64(-3.0), state_bits=np.int64(12)))],
              [Proj("pr", "in", "p", [Dense(np.eye(2))])], [Output("o", "p")],
              metadata={"epochs": np.int64(3), "acc": np.float32(0.5)})
    g.save(tmp_path / "g.smg")
    g2 = Graph.load(tmp_path / "g.smg")
    assert g2 == g
    assert type(g2.population["p"].neuron.v_min) is float and g2.population["p"].neuron.state_bits == 12
