"""The bundled demo model and inputs (spikemesh/data): loading, recorded accuracy, IR == torch, data generator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spikemesh.data.demo import (
    accuracy,
    demo_paths,
    load_demo,
    load_demo_inputs,
    predictions,
    silent_samples,
)
from spikemesh.data.demo_torch import LAYERS, params_from_graph, run_torch
from spikemesh.data.shapes import N_CLASSES, make_shapes
from spikemesh.errors import FileFormatError, SimulationError
from spikemesh.ir import Conv, Dense, SimResult
from spikemesh.ir.reference import run_reference
from spikemesh.ir.result import format_headline, headline


@pytest.fixture(scope="module")
def demo():
    return load_demo()


@pytest.fixture(scope="module")
def ref(demo):
    graph, x, _ = demo
    return run_reference(graph, x)


def test_bundled_files_are_small():
    total = sum(p.stat().st_size for p in demo_paths())
    assert total < 200 * 1024


def test_bundled_model_loads_as_integer_model(demo):
    graph, x, y = demo
    assert graph.is_quantized
    assert [i.shape for i in graph.inputs] == [(2, 16, 16)]
    assert graph.layers() == list(LAYERS)
    assert [o.source for o in graph.outputs] == ["fc"]
    assert x.dtype == np.uint8 and x.shape == (20, 64, 2, 16, 16)
    assert set(np.unique(x)) <= {0, 1}
    assert y.shape == (64,) and set(np.unique(y)) == set(range(N_CLASSES))
    for pop in graph.populations:
        n = pop.neuron
        assert (n.kind, n.reset, n.comparison, n.weight_bits, n.state_bits) == ("IF", "subtract", ">=", 8, 16)
        th = float(n.threshold)
        assert th == round(th) and 1 <= th <= 2**15 - 1
    for proj in graph.projections:
        (w,) = [op.weight for op in proj.ops if isinstance(op, (Conv, Dense))]
        assert np.array_equal(w, np.round(w)) and w.min() >= -128 and w.max() <= 127
    meta = graph.metadata
    assert meta["recipe"]["script"] == "scripts/train_demo.py"
    assert meta["recipe"]["quantization"]["weight_bits"] == 8


def test_bundled_inputs_are_the_generator_output(demo):
    # the shipped samples are exactly the held-out set named in the recipe (regenerated here independently)
    graph, x, y = demo
    b = graph.metadata["recipe"]["data"]["bundled"]
    assert b["seed"] not in (graph.metadata["recipe"]["data"]["train"]["seed"],
                             graph.metadata["recipe"]["data"]["test"]["seed"])
    x2, y2 = make_shapes(b["n"], b["seed"], T=x.shape[0], size=x.shape[-1])
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_reference_reaches_recorded_accuracy(demo, ref):
    graph, _, y = demo
    assert ref.mode == "int"
    acc = accuracy(ref, y)
    recorded = graph.metadata["accuracy"]
    assert acc == recorded["ir_reference_bundled"]
    assert acc >= 0.9  # chance is 0.25 on 4 balanced classes
    assert recorded["torch_int_test"] >= 0.9  # the 1000-sample held-out test set, integer model
    assert acc == recorded["torch_int_bundled"]
    # every class is predicted by some sample: no degenerate constant readout
    assert set(predictions(ref).tolist()) == set(range(N_CLASSES))


def test_ir_reference_equals_torch_on_bundled_inputs(demo, ref):
    graph, x, _ = demo
    out = run_torch(params_from_graph(graph), x, integer=True)
    for name in LAYERS:
        assert np.array_equal(ref.spikes[name], out[name]), name
    assert np.array_equal(ref.output, out["fc"])
    assert ref.spikes["conv1"].any() and ref.spikes["conv2"].any() and ref.spikes["fc"].any()


def test_ir_reference_equals_torch_on_dense_random_inputs(demo):
    # dense random events drive the membranes far beyond the training regime (and into int16 saturation):
    # the two implementations must still agree spike for spike
    graph, _, _ = demo
    rng = np.random.default_rng(7)
    x = (rng.random((12, 4, 2, 16, 16)) < 0.6).astype(np.uint8)
    r = run_reference(graph, x, record=list(LAYERS))
    out = run_torch(params_from_graph(graph), x, integer=True)
    for name in LAYERS:
        assert np.array_equal(r.spikes[name], out[name]), name
    assert max(int(np.abs(v).max()) for v in r.v.values()) > 1000


def test_accuracy_hand_computed():
    out = np.zeros((3, 4, 3), dtype=bool)
    out[:, 0, 2] = True                 # sample 0: counts [0, 0, 3] -> 2
    out[0, 1, 0] = out[1:, 1, 1] = True  # sample 1: counts [1, 2, 0] -> 1
    out[0, 2, 1] = out[1, 2, 2] = True   # sample 2: counts [0, 1, 1] tie -> lowest index 1
    # sample 3: no spike at all -> class 0
    res = SimResult(spikes={"fc": out}, v={}, outputs={"class": out}, engine="reference", steps=3)
    assert predictions(res).tolist() == [2, 1, 1, 0]
    assert accuracy(res, np.array([2, 1, 2, 0])) == 0.75
    assert accuracy(out, np.array([0, 0, 0, 0])) == 0.25
    assert silent_samples(res) == 1 and silent_samples(np.zeros((3, 4, 3), dtype=bool)) == 4
    rows = dict(format_headline(headline({"accuracy": 0.75, "silent_samples": 1, "batch": 4})))
    assert rows["accuracy"].startswith("75.0% (1 of 4 samples: no output spike")
    assert dict(format_headline(headline({"accuracy": 0.75, "silent_samples": 0})))["accuracy"] == "75.0%"
    with pytest.raises(SimulationError, match="labels"):
        accuracy(res, np.array([1, 2]))
    with pytest.raises(SimulationError, match="no output"):
        accuracy(SimResult(spikes={}, v={}, outputs={}, engine="reference", steps=3), np.zeros(4))


def test_corrupt_inputs_file_fails_clearly(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip file")
    with pytest.raises(FileFormatError, match="bad.npz"):
        load_demo_inputs(p)
    with pytest.raises(FileFormatError, match="not found"):
        load_demo_inputs(tmp_path / "missing.npz")
    np.savez(tmp_path / "mismatch.npz", inputs=np.zeros((2, 3, 2, 16, 16), np.uint8), labels=np.zeros(5))
    with pytest.raises(FileFormatError, match="disagree"):
        load_demo_inputs(tmp_path / "mismatch.npz")


def test_shapes_generator_is_deterministic():
    a, la = make_shapes(12, seed=5, T=10)
    b, lb = make_shapes(12, seed=5, T=10)
    assert a.tobytes() == b.tobytes() and la.tobytes() == lb.tobytes()
    c, _ = make_shapes(12, seed=6, T=10)
    assert not np.array_equal(a, c)
    assert a.shape == (10, 12, 2, 16, 16) and a.dtype == np.uint8
    assert np.bincount(la, minlength=N_CLASSES).tolist() == [3, 3, 3, 3]


def _centroid(ev: np.ndarray, axis: int) -> np.ndarray:
    """Mean coordinate along ``axis`` (0 = y, 1 = x) of events per step, NaN on empty steps."""
    coords = np.arange(ev.shape[-1])
    n = ev.sum(axis=(1, 2)).astype(float)
    s = (ev.sum(axis=2 - axis) * coords).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / n


def test_shapes_classes_have_their_described_motion():
    x, y = make_shapes(40, seed=11, T=20, p_noise=0.0, p_drop=0.0)
    for i, label in enumerate(y):
        on, off = x[:, i, 0], x[:, i, 1]
        assert on.any(), i
        if label in (0, 1):  # bar sweeping right (x grows) / down (y grows)
            c = _centroid(on, axis=1 if label == 0 else 0)
            c = c[~np.isnan(c)]
            assert c[-1] > c[0], (i, label)
        elif label == 2:  # growing square: only ON events, each pixel turns on once
            assert not off.any() and on.sum(axis=0).max() == 1
        else:  # blinking disc: OFF bursts on the same pixels as ON bursts
            assert off.any() and np.array_equal(on.any(axis=0), off.any(axis=0))


def test_int16_saturation_is_part_of_the_model(demo):
    # Drive neuron conv1[0, 8, 8] far below -2**15 with the negative taps of its kernel, then up with the positive
    # taps. A saturating 16-bit membrane (state_bits = 16) recovers and fires sooner than an unbounded one; the
    # reference and the torch network must both follow the scalar model written out here.
    graph, _, _ = demo
    w = next(op.weight for op in graph.incoming("conv1")[0].ops if isinstance(op, Conv))[0]  # [2, 3, 3]
    theta = int(graph.population["conv1"].neuron.threshold)
    K = 60
    neg, pos = (K * (w < 0)).astype(np.uint8), (K * (w > 0)).astype(np.uint8)
    x = np.zeros((10, 1, 2, 16, 16), dtype=np.uint8)
    x[:4, 0, :, 7:10, 7:10] = neg
    x[4:, 0, :, 7:10, 7:10] = pos
    drive = [int((x[t, 0, :, 7:10, 7:10] * w).sum()) for t in range(10)]
    assert 4 * drive[0] < -(2**15)  # the unbounded membrane would go below the int16 range

    def scalar(lo: float, hi: float) -> list[bool]:
        v, out = 0, []
        for d in drive:
            v += d
            out.append(v >= theta)
            v = min(max(v - theta * out[-1], lo), hi)
        return out

    expect = scalar(-(2**15), 2**15 - 1)
    assert expect != scalar(-np.inf, np.inf)  # the clamp changes this neuron's spikes
    r = run_reference(graph, x)
    assert r.spikes["conv1"][:, 0, 0, 8, 8].tolist() == expect
    assert run_torch(params_from_graph(graph), x)["conv1"][:, 0, 0, 8, 8].tolist() == expect


def test_params_from_graph_rejects_other_graphs():
    from spikemesh.errors import GraphError
    from spikemesh.ir import IF, Graph, Input, Output, Population, Projection

    g = Graph(inputs=(Input("i", (3,)),), populations=(Population("p", (2,), IF(threshold=2)),),
              projections=(Projection("i->p", "i", "p", (Dense(np.ones((2, 3))),)),), outputs=(Output("o", "p"),))
    with pytest.raises(GraphError, match="conv1"):
        params_from_graph(g)


def test_every_neuron_fits_a_256_axon_core(demo):
    # the demo is compiled onto the Tianjic-like preset by default: no neuron may need more distinct presynaptic
    # neurons than one core has axons (counted structurally from the operators, zero weights included)
    import spikemesh

    axons = spikemesh.target("tianjic").core.axons
    graph, _, _ = demo
    for proj in graph.projections:
        shapes = graph.chain_shapes(proj)
        ones = [replace(op, weight=np.ones_like(op.weight)) if isinstance(op, (Conv, Dense)) else op
                for op in proj.ops]
        x = np.eye(int(np.prod(shapes[0]))).reshape(-1, *shapes[0])
        for op in ones:
            x = op.apply(x)
        fan_in = (x.reshape(x.shape[0], -1) != 0).sum(axis=0)
        assert fan_in.max() <= axons, proj.name
    assert fan_in.max() == 128  # fc reads all 8x4x4 conv2 neurons
