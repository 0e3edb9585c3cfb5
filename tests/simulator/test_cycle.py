"""The cycle engine: spikes equal reference; packet conservation; deadlock detection; NoC timing by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import spikemesh
from spikemesh.backends.base import NocSpec
from spikemesh.errors import SimulationError
from spikemesh.ir.reference import run_reference
from spikemesh.partition import partition
from spikemesh.program import Program
from spikemesh.simulator.noc import RouteTree, build_network, noc_step, xy_tree


@dataclass(frozen=True)
class Coords:
    coords: np.ndarray


@dataclass(frozen=True)
class RouteSet:
    routes: tuple


def destinations(part, graph):
    """Per source (core id or -1-k for inputs): the cores holding neurons its neurons project to."""
    from spikemesh.simulator.fast import flat_graph

    fg = flat_graph(graph, graph.is_quantized)
    core = np.full(fg.n, -1)
    for name, arr in part.neuron_core.items():
        a, b = fg.node_range(name)
        core[a:b] = arr
    for k, inp in enumerate(graph.inputs):
        a, b = fg.node_range(inp.name)
        core[a:b] = -1 - k
    src = np.repeat(np.arange(fg.n), np.diff(fg.indptr))
    pairs = {(int(core[s]), int(core[t])) for s, t in zip(src, fg.target)}
    out = {}
    for s, d in pairs:
        if s != d or s < 0:
            out.setdefault(s, set()).add(d)
    return {s: tuple(sorted(d)) for s, d in out.items()}


def placed(graph, target, seed=0, shuffle=False):
    """A Program with a partition (partition engine), a chip-major placement (shuffled with a seed) and XY
    multicast routes built in the test."""
    t = spikemesh.target(target)
    part = partition(graph, t, seed=seed)
    n = len(part.cores)
    slots = np.arange(t.n_cores)
    if shuffle:
        slots = np.random.default_rng(seed).permutation(slots)
    slots = slots[:n]
    chip, local = np.divmod(slots, t.cores_per_chip)
    coords = np.stack([chip % t.chips_x, chip // t.chips_x, local % t.cores_x, local // t.cores_x], axis=1)
    routes = tuple(xy_tree(s, d, coords, t, source_xy=(0, 0) if s < 0 else None)
                   for s, d in sorted(destinations(part, graph).items()))
    prog = Program(graph=graph, target=t).with_section("partition", part)
    prog = prog.with_section("placement", Coords(coords.astype(np.int32)))
    return prog.with_section("routes", RouteSet(routes))


@pytest.mark.parametrize("target,seed,shuffle", [("tianjic", 0, False), ("tianjic:2x1", 1, True),
                                                 ("loihi:2x2", 2, True)])
def test_cycle_equals_reference_demo(target, seed, shuffle):
    from spikemesh.data.demo import load_demo

    g, x, _ = load_demo()
    prog = placed(g, target, seed, shuffle)
    res = spikemesh.simulate(prog, x[:, :2], engine="cycle")
    ref = run_reference(g, x[:, :2])
    for k in ref.spikes:
        np.testing.assert_array_equal(res.spikes[k], ref.spikes[k])
    noc = res.stats["noc"]
    assert noc["packets"] > 0 and noc["deliveries"] >= noc["packets"]
    assert noc["communication_cycles"] > 0
    if "2x" in target:
        assert noc["interchip_flits"] >= 0
    assert res.stats["energy"]["by_action_pj"]["router_hop"] > 0


def test_conv_graph_multichip_t100(conv_graph):
    q, _ = spikemesh.quantize(conv_graph)
    x = (np.random.default_rng(5).random((100, 1, 2, 8, 8)) < 0.3).astype(float)
    prog = placed(q, "tianjic:2x2", seed=3, shuffle=True)
    res = spikemesh.simulate(prog, x, engine="cycle")
    ref = run_reference(q, x)
    for k in ref.spikes:
        np.testing.assert_array_equal(res.spikes[k], ref.spikes[k])


def _line_target(buffer=4, hop=1, inter=20):
    t = spikemesh.target("tianjic")
    from dataclasses import replace

    return replace(t, cores_x=4, cores_y=1, chips_x=2, noc=NocSpec(hop_cycles=hop, buffer_flits=buffer,
                                                                   interchip_hop_cycles=inter))


def _run(net, inject, t, wd=200):
    C = len(net.ch_latency)
    bf = t.noc.buffer_flits
    z = np.zeros((C, bf), dtype=np.int64)
    load = np.zeros(C, dtype=np.int64)
    blocked = np.zeros(C, dtype=np.int64)
    out = noc_step(np.asarray(inject, dtype=np.int64), net.ch_latency, net.e_ch, net.e_eject, net.e_cptr,
                   net.e_cidx, net.r_ptr, net.r_idx, net.r_local, bf, 1, wd, z, z.copy(), z.copy(), load, blocked)
    return out, load, blocked


def test_hand_timing_line_and_interchip():
    t = _line_target()
    coords = np.array([[0, 0, x, 0] for x in range(4)] + [[1, 0, 0, 0]])
    # core 0 -> core 3: 3 hops of 1 cycle, then 1 cycle to eject; k packets pipeline one per cycle
    net = build_network([xy_tree(0, (3,), coords, t)], coords, t)
    for k in (1, 5):
        (status, cyc, delivered, hops, stalls), load, _ = _run(net, [k], t)
        assert status == 0 and delivered == k and hops == 3 * k
        assert cyc == 3 + (k - 1) + 1
    # core 0 -> core 4 (next chip): 3 on-chip hops + the chip-border link of 20 cycles + eject; 2nd packet +1
    net = build_network([xy_tree(0, (4,), coords, t)], coords, t)
    (status, cyc, delivered, hops, _), load, _ = _run(net, [2], t)
    assert status == 0 and delivered == 2 and cyc == 3 + 20 + 1 + 1
    assert net.ch_interchip.sum() == 1


def test_multicast_replication_counts():
    t = _line_target()
    coords = np.array([[0, 0, x, 0] for x in range(4)] + [[1, 0, 0, 0]])
    tree = xy_tree(1, (0, 3, 4), coords, t)  # branches west and east at the source router
    net = build_network([tree], coords, t)
    (status, cyc, delivered, hops, _), load, _ = _run(net, [7], t)
    assert status == 0 and delivered == 7 * 3
    assert hops == 7 * len(tree.links)  # every tree link carries each packet exactly once


def test_deadlock_detected_and_reported():
    # a ring of four routers, one-flit buffers, four routes each going three hops around the ring: the channel
    # dependency graph is cyclic and the buffers fill -> no flit can move
    from dataclasses import replace

    t = replace(spikemesh.target("tianjic"), cores_x=2, cores_y=2, noc=NocSpec(buffer_flits=1, hop_cycles=1))
    coords = np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]])
    ring = [(0, 0, 0), (1, 0, 2), (1, 1, 1), (0, 1, 3)]  # E, N, W, S around the square
    routes = []
    for s in range(4):
        links = [(0, 0, *ring[(s + i) % 4][:2], ring[(s + i) % 4][2]) for i in range(3)]
        routes.append(RouteTree(source=s, destinations=((s + 3) % 4,), links=np.array(links, dtype=np.int32),
                                parent=np.array([-1, 0, 1], dtype=np.int32)))
    net = build_network(routes, coords, t)
    (status, cyc, delivered, hops, stalls), load, blocked = _run(net, [6, 6, 6, 6], t, wd=50)
    assert status == 1 and blocked.sum() == 4 and delivered < 24
    # the same routes with deep buffers drain: every packet delivered (conservation)
    t2 = replace(t, noc=NocSpec(buffer_flits=64))
    (status, cyc, delivered, *_), _, _ = _run(build_network(routes, coords, t2), [6, 6, 6, 6], t2)
    assert status == 0 and delivered == 24


def test_deadlock_error_names_blocked_channels():
    from dataclasses import replace

    from spikemesh.simulator.cycle import deadlock_error

    t = replace(spikemesh.target("tianjic"), cores_x=2, cores_y=2, noc=NocSpec(buffer_flits=1, hop_cycles=1))
    coords = np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]])
    ring = [(0, 0, 0), (1, 0, 2), (1, 1, 1), (0, 1, 3)]
    routes = [RouteTree(source=s, destinations=((s + 3) % 4,),
                        links=np.array([(0, 0, *ring[(s + i) % 4][:2], ring[(s + i) % 4][2]) for i in range(3)],
                                       dtype=np.int32), parent=np.array([-1, 0, 1], dtype=np.int32))
              for s in range(4)]
    net = build_network(routes, coords, t)
    (status, _, delivered, *_), _, blocked = _run(net, [6, 6, 6, 6], t, wd=50)
    assert status == 1
    err = deadlock_error(net, blocked, 3, 0, 50, 24, int(delivered))
    pat = r"noc: deadlock in step 3 .*blocked channels: chip\(0,0\) router\(0,0\) E; chip\(0,0\) router\(1,0\) N"
    with pytest.raises(SimulationError, match=pat):
        raise err


def test_cycle_needs_sections(conv_graph):
    with pytest.raises(SimulationError, match="needs a compiled Program"):
        spikemesh.simulate(conv_graph, np.zeros((2, 1, 2, 8, 8)), engine="cycle")
    with pytest.raises(SimulationError, match="missing"):
        spikemesh.simulate(Program(graph=conv_graph, target=spikemesh.target("tianjic")),
                           np.zeros((2, 1, 2, 8, 8)), engine="cycle")
