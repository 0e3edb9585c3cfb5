"""Reference executor: hand-computed traces for every neuron model and every semantic switch.

Each expected trace below was worked out by hand from the formulas in docs/semantics.md (values chosen to be
exact in binary floating point, so comparisons are exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.errors import GraphError, SimulationError
from spikemesh.ir import IF, LI, LIF, CubaLIF, Dense, Graph, Identity, Input, Integrator, Neuron, Output, Population
from spikemesh.ir import Projection as Proj
from spikemesh.ir.neurons import DECAY_SHIFT
from spikemesh.ir.reference import int_decay, run_reference


def one_pop(neuron: Neuron, n: int = 1) -> Graph:
    return Graph(
        inputs=[Input("in", (n,))],
        populations=[Population("p", (n,), neuron)],
        projections=[Proj("in_p", "in", "p", [Identity()])],
        outputs=[Output("out", "p")],
    )


def run1(neuron: Neuron, x, mode: str = "float"):
    """Drive one neuron with currents ``x`` [T]; returns (spikes [T] as int list, v [T])."""
    x = np.asarray(x)
    g = one_pop(neuron)
    r = run_reference(g, x.reshape(-1, 1, 1), record=["p"], mode=mode)
    s = r.spikes["p"][:, 0, 0].astype(int).tolist() if neuron.spiking else None
    return s, r.v["p"][:, 0, 0]


# --- IF: reset modes ------------------------------------------------------------------------------
def test_if_subtract_reset():
    # v += x; spike if v >= 1; v -= 1 on spike
    # t0 .75 | t1 1.5 -> spike, .5 | t2 1.25 -> spike, .25 | t3 .25 | t4 1.25 -> spike, .25
    s, v = run1(IF(1.0, reset="subtract"), [0.75, 0.75, 0.75, 0.0, 1.0])
    assert s == [0, 1, 1, 0, 1]
    assert v.tolist() == [0.75, 0.5, 0.25, 0.25, 0.25]


def test_if_zero_reset():
    # t0 .75 | t1 1.5 -> spike, 0 | t2 .75 | t3 .75 | t4 1.75 -> spike, 0
    s, v = run1(IF(1.0, reset="zero"), [0.75, 0.75, 0.75, 0.0, 1.0])
    assert s == [0, 1, 0, 0, 1]
    assert v.tolist() == [0.75, 0.0, 0.75, 0.75, 0.0]


def test_if_zero_reset_to_v_reset():
    # reset to v_reset = -0.5: t1 -> -.5 | t2 .25 | t3 .25 | t4 1.25 -> spike, -.5
    s, v = run1(IF(1.0, reset="zero", v_reset=-0.5), [0.75, 0.75, 0.75, 0.0, 1.0])
    assert s == [0, 1, 0, 0, 1]
    assert v.tolist() == [0.75, -0.5, 0.25, 0.25, -0.5]


def test_if_no_reset():
    # the state is left alone: stays above threshold and fires again
    s, v = run1(IF(1.0, reset="none"), [0.75, 0.75, 0.0, -1.0, 0.0])
    assert s == [0, 1, 1, 0, 0]
    assert v.tolist() == [0.75, 1.5, 1.5, 0.5, 0.5]


# --- comparison -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmp, spikes, v", [
    (">=", [0, 1, 0], [0.5, 0.0, 0.5]),   # v = 1.0 equals the threshold: fires with >=
    (">", [0, 0, 1], [0.5, 1.0, 0.0]),    # ... and not with >; fires at 1.5
])
def test_comparison(cmp, spikes, v):
    s, vv = run1(IF(1.0, reset="zero", comparison=cmp), [0.5, 0.5, 0.5])
    assert s == spikes
    assert vv.tolist() == v


# --- LIF and reset timing ---------------------------------------------------------------------------
def test_lif_decay_subtract():
    # v = .5 v + x: t0 1 -> spike, 0 | t1 .5 | t2 .75 | t3 .875 | t4 .4375
    s, v = run1(LIF(0.5, 1.0), [1.0, 0.5, 0.5, 0.5, 0.0])
    assert s == [1, 0, 0, 0, 0]
    assert v.tolist() == [0.0, 0.5, 0.75, 0.875, 0.4375]


def test_reset_before_vs_after_decay_subtract():
    x = [2.0, 0.5, 0.0]
    # before_decay (SpikingJelly/sinabs/Lava): t0 2 -> spike, 1 | t1 .5+.5 = 1 -> spike, 0 | t2 0
    s, v = run1(LIF(0.5, 1.0, reset_timing="before_decay"), x)
    assert s == [1, 1, 0]
    assert v.tolist() == [1.0, 0.0, 0.0]
    # after_decay (snnTorch): v_t = .5 v_{t-1} + x_t - s_{t-1}; t0 2 spike | t1 1 + .5 - 1 = .5 | t2 .25
    s, v = run1(LIF(0.5, 1.0, reset_timing="after_decay"), x)
    assert s == [1, 0, 0]
    assert v.tolist() == [2.0, 0.5, 0.25]


def test_reset_before_vs_after_decay_zero():
    x = [2.0, 0.5, 0.5]
    # before: t0 2 -> spike, 0 | t1 .5 | t2 .75
    s, v = run1(LIF(0.5, 1.0, reset="zero", reset_timing="before_decay"), x)
    assert (s, v.tolist()) == ([1, 0, 0], [0.0, 0.5, 0.75])
    # after (snnTorch zero reset also discards the new input): t0 2 spike | t1 0 | t2 .5
    s, v = run1(LIF(0.5, 1.0, reset="zero", reset_timing="after_decay"), x)
    assert (s, v.tolist()) == ([1, 0, 0], [2.0, 0.0, 0.5])


def test_leak_and_gain():
    # IF with leak .25: .25 .5 .75 1 -> spike, 0 | .25
    s, v = run1(IF(1.0, leak=0.25), [0.0] * 5)
    assert s == [0, 0, 0, 1, 0]
    assert v.tolist() == [0.25, 0.5, 0.75, 0.0, 0.25]
    # LIF gain 2: v = .5 v + 2 x: .5 | .75 | .375
    s, v = run1(LIF(0.5, 10.0, gain=2.0), [0.25, 0.25, 0.0])
    assert v.tolist() == [0.5, 0.75, 0.375]


def test_per_neuron_parameters():
    g = one_pop(IF(np.array([1.0, 2.0]), reset="zero"), n=2)
    r = run_reference(g, np.full((3, 1, 2), 1.0))
    # neuron 0 (thr 1) fires every step; neuron 1 (thr 2) on every second step
    assert r.spikes["p"][:, 0].astype(int).tolist() == [[1, 0], [1, 1], [1, 0]]


# --- current-based and non-spiking models ------------------------------------------------------------
def test_cubalif():
    # i = .5 i + x; v = .5 v + i
    # t0 i 1, v 1 -> spike, 0 | t1 i .5, v .5 | t2 i .25, v .5 | t3 i .125, v .375
    s, v = run1(CubaLIF(0.5, 0.5, 1.0), [1.0, 0.0, 0.0, 0.0])
    assert s == [1, 0, 0, 0]
    assert v.tolist() == [0.0, 0.5, 0.5, 0.375]
    # syn_gain 2 with half the input gives the same trace
    s2, v2 = run1(CubaLIF(0.5, 0.5, 1.0, syn_gain=2.0), [0.5, 0.0, 0.0, 0.0])
    assert (s2, v2.tolist()) == (s, v.tolist())


def test_li_and_integrator_are_readouts():
    _, v = run1(LI(0.5), [1.0, 1.0, 0.0])
    assert v.tolist() == [1.0, 1.5, 0.75]
    _, v = run1(Integrator(), [1.0, 2.0, -0.5])
    assert v.tolist() == [1.0, 3.0, 2.5]
    # the output node of a non-spiking population is its state
    g = one_pop(LI(0.5))
    r = run_reference(g, np.array([1.0, 1.0, 0.0]).reshape(3, 1, 1))
    assert r.output[:, 0, 0].tolist() == [1.0, 1.5, 0.75]
    assert "p" not in r.spikes


# --- refractory and clamping ---------------------------------------------------------------------------
def test_refractory_steps():
    # refractory 2: after a spike the neuron holds its state for 2 steps
    # t0 1.5 -> spike, .5 | t1, t2 held .5 | t3 2 -> spike, 1 | t4 held 1
    s, v = run1(IF(1.0, refractory=2), [1.5] * 5)
    assert s == [1, 0, 0, 1, 0]
    assert v.tolist() == [0.5, 0.5, 0.5, 1.0, 1.0]


def test_refractory_with_after_decay_keeps_pending_reset():
    # t0 1.5 spike (state kept unreset) | t1 refractory: held value gets the pending reset, .5 |
    # t2 .5 + 1.5 = 2 -> spike | t3 refractory: 2 - 1 = 1
    s, v = run1(IF(1.0, refractory=1, reset_timing="after_decay"), [1.5] * 4)
    assert s == [1, 0, 1, 0]
    assert v.tolist() == [1.5, 0.5, 2.0, 1.0]


def test_cubalif_current_integrates_during_refractory():
    # i keeps integrating while v is held: t0 i 2, v 2 -> spike, 0 | t1 held 0 (i 2) | t2 i 2, v 2 -> spike
    s, v = run1(CubaLIF(0.5, 0.5, 1.0, reset="zero", refractory=1), [2.0, 1.0, 1.0])
    assert s == [1, 0, 1]
    assert v.tolist() == [0.0, 0.0, 0.0]


def test_clamp_to_state_bounds():
    # v_min -1, v_max 3: 2 | 4 -> 3 | -2 -> -1 | -2 -> -1
    s, v = run1(IF(10.0, v_min=-1.0, v_max=3.0), [2.0, 2.0, -5.0, -1.0])
    assert s == [0, 0, 0, 0]
    assert v.tolist() == [2.0, 3.0, -1.0, -1.0]


def test_one_sided_bound_in_integer_mode_keeps_integer_state():
    # LIF beta 0.5 (integer decay by shift), v_min -3 without state_bits (a lower bound only):
    # 4 | 4*0.5 - 8 = -6 -> -3 | trunc(-3*0.5) = -1, + 1 = 0 | 0*0.5 + 9 = 9 (decay rounds toward zero)
    s, v = run1(LIF(0.5, 100, v_min=-3), np.array([4, -8, 1, 9]), mode="int")
    assert s == [0, 0, 0, 0]
    assert v.tolist() == [4, -3, 0, 9] and np.issubdtype(v.dtype, np.integer)


def test_clamp_applies_after_reset():
    # v_min 0: t0 1.75 -> spike, subtract 1 -> .75 | t1 .75 - 2 = -1.25 -> clamped 0
    s, v = run1(IF(1.0, v_min=0.0), [1.75, -2.0])
    assert v.tolist() == [0.75, 0.0]


def test_state_bits_saturate_int_mode():
    # 4-bit state: range [-8, 7]. 5 | 10 -> 7 | 7 - 20 = -13 -> -8
    n = IF(100, state_bits=4, weight_bits=4)
    s, v = run1(n, np.array([5, 5, -20]), mode="int")
    assert v.tolist() == [5, 7, -8]
    assert v.dtype == np.int64


# --- integer mode ------------------------------------------------------------------------------------
def test_int_decay_truncates_toward_zero():
    assert DECAY_SHIFT == 12
    k = np.array(3072)  # beta = 0.75
    assert int_decay(np.array([7, -7, 5, -5]), k).tolist() == [5, -5, 3, -3]


def test_lif_int_vs_float_mode():
    # beta .75 = 3072 / 4096. int: 7 | trunc(5.25)=5 | trunc(3.75)=3 | trunc(2.25)-7=-5 | trunc(-3.75)=-3
    x = np.array([7, 0, 0, -7, 0])
    _, v = run1(LIF(0.75, 100), x, mode="int")
    assert v.tolist() == [7, 5, 3, -5, -3]
    _, v = run1(LIF(0.75, 100), x.astype(float), mode="float")
    assert v.tolist() == [7.0, 5.25, 3.9375, 2.953125 - 7, (2.953125 - 7) * 0.75]


def test_cubalif_int_mode():
    # alpha .75, beta .5: i 8 | 6 | trunc(4.5)=4 ; v 8 | 4+6=10 | 5+4=9
    _, v = run1(CubaLIF(0.75, 0.5, 100), np.array([8, 0, 0]), mode="int")
    assert v.tolist() == [8, 10, 9]


def test_int_mode_matches_float_on_integer_if():
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 4, size=(30, 1, 1))
    for reset in ("zero", "subtract", "none"):
        for cmp in (">=", ">"):
            n = IF(5, reset=reset, comparison=cmp)
            a = run_reference(one_pop(n), x, mode="int")
            b = run_reference(one_pop(n), x.astype(float), mode="float")
            assert np.array_equal(a.spikes["p"], b.spikes["p"])


def test_int_mode_errors():
    with pytest.raises(GraphError, match="decay not representable"):
        run1(LIF(0.9, 100), np.array([1, 2]), mode="int")
    with pytest.raises(GraphError, match="threshold is not integer"):
        run1(IF(1.5), np.array([1, 2]), mode="int")
    with pytest.raises(GraphError, match="not integer"):
        run1(IF(2), np.array([0.5, 1.0]), mode="int")
    g = Graph([Input("in", (2,))], [Population("p", (1,), IF(2))],
              [Proj("pr", "in", "p", [Dense([[0.5, 1.0]])])], [Output("o", "p")])
    with pytest.raises(GraphError, match="Dense.weight is not integer"):
        run_reference(g, np.ones((2, 1, 2), dtype=np.int64), mode="int")


def test_auto_mode_picks_int_for_quantized():
    n = IF(3, weight_bits=8, state_bits=16)
    r = run_reference(one_pop(n), np.ones((4, 1, 1), dtype=np.int64))
    assert r.mode == "int"
    assert r.spikes["p"][:, 0, 0].astype(int).tolist() == [0, 0, 1, 0]


# --- input validation ------------------------------------------------------------------------------
def test_input_errors():
    g = one_pop(IF(1.0), n=2)
    with pytest.raises(SimulationError, match="shape mismatch"):
        run_reference(g, np.zeros((3, 1, 5)))
    with pytest.raises(SimulationError, match="NaN"):
        run_reference(g, np.full((3, 1, 2), np.nan))
    with pytest.raises(SimulationError, match="cannot record"):
        run_reference(g, np.zeros((3, 1, 2)), record=["nope"])
    # [T, *shape] means a batch of one
    r = run_reference(g, np.ones((3, 2)))
    assert r.spikes["p"].shape == (3, 1, 2)
