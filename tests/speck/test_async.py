"""The async engine: event-driven IAF semantics, equality with the reference, timing, drops and energy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate

import spikemesh
from spikemesh.ir import IF, Conv2d, Dense, Graph, Input, Output, Population, Projection
from tests.speck.helpers import chain


def _single(w: int, thr: int, reset: str = "subtract", bias: float | None = None, v_min: float | None = None) -> Graph:
    op = Dense([[float(w)]], None if bias is None else [float(bias)])
    return Graph((Input("in", (1,)),), (Population("n", (1,), IF(threshold=thr, reset=reset, v_min=v_min)),),
                 (Projection("p", "in", "n", (op,)),), (Output("o", "n"),))


def test_single_neuron_w127_thr127_one_spike_per_event() -> None:
    # sinabs tests/test_dynapcnn/test_single_neuron_hardware.py: w = 127, θ = 127 -> one output event per input event
    p = spikemesh.compile(_single(127, 127), "speck")
    x = np.zeros((20, 1, 1), dtype=np.int64)
    x[[0, 3, 4, 10, 19]] = 1
    r = p.simulate(x, engine="async")
    assert r.stats["spike_events"]["n"] == 5
    assert np.array_equal(r.spikes["n"][:, 0, 0], x[:, 0, 0] == 1)


def test_one_spike_per_event_residual_stays() -> None:
    # w = 100, θ = 30: each event fires once (v = 100 -> 70 after subtract); the residual accumulates
    p = spikemesh.compile(_single(100, 30), "speck")
    x = np.zeros((3, 1, 1), dtype=np.int64)
    x[:] = 1
    r = p.simulate(x, engine="async")
    assert r.stats["spike_events"]["n"] == 3  # the reference also fires once per step here
    # two events in one step: the chip fires twice (once per event), the reference once per step
    x2 = np.array([[[2]]])
    assert spikemesh.compile(_single(100, 30), "speck").simulate(x2, engine="async").stats["spike_events"]["n"] == 2


def test_zero_reset_and_threshold_low_clamp() -> None:
    # θ_low = -50 clamps v after a -127 event; reset to zero discards the residual
    p = spikemesh.compile(_single(-127, 100, reset="zero", v_min=-50), "speck", quantize=False)
    assert p.config.layers[0].threshold_low == -50
    p2 = spikemesh.compile(Graph((Input("in", (2,)),), (Population("n", (1,), IF(threshold=100, reset="zero",
                                                                                   v_min=-50)),),
                                 (Projection("p", "in", "n", (Dense([[-127.0, 120.0]]),)),), (Output("o", "n"),)),
                           "speck", quantize=False)
    x = np.zeros((4, 1, 2), dtype=np.int64)
    x[0, 0, 0] = 1  # v = -127 -> clamped to -50
    x[1, 0, 1] = 1  # v = 70: no spike (without the clamp v = -7)
    x[2, 0, 1] = 1  # v = 190 -> spike, zero reset -> 0
    x[3, 0, 1] = 1  # v = 120 -> spike
    r = p2.simulate(x, engine="async")
    assert r.spikes["n"][:, 0, 0].tolist() == [False, False, True, True]
    assert p.simulate(np.ones((2, 1, 1), dtype=np.int64), engine="async").stats["spike_events"]["n"] == 0


def test_bias_leak_on_slow_clock_ticks() -> None:
    # bias 10, θ = 35, no input: ticks at 0, dt, 2dt, ... -> v = 10, 20, 30, 40 -> spike at tick 3, then 5, 15, 25,
    # 35 -> spike at tick 6 (subtract reset)
    g = _single(1, 35, bias=10)
    p = spikemesh.compile(g, "speck", quantize=False)
    assert p.config.layers[0].leak_enable
    r = p.simulate(np.zeros((8, 1, 1), dtype=np.int64), engine="async")
    assert np.flatnonzero(r.spikes["n"][:, 0, 0]).tolist() == [3, 6]
    assert r.stats["leak_updates_per_core"][p.config.cores[0]] == 8
    assert r.stats["energy_dynamic_pj"] > 0  # biases are not free (the sinabs Speck docs warn that leak is not sparse)
    # a slow clock at half the rate: 4 ticks in 8 steps -> v = 40 at the 4th tick (t = 6 dt)
    r2 = p.simulate(np.zeros((8, 1, 1), dtype=np.int64), engine="async", slow_clk_hz=0.5 / g.dt)
    assert np.flatnonzero(r2.spikes["n"][:, 0, 0]).tolist() == [6]


def _struct_counts(graph: Graph, spikes: dict[str, np.ndarray], x: np.ndarray) -> int:
    """Largest number of events any neuron receives within one step (|weights| structure applied to spikes)."""
    worst = 0
    for pr in graph.projections:
        src = x if pr.source == "in" else spikes[pr.source].astype(np.int64)
        m = graph.projection_csr(pr, structure=True)
        flat = src.reshape(src.shape[0] * src.shape[1], -1)
        worst = max(worst, int((flat @ m).max(initial=0)))
    return worst


def _sparsified(g: Graph, rng: np.random.Generator, keep: float = 0.3) -> Graph:
    """Keep ~30 % of the weights and clip them to [-θ, θ]: then a subtractive reset never leaves a residual >= θ,
    which the reference would fire on without input while the chip fires only on events."""
    projs = []
    for pr in g.projections:
        ops = []
        thr = float(g.population[pr.target].neuron.threshold)
        for o in pr.ops:
            if hasattr(o, "weight"):
                w = np.clip(o.weight, -thr, thr) * (rng.random(o.weight.shape) < keep)
                o = Dense(w) if isinstance(o, Dense) else Conv2d(w, stride=o.stride, padding=o.padding)
            ops.append(o)
        projs.append(Projection(pr.name, pr.source, pr.target, tuple(ops)))
    return g.replace(projections=tuple(projs))


def test_async_equals_reference_on_sparse_inputs() -> None:
    tested = spiking = 0
    for seed in range(6):
        t, s = _check_equal(seed)
        tested += t
        spiking += s
    assert tested >= 12 and spiking >= 4  # the filter keeps enough runs, and the last layer fires in several


def _check_equal(seed: int) -> tuple[int, int]:
    # integer IAF chain conv3x3 -> (pool 2) conv1x1 -> dense; inputs sparse enough that no neuron receives two
    # events within one step (checked on the reference run with the structural connectivity)
    rng = np.random.default_rng(seed)
    specs = [{"kind": "conv", "c": 3, "k": 3, "p": 1, "thr": 8},
             {"kind": "conv", "c": 4, "k": 1, "pool": 2, "thr": 2},
             {"kind": "dense", "c": 5, "thr": 3}]
    g = _sparsified(chain(specs, (2, 12, 12), seed=seed, reset="zero" if seed % 2 else "subtract"), rng)
    p = spikemesh.compile(g, "speck")
    tested = spiking = 0
    for _trial in range(12):
        x = np.zeros((40, 1, 2, 12, 12), dtype=np.int64)
        steps = rng.choice(40, size=25, replace=False)
        x[steps, 0, rng.integers(0, 2, 25), rng.integers(0, 12, 25), rng.integers(0, 12, 25)] = 1
        ref = p.simulate(x, engine="reference")
        if _struct_counts(p.graph, ref.spikes, x) > 1:
            continue
        tested += 1
        spiking += int(ref.spikes["L2"].sum() > 0)
        a = p.simulate(x, engine="async")
        for name in ref.spikes:
            assert np.array_equal(a.spikes[name], ref.spikes[name]), name
            assert a.stats["spike_events"][name] == int(ref.spikes[name].sum())
    return tested, spiking


def test_async_equals_reference_with_residual_merge() -> None:
    # a -> b and (a, b) -> c: c's core takes both sources with feature shifts (different weights)
    rng = np.random.default_rng(3)
    wa = rng.integers(0, 5, (2, 2, 3, 3)).astype(float)
    wb = rng.integers(0, 5, (2, 2, 3, 3)).astype(float)
    wc = rng.integers(0, 5, (2, 2, 3, 3)).astype(float)
    pops = tuple(Population(n, (2, 10, 10), IF(threshold=6)) for n in ("a", "b", "c"))
    projs = (Projection("ia", "in", "a", (Conv2d(wa, padding=1),)),
             Projection("ab", "a", "b", (Conv2d(wb, padding=1),)),
             Projection("ac", "a", "c", (Conv2d(wc, padding=1),)), Projection("bc", "b", "c", (Conv2d(wb, padding=1),)))
    g = Graph((Input("in", (2, 10, 10)),), pops, projs, (Output("o", "c"),))
    p = spikemesh.compile(g, "speck")
    c = next(L for L in p.config.layers if L.name == "c")
    assert c.in_shape == (4, 10, 10) and sorted(sh for _, _, sh in c.sources) == [0, 2]
    x = np.zeros((30, 1, 2, 10, 10), dtype=np.int64)
    x[::5, 0, 0, 5, 5] = 1
    ref = p.simulate(x, engine="reference")
    if _struct_counts(p.graph, ref.spikes, x) <= 1:
        a = p.simulate(x, engine="async")
        assert all(np.array_equal(a.spikes[n], ref.spikes[n]) for n in ref.spikes)


def test_latency_nine_core_chain_is_3_36_us() -> None:
    # one event through 9 layers (1x1 identity-like convs, w=1, θ=1): 3.36 µs (Richter et al., arXiv:2304.06793)
    g = chain([{"kind": "conv", "c": 1, "k": 1}] * 9, (1, 4, 4))
    g = g.replace(projections=tuple(pr.__class__(pr.name, pr.source, pr.target, (Conv2d(np.ones((1, 1, 1, 1))),))
                                    for pr in g.projections))
    p = spikemesh.compile(g, "speck")
    x = np.zeros((2, 1, 1, 4, 4), dtype=np.int64)
    x[0, 0, 0, 1, 2] = 1
    r = p.simulate(x, engine="async")
    assert r.stats["spike_events"]["L8"] == 1
    assert r.stats["samples"][0]["latency_max_s"] == pytest.approx(3.36e-6, rel=1e-9)


def test_synops_limit_drops_events_and_no_input_no_dynamic_energy() -> None:
    g = chain([{"kind": "conv", "c": 8, "k": 3, "p": 1, "thr": 3}, {"kind": "conv", "c": 8, "k": 3, "p": 1}],
              (2, 16, 16), seed=1)
    p = spikemesh.compile(g, "speck")
    x = np.zeros((5, 1, 2, 16, 16), dtype=np.int64)
    x[0, 0, :, 4:12, 4:12] = 1  # 128 events in one instant
    free = p.simulate(x, engine="async")
    assert sum(free.stats["dropped_per_core"]) == 0
    slow = p.simulate(x, engine="async", synops_per_s=1e7, max_backlog_s=2e-6)
    assert sum(slow.stats["dropped_per_core"]) > 0
    assert sum(slow.stats["synops_per_core"]) < sum(free.stats["synops_per_core"])
    assert slow.stats["samples"][0]["latency_max_s"] > free.stats["samples"][0]["latency_max_s"]
    # synops of the first core: every event scatters 8 features over its 3x3 neighbourhood (within the border)
    ones = np.ones((3, 3))
    taps = correlate(x[0, 0].sum(axis=0).astype(float), ones, mode="same")
    assert free.stats["synops_per_core"][p.config.cores[0]] == int(round(taps.sum())) * 8
    idle = p.simulate(np.zeros((5, 1, 2, 16, 16), dtype=np.int64), engine="async")
    assert idle.stats["energy_dynamic_pj"] == 0.0
    assert idle.stats["energy"]["by_action_pj"]["static"] == pytest.approx(0.42 * 5 * g.dt * 1e9)
