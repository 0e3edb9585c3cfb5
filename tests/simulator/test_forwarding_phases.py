"""Phased partial-sum forwarding in the cycle engine: a step's NoC time is the sum of its forwarding phases, each
drained before the next (NocSpec.forwarding = "phased"); cut-through shares one phase."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import spikemesh
from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.simulator.cycle import route_list, route_phases
from spikemesh.simulator.noc import noc_step, watchdog_cycles
from spikemesh.simulator.noc_routes import flatten_routes
from spikemesh.target.model import CoreSpec, Target


def tree_program() -> spikemesh.Program:
    """Dense 200 -> 32 IF on 32-neuron / 64-axon cores: the partial-sum tree of
    tests/partition/test_partition.py::test_partial_sum_tree_by_hand (6 cores)."""
    rng = np.random.default_rng(0)
    g = Graph(inputs=(Input("in", (200,)),), populations=(Population("h", (32,), IF(threshold=20.0)),),
              projections=(Projection("a", "in", "h", (Dense(rng.integers(-3, 4, size=(32, 200)).astype(float)),)),),
              outputs=(Output("o", "h"),))
    t = Target(name="ps4x4", cores_x=4, cores_y=4, core=CoreSpec(32, 64, 8 * 10**5, weight_bits=8),
               features=frozenset({"IF", "reset_zero", "reset_subtract", "partial_sums"}))
    return spikemesh.compile(g, t, seed=0)


def phase_cycles(prog: spikemesh.Program, per_route: dict[int, int]) -> int:
    """NoC cycles of one step in which route r carries per_route[r] packets, by noc_step directly."""
    rl = route_list(prog.routes)
    net = flatten_routes(rl, np.asarray(prog.placement.coords, dtype=np.int64), prog.target)
    inject = np.zeros(len(rl), dtype=np.int64)
    for r, n in per_route.items():
        inject[r] = n
    C, bf = len(net.ch_latency), prog.target.noc.buffer_flits
    bufs = [np.zeros((C, bf), dtype=np.int64) for _ in range(3)]
    st, cyc, *_ = noc_step(inject, net.ch_latency, net.e_ch, net.e_eject, net.e_cptr, net.e_cidx, net.r_ptr,
                           net.r_idx, net.r_local, bf, prog.target.noc.link_flits_per_cycle,
                           watchdog_cycles(prog.target), *bufs, np.zeros(C, np.int64), np.zeros(C, np.int64))
    assert st == 0
    return int(cyc)


def test_phases_follow_the_tree_and_add_up() -> None:
    prog = tree_program()
    cores = prog.partition.cores
    parent = {c.index: c.merge_into for c in cores if c.role == "partial_sum"}
    # the tree: leaves 3, 4 -> 1 and 5 -> 2, then 1, 2 -> neuron core 0
    assert parent == {1: 0, 2: 0, 3: 1, 4: 1, 5: 2} and cores[0].role == "neurons"
    route_of = {int(r.source): k for k, r in enumerate(route_list(prog.routes))}
    phase = route_phases(prog.partition, route_of, len(route_of), "phased")
    assert {c: int(phase[route_of[c]]) for c in parent} == {1: 2, 2: 2, 3: 1, 4: 1, 5: 1}
    assert prog.report["routing"]["forwarding_phases"] == 3
    # no input: the only packets are the partial sums, 32 per partial-sum core per step
    x = np.zeros((4, 1, 200), dtype=np.uint8)
    res = spikemesh.simulate(prog, x, engine="cycle")
    p1 = phase_cycles(prog, {route_of[c]: 32 for c in (3, 4, 5)})
    p2 = phase_cycles(prog, {route_of[c]: 32 for c in (1, 2)})
    noc = res.stats["noc"]
    assert noc["forwarding_phases"] == 3 and noc["packets"] == 4 * 5 * 32
    assert noc["per_step"]["communication_cycles"] == [p1 + p2] * 4
    # cut-through: the same routes in one phase, faster than the phased barrier sequence
    cut = replace(prog, target=replace(prog.target, noc=replace(prog.target.noc, forwarding="cut_through")))
    res_cut = spikemesh.simulate(cut, x, engine="cycle")
    one = phase_cycles(prog, {route_of[c]: 32 for c in parent})
    assert res_cut.stats["noc"]["per_step"]["communication_cycles"] == [one] * 4 and one < p1 + p2


def test_phased_run_with_spikes_equals_reference() -> None:
    prog = tree_program()
    x = (np.random.default_rng(1).random((20, 2, 200)) < 0.3).astype(np.uint8)
    res = spikemesh.simulate(prog, x, engine="cycle")
    ref = run_reference(prog.graph, x)
    np.testing.assert_array_equal(res.spikes["h"], ref.spikes["h"])
    assert ref.spikes["h"].sum() > 0
    noc = res.stats["noc"]
    assert noc["deliveries"] >= noc["packets"] > 20 * 2 * 5 * 32
