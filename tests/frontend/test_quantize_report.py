"""quantize's per-layer report (scale, clipped fraction, resulting threshold), computed by hand."""

from __future__ import annotations

import numpy as np

import spikemesh
from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from tests.frontend import models


def test_report_scale_clipped_fraction_threshold() -> None:
    w = np.array([[0.05, 0.9, -0.3], [1.2, -1.0, 0.2]])
    g = Graph((Input("in", (3,)),), (Population("l1", (2,), IF(1.0, reset="zero")),),
              (Projection("w", "in", "l1", (Dense(w),)),), (Output("o", "l1"),))
    q, rep = spikemesh.quantize(g, weight_bits=4, state_bits=8, scales={"l1": 10.0})
    r = rep["l1"]
    # x10 -> [0.5, 9, -3], [12, -10, 2]: rint, then 9, 12 clip to 7 and -10 to -8 (4-bit range [-8, 7])
    np.testing.assert_array_equal(q.projection["w"].ops[0].weight, [[0, 7, -3], [7, -8, 2]])
    assert r["scale"] == 10.0 and r["clipped"] == 3
    assert r["clipped_fraction"] == 3 / 10  # 6 weights + 2 thresholds + 2 leaks
    assert r["threshold"] == [10.0, 10.0]
    q2, rep2 = spikemesh.quantize(g, weight_bits=8, state_bits=16)
    # chosen scale: the largest s with s*max|w| <= 127 (weights bind: 127 / 1.2) -> nothing clipped
    assert rep2["l1"]["scale"] == 127 / 1.2 and rep2["l1"]["clipped_fraction"] == 0.0
    assert rep2["l1"]["threshold"] == [float(np.rint(127 / 1.2))] * 2


def test_integer_models_quantize_unchanged() -> None:
    g = models.conv_net(0)
    q, rep = spikemesh.quantize(g, 8, 16)
    assert all(rep[p]["scale"] == 1.0 and rep[p]["clipped_fraction"] == 0.0 for p in g.population)
    x = models.spikes(g, steps=30)
    a, b = run_reference(g, x), run_reference(q, x)
    assert b.mode == "int" and all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)
