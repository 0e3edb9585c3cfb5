"""Property tests (hypothesis): save->load identity, neuron-level CSR = one-hot application, quantization bounds."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikemesh.ir import (
    IF,
    LIF,
    AvgPool2d,
    BatchNorm,
    Conv,
    CubaLIF,
    Delay,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Integrator,
    Output,
    Population,
    Reshape,
    Scale,
    Sparse,
    SumPool2d,
)
from spikemesh.ir import Projection as Proj
from spikemesh.ir.passes import quantize, signed_range
from spikemesh.ir.reference import run_reference

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def onehot_matrix(ops, in_shape) -> np.ndarray:
    """[n_in, n_out] from applying the op chain to every one-hot input, minus its response to zero (bias)."""
    n = math.prod(in_shape)
    eye = np.eye(n).reshape((n, *in_shape))
    zero = np.zeros((1, *in_shape))
    for op in ops:
        eye, zero = op.apply(eye), op.apply(zero)
    return eye.reshape(n, -1) - zero.reshape(1, -1)


def nonzero_weights(rng, shape):
    """Random weights bounded away from zero (so structural and numerical sparsity agree)."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.25, 2.0, size=shape)


@st.composite
def conv_ops(draw, nd=None):
    nd = nd or draw(st.sampled_from([1, 2]))
    g = draw(st.sampled_from([1, 2, 3]))
    cin, cout = g * draw(st.integers(1, 2)), g * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    spatial = tuple(max(draw(st.integers(1, 7)), dd * (kk - 1) + 1 - 2 * pp) for kk, pp, dd in zip(k, p, d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bias = rng.normal(size=cout) if draw(st.booleans()) else None
    return Conv(nonzero_weights(rng, (cout, cin // g, *k)), bias, s, p, d, g), (cin, *spatial)


@st.composite
def any_op(draw):
    kind = draw(st.sampled_from(["conv", "sumpool", "avgpool", "dense", "sparse", "scale", "reshape", "identity",
                                 "delay", "batchnorm"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "conv":
        return draw(conv_ops())
    shp = (draw(st.integers(1, 3)), draw(st.integers(2, 7)), draw(st.integers(2, 7)))
    if kind in ("sumpool", "avgpool"):
        k = (draw(st.integers(1, min(3, shp[1]))), draw(st.integers(1, min(3, shp[2]))))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        return (SumPool2d if kind == "sumpool" else AvgPool2d)(k, s, p), shp
    if kind == "dense":
        n_in = draw(st.integers(1, 8))
        return Dense(nonzero_weights(rng, (draw(st.integers(1, 8)), n_in)), rng.normal(size=None)), (n_in,)
    if kind == "sparse":
        n_in, n_out = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        mask = rng.random((n_in, n_out)) < 0.4
        dense = np.where(mask, nonzero_weights(rng, (n_in, n_out)), 0.0)
        return Sparse.from_matrix(sp.csr_matrix(dense)), (n_in,)
    if kind == "scale":
        return Scale(nonzero_weights(rng, (shp[0], 1, 1))), shp
    if kind == "reshape":
        return Reshape((shp[0] * shp[1], shp[2])), shp
    if kind == "identity":
        return Identity(), shp
    if kind == "delay":
        return Delay(rng.integers(0, 3, size=shp)), shp
    c = shp[0]
    return BatchNorm(rng.normal(size=c), rng.random(c) + 0.1, nonzero_weights(rng, c), rng.normal(size=c)), shp


@SETTINGS
@given(any_op())
def test_op_csr_equals_onehot_application(op_shape):
    op, in_shape = op_shape
    out_shape = op.out_shape(in_shape)
    m = op.to_csr(in_shape)
    assert m.shape == (math.prod(in_shape), math.prod(out_shape))
    np.testing.assert_allclose(m.toarray(), onehot_matrix([op], in_shape), rtol=1e-10, atol=1e-10)
    nz = onehot_matrix([op], in_shape) != 0
    assert np.array_equal(op.fan_in(in_shape).reshape(-1), nz.sum(axis=0))
    assert np.array_equal(op.fan_out(in_shape).reshape(-1), nz.sum(axis=1))
    assert op.synapses(in_shape) == nz.sum()


# --- random graphs ----------------------------------------------------------------------------------------
@st.composite
def neurons(draw, rng, integer=False):
    kind = "IF" if integer else draw(st.sampled_from(["IF", "LIF", "CubaLIF"]))
    kw = dict(
        threshold=float(rng.integers(1, 6)) if integer else float(rng.uniform(0.5, 2.0)),
        reset=draw(st.sampled_from(["zero", "subtract", "none"])),
        comparison=draw(st.sampled_from([">=", ">"])),
        reset_timing=draw(st.sampled_from(["before_decay", "after_decay"])),
        refractory=draw(st.integers(0, 2)),
        leak=float(rng.integers(-1, 2)) if integer else float(rng.normal() * 0.05),
    )
    if draw(st.booleans()):
        kw["v_min"] = -4.0
    if kind == "IF":
        return IF(**kw)
    if kind == "LIF":
        return LIF(float(rng.uniform(0.5, 0.99)), **kw)
    return CubaLIF(float(rng.uniform(0.3, 0.9)), float(rng.uniform(0.5, 0.99)), gain=float(rng.uniform(0.5, 2)),
                   **kw)


@st.composite
def graphs(draw, integer=False):
    """Small random layer stacks (conv, BatchNorm, pooling, dense, per-element delays, delayed recurrence,
    Integrator readout). ``integer``: integer weights and IF neurons with integer parameters."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def w(size, scale=1.0):
        return rng.integers(-3, 4, size=size).astype(float) if integer else rng.normal(size=size) * scale
    shape: tuple[int, ...] = (draw(st.integers(1, 2)), draw(st.integers(4, 7)), draw(st.integers(4, 7)))
    in_shape = shape
    pops, projs = [], []
    prev = "in"
    for i in range(draw(st.integers(1, 3))):
        kinds = ["conv", "pool", "dense"] if len(shape) == 3 and min(shape[1:]) >= 3 else ["dense"]
        kind = draw(st.sampled_from(kinds))
        ops: list = []
        if kind == "conv":
            cout = draw(st.integers(1, 3))
            k = draw(st.integers(1, 3))
            pad = draw(st.integers(0, 1))
            ops.append(Conv(w((cout, shape[0], k, k)), w(cout, 0.1), 1, pad, 1, 1))
            if not integer and draw(st.booleans()):
                ops.append(BatchNorm(rng.normal(size=cout) * 0.1, rng.random(cout) + 0.5, rng.random(cout) + 0.5,
                                     rng.normal(size=cout) * 0.1))
        elif kind == "pool":
            ops.append((SumPool2d if integer or draw(st.booleans()) else AvgPool2d)((2, 2)))
        else:
            if len(shape) > 1:
                ops.append(Flatten())
            n_in = math.prod(shape)
            ops.append(Dense(w((draw(st.integers(2, 6)), n_in), 0.7), w(1) if draw(st.booleans()) else None))
        out = shape
        for op in ops:
            out = op.out_shape(out)
        if draw(st.booleans()):
            ops.append(Delay(rng.integers(0, 3, size=out) if draw(st.booleans()) else int(rng.integers(1, 3))))
        name = f"p{i}"
        pops.append(Population(name, out, draw(neurons(rng, integer))))
        projs.append(Proj(f"{prev}_{name}", prev, name, ops))
        if len(out) == 1 and draw(st.booleans()):  # recurrence, with at least one step of delay
            projs.append(Proj(f"{name}_rec", name, name, [Dense(w((out[0], out[0]), 0.5)),
                                                          Delay(int(rng.integers(1, 3)))]))
        prev, shape = name, out
    if draw(st.booleans()):
        n = math.prod(shape)
        pops.append(Population("readout", (3,), Integrator()))
        projs.append(Proj(f"{prev}_readout", prev, "readout",
                          ([Flatten()] if len(shape) > 1 else []) + [Dense(w((3, n)))]))
        prev = "readout"
    return Graph([Input("in", in_shape)], pops, projs, [Output("out", prev)], dt=1e-3)


def _trace_equal(g1: Graph, g2: Graph, x: np.ndarray, mode: str) -> None:
    a, b = run_reference(g1, x, mode=mode), run_reference(g2, x, mode=mode)
    assert a.spikes.keys() == b.spikes.keys()
    for k in a.spikes:
        assert np.array_equal(a.spikes[k], b.spikes[k])
    assert np.array_equal(a.output, b.output)


@SETTINGS
@given(graphs(), st.integers(0, 2**32 - 1))
def test_random_graph_save_load_identical(tmp_path_factory, g, seed):
    p = tmp_path_factory.mktemp("g") / "g.smg"
    g.save(p)
    g2 = Graph.load(p)
    assert g2 == g
    assert g2.summary() == g.summary()
    x = (np.random.default_rng(seed).random((6, 2, *g.inputs[0].shape)) < 0.4).astype(float)
    _trace_equal(g, g2, x, "float")


@SETTINGS
@given(graphs())
def test_random_graph_projection_csr_equals_chain(g):
    for pr in g.projections:
        shp = g.shape_of(pr.source)
        want = onehot_matrix(pr.ops, shp)
        np.testing.assert_allclose(g.projection_csr(pr).toarray(), want, rtol=1e-9, atol=1e-9)
        st_ = g.projection_stats(pr)
        assert st_["synapses"] == g.projection_csr(pr).nnz


@SETTINGS
@given(graphs(), st.sampled_from([(8, 16), (4, 10), (3, 6), (16, 24)]), st.sampled_from(["layer", "network"]))
def test_random_graph_quantization_within_bit_widths(g, bits, per):
    wb, sb = bits
    q, rep = quantize(g, weight_bits=wb, state_bits=sb, per=per)
    lo_w, hi_w = signed_range(wb)
    lo_s, hi_s = signed_range(sb)
    assert q.is_quantized and set(rep) == set(g.population)
    for pr in q.projections:
        for op in pr.ops:
            assert not isinstance(op, (AvgPool2d, BatchNorm))
            if op.weighted:
                w = getattr(op, "weight", None)
                w = getattr(op, "data", w) if w is None else w
                w = getattr(op, "factor", w) if w is None else w
                assert np.all(w == np.round(w)) and lo_w <= w.min() and w.max() <= hi_w
                b = getattr(op, "bias", None)
                if b is not None:
                    assert np.all(b == np.round(b)) and lo_s <= b.min() and b.max() <= hi_s
    for pop in q.populations:
        n = pop.neuron
        assert (n.weight_bits, n.state_bits) == (wb, sb)
        assert lo_s <= n.v_min <= n.v_max <= hi_s
        for arr in (n.threshold, n.leak, n.v_reset):
            assert np.all(arr == np.round(arr)) and lo_s <= arr.min() and arr.max() <= hi_s
    x = (np.random.default_rng(0).random((6, 2, *g.inputs[0].shape)) < 0.4).astype(np.int64)
    r = run_reference(q, x)
    assert r.mode == "int"
    rr = run_reference(q, x, record=list(q.population))
    for v in rr.v.values():
        assert lo_s <= v.min() and v.max() <= hi_s


@SETTINGS
@given(graphs(integer=True), st.integers(0, 2**32 - 1))
def test_integer_graph_quantization_is_identity(g, seed):
    q, rep = quantize(g)
    assert all(r["scale"] == 1.0 and r["source"] == "integer" for r in rep.values())
    assert q.projections == g.projections
    for p in g.populations:
        nq = q.population[p.name].neuron
        assert nq == p.neuron.replace(weight_bits=8, state_bits=16, v_min=nq.v_min, v_max=nq.v_max)
    x = (np.random.default_rng(seed).random((8, 2, *g.inputs[0].shape)) < 0.4).astype(np.int64)
    a, b = run_reference(g, x.astype(float), mode="float"), run_reference(q, x)
    assert b.mode == "int"
    for k in a.spikes:
        assert np.array_equal(a.spikes[k], b.spikes[k])
    if not q.population[q.outputs[0].source].neuron.spiking:
        assert np.array_equal(a.output, b.output)
