"""On the frontend tests' integer MLP, conv and recurrent nets and on cnn_sinabs.nir quantized, every population's
raster from `fast` and from `cycle` equals `reference` (T = 100, several seeds and placements, single- and
multi-chip targets). cnn_sinabs.nir is the N-MNIST CNN of the NIR paper (Pedersen et al., Nature Communications
15:8122, 2024), from the public repository neuromorphs/NIR, folder paper/; the test skips where it is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.ir.reference import run_reference
from tests.frontend import models
from tests.simulator.noc_helpers import placed

SINABS = Path("/work/shared/data/nir_paper/cnn_sinabs.nir")


def check_all(graph, x, target, seed, shuffle=True):
    ref = run_reference(graph, x)
    fast = spikemesh.simulate(graph, x, engine="fast")
    cyc = spikemesh.simulate(placed(graph, target, seed, shuffle), x, engine="cycle")
    for k in ref.spikes:
        np.testing.assert_array_equal(fast.spikes[k], ref.spikes[k], err_msg=f"fast {k}")
        np.testing.assert_array_equal(cyc.spikes[k], ref.spikes[k], err_msg=f"cycle {k}")
    assert sum(int(v.sum()) for v in ref.spikes.values()) > 0
    return cyc


@pytest.mark.parametrize("seed,target", [(0, "tianjic"), (1, "tianjic:2x2"), (2, "loihi:2x1")])
@pytest.mark.parametrize("build", ["mlp", "conv_net", "recurrent"])
def test_frontend_models(build, seed, target):
    g = getattr(models, build)(seed=seed, quantized=True)
    x = models.spikes(g, steps=100, batch=2, seed=seed)
    check_all(g, x, target, seed)


def test_cnn_sinabs_quantized_multichip():
    if not SINABS.is_file():
        pytest.skip("cnn_sinabs.nir not available")
    g, _ = spikemesh.quantize(spikemesh.load(SINABS), weight_bits=8, state_bits=16)
    x = (np.random.default_rng(0).random((100, 1, *g.inputs[0].shape)) < 0.05).astype(np.float64)
    cyc = check_all(g, x, "tianjic:2x2", seed=0)
    assert cyc.stats["noc"]["packets"] > 0
