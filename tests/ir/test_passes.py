"""BatchNorm folding and quantization passes."""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.errors import GraphError
from spikemesh.ir import (
    IF,
    LIF,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    CubaLIF,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Integrator,
    Output,
    Population,
    Scale,
    SumPool2d,
)
from spikemesh.ir import Projection as Proj
from spikemesh.ir.passes import discretization_scale, fold_batchnorm, quantize, signed_range
from spikemesh.ir.reference import apply_ops, run_reference


def bn(c, rng):
    return BatchNorm(rng.normal(size=c), rng.random(c) + 0.5, rng.normal(size=c), rng.normal(size=c), eps=1e-3)


# --- BatchNorm folding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("ops_fn, folded_len", [
    (lambda r: [Dense(r.normal(size=(6, 5)), r.normal(size=6)), bn(6, r)], 1),
    (lambda r: [Dense(r.normal(size=(6, 5))), Identity(), bn(6, r)], 2),
    (lambda r: [Conv2d(r.normal(size=(4, 2, 3, 3)), padding=1, groups=2), bn(4, r), SumPool2d(2)], 2),
    (lambda r: [Conv2d(r.normal(size=(4, 4, 3, 3)), r.normal(size=4), stride=2), bn(4, r)], 1),
])
def test_fold_batchnorm_is_exact(ops_fn, folded_len):
    rng = np.random.default_rng(0)
    ops = ops_fn(rng)
    in_shape = (5,) if isinstance(ops[0], Dense) else (4, 6, 6)
    shp = in_shape
    for op in ops:
        shp = op.out_shape(shp)
    g = Graph([Input("in", in_shape)], [Population("p", shp, IF())], [Proj("pr", "in", "p", ops)], [])
    f = fold_batchnorm(g)
    new = f.projection["pr"].ops
    assert len(new) == folded_len and not any(isinstance(o, BatchNorm) for o in new)
    x = rng.normal(size=(3, *in_shape))
    np.testing.assert_allclose(apply_ops(new, x), apply_ops(ops, x), rtol=1e-10, atol=1e-10)
    assert g.projection["pr"].ops == tuple(ops)  # the input graph is unchanged


def test_unfoldable_batchnorm_is_kept_and_quantize_refuses():
    rng = np.random.default_rng(1)
    # BN after a pooling op: the shift would be counted per window tap, so it is not folded
    ops = [Conv2d(rng.normal(size=(2, 1, 3, 3)), padding=1), SumPool2d(2), bn(2, rng)]
    g = Graph([Input("in", (1, 4, 4))], [Population("p", (2, 2, 2), IF())], [Proj("pr", "in", "p", ops)], [])
    f = fold_batchnorm(g)
    assert isinstance(f.projection["pr"].ops[-1], BatchNorm)
    with pytest.raises(GraphError, match=r"^pr: BatchNorm cannot be folded"):
        quantize(g)


# --- quantization ---------------------------------------------------------------------------------------
def test_discretization_scale_rule():
    # sinabs rule: max_d / max(x) unless the negative side binds (min_d / min(x))
    assert discretization_scale(np.array([-1.0, 2.0]), 8) == 127 / 2
    assert discretization_scale(np.array([-4.0, 2.0]), 8) == 128 / 4
    assert discretization_scale(np.zeros(3), 8) == np.inf
    assert signed_range(8) == (-128, 127) and signed_range(16) == (-32768, 32767)


def int_mlp(seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    return Graph(
        [Input("in", (6,))],
        [Population("h", (8,), IF(5, reset="subtract")), Population("o", (3,), IF(7, reset="zero"))],
        [Proj("in_h", "in", "h", [Dense(rng.integers(-4, 6, size=(8, 6)).astype(float))]),
         Proj("h_o", "h", "o", [Dense(rng.integers(-3, 5, size=(3, 8)).astype(float), bias=[1.0, 0.0, -1.0])])],
        [Output("out", "o")],
    )


def test_integer_model_is_unchanged():
    g = int_mlp()
    q, rep = quantize(g)
    assert {k: v["scale"] for k, v in rep.items()} == {"h": 1.0, "o": 1.0}
    assert all(v["source"] == "integer" for v in rep.values())
    assert q.projections == g.projections
    for p in g.populations:
        n, nq = p.neuron, q.population[p.name].neuron
        assert nq == n.replace(weight_bits=8, state_bits=16, v_min=-32768.0, v_max=32767.0)
    assert q.is_quantized and not g.is_quantized
    x = (np.random.default_rng(1).random((40, 4, 6)) < 0.5).astype(np.int64)
    a, b = run_reference(g, x.astype(float), mode="float"), run_reference(q, x)
    assert b.mode == "int"
    for k in a.spikes:
        assert np.array_equal(a.spikes[k], b.spikes[k])


def test_integer_model_rescaled_when_asked():
    g = int_mlp()
    q, rep = quantize(g, keep_integer=False)
    w = g.projection["in_h"].ops[0].weight
    assert rep["h"]["scale"] == pytest.approx(min(127 / w.max(), 128 / -w.min()))
    assert rep["h"]["source"] == "weights"


def test_float_if_model_keeps_spikes_when_scale_is_exact():
    # weights are multiples of 1/64 with max |w| = 127/64, so the chosen scale is 64: rounding is exact and
    # IF/subtract spikes must be identical in int mode
    rng = np.random.default_rng(2)
    w1 = rng.integers(-100, 100, size=(10, 6)) / 64.0
    w1[0, 0] = 127 / 64
    g = Graph([Input("in", (6,))], [Population("h", (10,), IF(1.0))],
              [Proj("in_h", "in", "h", [Dense(w1)])], [Output("o", "h")])
    q, rep = quantize(g)
    assert rep["h"]["scale"] == 64.0
    assert q.population["h"].neuron.threshold == 64
    x = (rng.random((50, 3, 6)) < 0.4).astype(np.int64)
    assert np.array_equal(run_reference(g, x.astype(float)).spikes["h"], run_reference(q, x).spikes["h"])


def random_float_net(seed) -> Graph:
    rng = np.random.default_rng(seed)
    return Graph(
        [Input("in", (2, 6, 6))],
        [Population("c", (3, 3, 3), LIF(0.8, 0.7, leak=0.01)),
         Population("h", (5,), CubaLIF(0.6, 0.9, 1.3, gain=0.5, syn_gain=1.5)),
         Population("o", (4,), Integrator())],
        [Proj("conv", "in", "c", [Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3) * 3, padding=1),
                                  AvgPool2d(2)]),
         Proj("fc", "c", "h", [Flatten(), Dense(rng.normal(size=(5, 27)) * 0.3)]),
         Proj("out", "h", "o", [Dense(rng.normal(size=(4, 5)) * 2)])],
        [Output("y", "o")],
    )


@pytest.mark.parametrize("wb, sb", [(8, 16), (4, 8), (2, 6)])
def test_quantized_values_within_bit_widths(wb, sb):
    g = random_float_net(3)
    q, rep = quantize(g, weight_bits=wb, state_bits=sb)
    lo_w, hi_w = signed_range(wb)
    lo_s, hi_s = signed_range(sb)
    for pr in q.projections:
        for op in pr.ops:
            assert not isinstance(op, AvgPool2d)
            if op.weighted:
                w = getattr(op, "weight", getattr(op, "factor", None))
                assert np.all(w == np.round(w)) and w.min() >= lo_w and w.max() <= hi_w
                b = getattr(op, "bias", None)
                if b is not None:
                    assert np.all(b == np.round(b)) and b.min() >= lo_s and b.max() <= hi_s
    for p in q.populations:
        n = p.neuron
        assert (n.weight_bits, n.state_bits) == (wb, sb)
        assert lo_s <= n.v_min and n.v_max <= hi_s
        for arr in (n.threshold, n.leak, n.v_reset):
            assert np.all(arr == np.round(arr)) and arr.min() >= lo_s and arr.max() <= hi_s
        assert np.all(n.gain == 1) and np.all(n.syn_gain == 1)
        assert np.all(n.beta * 4096 == np.round(n.beta * 4096))
        assert rep[p.name]["weight_bits"] == wb and rep[p.name]["scale"] > 0
    x = (np.random.default_rng(4).random((20, 2, 2, 6, 6)) < 0.3).astype(np.int64)
    r = run_reference(q, x)  # runs in int mode without any non-integer error
    assert r.mode == "int"
    for v in r.v.values():
        assert v.min() >= lo_s and v.max() <= hi_s


def test_quantized_float_net_tracks_float_run():
    g = random_float_net(5)
    q, rep = quantize(g, weight_bits=8, state_bits=16)
    x = (np.random.default_rng(6).random((30, 4, 2, 6, 6)) < 0.3).astype(np.int64)
    a, b = run_reference(g, x.astype(float)), run_reference(q, x)
    # 8-bit weights: the conv layer's spike count stays within a few percent
    sa, sb = a.spikes["c"].sum(), b.spikes["c"].sum()
    assert sa > 50 and abs(sa - sb) / sa < 0.1
    # Integrator readout comes out multiplied by its scale
    ya, yb = a.output, b.output / rep["o"]["scale"]
    assert np.corrcoef(ya.reshape(-1), yb.reshape(-1))[0, 1] > 0.95


def test_avgpool_becomes_sumpool_exactly():
    g = Graph([Input("in", (1, 4, 4))], [Population("p", (1, 2, 2), IF(0.5, reset="zero"))],
              [Proj("pool", "in", "p", [AvgPool2d((2, 2))])], [Output("o", "p")])
    q, rep = quantize(g)
    ops = q.projection["pool"].ops
    assert [type(o) for o in ops] == [SumPool2d, Scale]
    assert rep["p"]["scale"] == 127 / 0.25 and ops[1].factor == 127
    assert q.population["p"].neuron.threshold == 254
    x = (np.random.default_rng(0).random((30, 2, 1, 4, 4)) < 0.4).astype(np.int64)
    assert np.array_equal(run_reference(g, x.astype(float)).spikes["p"], run_reference(q, x).spikes["p"])


def test_gain_is_folded_into_weights():
    w = np.array([[1.0, -2.0], [3.0, 1.0], [2.0, 2.0]])
    gain = np.array([1.0, 2.0, 3.0])
    g = Graph([Input("in", (2,))], [Population("p", (3,), IF(4, gain=gain))],
              [Proj("pr", "in", "p", [Dense(w, bias=[1.0, 1.0, 1.0])])], [Output("o", "p")])
    q, rep = quantize(g)
    d = q.projection["pr"].ops[0]
    assert rep["p"]["scale"] == 1.0
    assert np.array_equal(d.weight, w * gain[:, None]) and np.array_equal(d.bias, gain)
    assert np.all(q.population["p"].neuron.gain == 1)
    x = np.random.default_rng(0).integers(0, 2, size=(20, 2, 2))
    assert np.array_equal(run_reference(g, x.astype(float)).spikes["p"], run_reference(q, x).spikes["p"])
    # current-based kinds fold gain * syn_gain
    g2 = g.with_population(Population("p", (3,), CubaLIF(0.5, 0.5, 4, gain=0.5, syn_gain=4.0)))
    q2, _ = quantize(g2)
    assert np.array_equal(q2.projection["pr"].ops[0].weight, w * 2)


def test_non_spiking_source_is_rescaled():
    # Integrator A feeds Integrator B: B's weights are divided by A's scale
    rng = np.random.default_rng(7)
    w1, w2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 4))
    g = Graph([Input("in", (3,))], [Population("a", (4,), Integrator()), Population("b", (2,), Integrator())],
              [Proj("ia", "in", "a", [Dense(w1)]), Proj("ab", "a", "b", [Dense(w2)])], [Output("o", "b")])
    q, rep = quantize(g, weight_bits=12, state_bits=32)
    sa, sb = rep["a"]["scale"], rep["b"]["scale"]
    w2q = q.projection["ab"].ops[0].weight
    np.testing.assert_allclose(w2q, np.rint(w2 * sb / sa))
    x = rng.integers(0, 2, size=(5, 1, 3))
    ya, yb = run_reference(g, x.astype(float)).output, run_reference(q, x).output / sb
    np.testing.assert_allclose(yb, ya, rtol=0.02, atol=0.02 * np.abs(ya).max())


def test_network_scale_and_given_scales():
    g = random_float_net(8)
    _, rep_l = quantize(g)
    _, rep_n = quantize(g, per="network")
    s = min(v["scale"] for v in rep_l.values())
    assert all(v["scale"] == s and v["source"] == "network" for v in rep_n.values())
    # an explicit scale that is too large saturates and is reported
    q, rep = quantize(g, scales={"c": 1e4})
    assert rep["c"]["source"] == "given" and rep["c"]["scale"] == 1e4
    assert rep["c"]["clipped"] > 0 and any("saturated" in w for w in rep["c"]["warnings"])
    assert q.projection["conv"].ops[0].weight.max() == 127


def test_threshold_rounding_to_zero_warns():
    g = Graph([Input("in", (2,))], [Population("p", (1,), IF(1e-4))],
              [Proj("pr", "in", "p", [Dense([[100.0, -3.0]])])], [])
    q, rep = quantize(g)
    assert any("threshold rounds to 0" in w for w in rep["p"]["warnings"])
    assert float(q.population["p"].neuron.threshold.min()) == 1.0


def test_quantize_argument_errors():
    g = int_mlp()
    with pytest.raises(GraphError, match="weight_bits must be an integer"):
        quantize(g, weight_bits=1)
    with pytest.raises(GraphError, match="granularity"):
        quantize(g, per="channel")
    with pytest.raises(GraphError, match=r"^zz: scale given for an unknown population"):
        quantize(g, scales={"zz": 2.0})
    two = Graph([Input("in", (2,))], [Population("p", (2,), IF())],
                [Proj("pr", "in", "p", [Dense(np.eye(2) * 0.5), Scale(0.3)])], [])
    with pytest.raises(GraphError, match=r"^pr: several weighted operators"):
        quantize(two)


def test_quantized_graph_round_trips(tmp_path):
    q, _ = quantize(random_float_net(9))
    q.save(tmp_path / "q.smg")
    q2 = Graph.load(tmp_path / "q.smg")
    assert q2 == q and q2.is_quantized
    assert q2.metadata["quantization"]["c"]["source"] in ("weights", "state")
