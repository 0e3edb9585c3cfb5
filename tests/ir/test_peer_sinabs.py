"""The reference executor against a peer framework: sinabs (IAF, LIF, current-based LIF), single-spike mode.

Mapping (docs/semantics.md §6): sinabs resets right after the spike (before_decay), fires on v >= θ, clamps
at min_v_mem after the reset, and its synaptic current is i ← α_syn·(i + x).
"""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.ir import IF, LIF, CubaLIF, Graph, Identity, Input, Output, Population
from spikemesh.ir import Projection as Proj
from spikemesh.ir.reference import run_reference

sinabs = pytest.importorskip("sinabs")
torch = pytest.importorskip("torch")
from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike  # noqa: E402

pytestmark = pytest.mark.peers

N, T, B = 16, 40, 3


def ours(neuron, x):
    g = Graph([Input("in", (N,))], [Population("p", (N,), neuron)], [Proj("pr", "in", "p", [Identity()])],
              [Output("o", "p")])
    r = run_reference(g, x.transpose(1, 0, 2).astype(np.float64), record=["p"])
    return r.spikes["p"].transpose(1, 0, 2), r.v["p"].transpose(1, 0, 2)


def theirs(layer, x):
    with torch.no_grad():
        s = layer(torch.from_numpy(x))
    return s.numpy(), layer.recordings["v_mem"].numpy()


def inputs(seed):
    # multiples of 1/16 so IAF sums are exact in float32
    return (np.random.default_rng(seed).integers(-4, 12, size=(B, T, N)) / 16.0).astype(np.float32)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_iaf_matches_sinabs(reset):
    x = inputs(0)
    layer = sinabs.layers.IAF(spike_threshold=torch.tensor(1.0), spike_fn=SingleSpike,
                              reset_fn=MembraneSubtract() if reset == "subtract" else MembraneReset(),
                              min_v_mem=-1.0, record_states=True)
    s_ref, v_ref = theirs(layer, x)
    s, v = ours(IF(1.0, reset=reset, comparison=">=", reset_timing="before_decay", v_min=-1.0), x)
    assert s_ref.sum() > 20
    assert np.array_equal(s, s_ref.astype(bool))
    np.testing.assert_allclose(v, v_ref, atol=1e-6)


def test_lif_matches_sinabs():
    x = inputs(1) * 2
    layer = sinabs.layers.LIF(tau_mem=4.0, spike_threshold=torch.tensor(1.0), spike_fn=SingleSpike,
                              norm_input=False, record_states=True)
    beta = float(layer.alpha_mem_calculated.detach())
    s_ref, v_ref = theirs(layer, x)
    s, v = ours(LIF(beta, 1.0, reset="subtract"), x)
    assert s_ref.sum() > 20
    assert np.array_equal(s, s_ref.astype(bool))
    np.testing.assert_allclose(v, v_ref, atol=1e-5)


def test_current_based_lif_matches_sinabs():
    x = inputs(2) * 2
    layer = sinabs.layers.LIF(tau_mem=4.0, tau_syn=2.0, spike_threshold=torch.tensor(1.0), spike_fn=SingleSpike,
                              norm_input=True, record_states=True)
    beta, alpha = float(layer.alpha_mem_calculated.detach()), float(layer.alpha_syn_calculated.detach())
    s_ref, v_ref = theirs(layer, x)
    s, v = ours(CubaLIF(alpha, beta, 1.0, syn_gain=alpha, gain=1 - beta), x)
    assert s_ref.sum() > 5
    assert np.array_equal(s, s_ref.astype(bool))
    np.testing.assert_allclose(v, v_ref, atol=1e-5)
