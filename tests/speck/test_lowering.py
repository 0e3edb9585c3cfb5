"""Lowering, discretization, readout remap, DVS layer, manual placement and config round trip."""

from __future__ import annotations

import numpy as np
import pytest

import spikemesh
from spikemesh.backends.speck.discretize import discretize_layer, sinabs_scale
from spikemesh.errors import PartitionError, TargetError
from spikemesh.ir import LIF, AvgPool2d, Conv2d, Graph, Input, Output, Population, Projection
from tests.speck.helpers import chain


def test_sinabs_scale_rule_by_hand() -> None:
    # sinabs determine_discretization_scale: |max_d / max| unless the negative side binds, then |min_d / min|
    assert sinabs_scale([-0.5, 1.0], 8) == 127.0
    assert sinabs_scale([-1.0, 0.5], 8) == 128.0
    assert sinabs_scale([-32768, 1.0], 16) == 1.0  # min_v_mem = None in sinabs -> scale 1
    w, b, th, tl, s = discretize_layer(np.array([[0.5, -0.25]]), None, 1.0, -1.0)
    assert s == 254.0 and w.tolist() == [[127.0, -64.0]] and (th, tl) == (254, -254)  # 0.5 * 254 = 127 (s_w)


def test_float_graph_discretized_with_threshold_low_minus_theta() -> None:
    g = chain([{"kind": "conv", "c": 4, "k": 3}], (2, 8, 8), weights="float", threshold=1.0)
    p = spikemesh.compile(g, "speck")
    L = p.config.layers[0]
    w = g.projections[0].ops[0].weight
    s = p.report["speck_quantization"]["layers"]["L0"]["scale"]
    assert s == min(127 / w.max() if abs(w.min()) <= w.max() * 128 / 127 else 128 / abs(w.min()), 32767.0)
    assert L.threshold_high == round(s) and L.threshold_low == -round(s)
    assert np.array_equal(L.weight, np.rint(w * s))
    # sinabs' min_v_mem=None behaviour: threshold pair (-2^15, θ) gives scale 1
    p16 = spikemesh.compile(g, "speck", speck_min_v_mem="int16")
    assert p16.report["speck_quantization"]["layers"]["L0"]["scale"] == 1.0


def test_avgpool_folded_into_next_weights_and_dvs_pooling() -> None:
    w = np.full((2, 2, 1, 1), 8.0)
    g = Graph((Input("in", (2, 64, 64)),),
              (Population("a", (2, 32, 32), spikemesh.ir.IF(threshold=4.0)),),
              (Projection("p", "in", "a", (AvgPool2d(2), Conv2d(w))),), (Output("o", "a"),))
    p = spikemesh.compile(g, "speck")
    L = p.config.layers[0]
    assert p.config.dvs.pooling == 2 and L.in_shape == (2, 32, 32)
    # AvgPool's 1/4 moved into the weights before discretization: w/4 = 2, θ = 4 -> ratio kept
    assert L.weight.max() / L.threshold_high == pytest.approx(0.5, rel=0.01)
    cfg = p.config.to_json()
    assert cfg["dvs_layer"]["pooling"] == {"x": 2, "y": 2} and cfg["dvs_layer"]["cut"] == {"x": 31, "y": 31}


def test_readout_remap_times_four() -> None:
    g = chain([{"kind": "conv", "c": 4, "k": 3}, {"kind": "dense", "c": 11}], (2, 8, 8))
    p = spikemesh.compile(g, "speck", speck_readout=True)
    out = p.config.layers[-1]
    assert out.out_shape == (41, 1, 1) and out.channels == tuple(range(0, 41, 4))  # extend_readout_layer: 11 -> 41
    orig = g.projections[1].ops[-1].weight.reshape(11, 4, 6, 6)
    assert np.array_equal(out.weight[::4], orig) and not out.weight[1::4].any()
    x = np.zeros((6, 1, 2, 8, 8), dtype=np.int64)
    x[::2, 0, 0, 3, 3] = 1
    a = p.simulate(x, engine="async")
    b = spikemesh.compile(g, "speck").simulate(x, engine="async")
    assert np.array_equal(a.spikes["L1"], b.spikes["L1"])  # remapped channels come back as classes
    with pytest.raises(PartitionError, match="15 classes"):
        spikemesh.compile(chain([{"kind": "dense", "c": 16}], (2, 4, 4)), "speck", speck_readout=True)


def test_lif_rejected_and_manual_mapping_checked() -> None:
    g = Graph((Input("in", (2, 8, 8)),), (Population("a", (2, 8, 8), LIF(0.5)),),
              (Projection("p", "in", "a", (Conv2d(np.ones((2, 2, 1, 1))),)),), (Output("o", "a"),))
    with pytest.raises(TargetError, match="a: target speck does not support LIF"):
        spikemesh.compile(g, "speck")
    # H, W = 40 round up to 64: 32 * 64 * 64 = 128Ki neuron entries
    big = chain([{"kind": "conv", "c": 32, "k": 3, "p": 1}], (2, 40, 40))
    with pytest.raises(PartitionError, match="neuron memory"):
        spikemesh.compile(big, "speck")
    ok = chain([{"kind": "conv", "c": 16, "k": 3, "p": 1}], (2, 40, 40))  # 16 * 64 * 64 = 64Ki: cores 0-2 only
    assert spikemesh.compile(ok, "speck", layer2core={"L0": 2}).config.cores == (2,)
    with pytest.raises(PartitionError, match="L0: does not fit core 7: neuron memory"):
        spikemesh.compile(ok, "speck", layer2core={"L0": 7})


def test_config_round_trip_and_other_targets_untouched(tmp_path) -> None:
    g = chain([{"kind": "conv", "c": 4, "k": 3, "p": 1}, {"kind": "conv", "c": 4, "k": 3, "s": 2}], (2, 16, 16))
    p = spikemesh.compile(g, "speck", seed=3)
    p.save(tmp_path / "b")
    q = spikemesh.Program.load(tmp_path / "b")
    assert q.config.to_json() == p.config.to_json()
    assert spikemesh.compile(g, "speck", seed=3).config.to_json() == p.config.to_json()  # deterministic
    assert "speck" not in spikemesh.compile(g, "tianjic").report
