"""Route inputs for the NoC and cycle-engine tests and the simulation benchmark, independent of the placement and
routing stages (so these cases do not change when those stages choose differently): a chip-major placement, XY
multicast trees per source core, a Program that carries them, a ring of routes whose channel dependencies form a
cycle, and one ``noc_step`` call on fresh scratch buffers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import spikemesh
from spikemesh.errors import SimulationError
from spikemesh.partition import partition
from spikemesh.program import Program
from spikemesh.routing.routes import Route, tree, xy
from spikemesh.simulator.fanout import Layout, fanout, neuron_cores
from spikemesh.simulator.noc import noc_step
from spikemesh.simulator.noc_routes import NocArrays
from spikemesh.target.model import NocSpec, Target
from spikemesh.target.topology import Mesh


@dataclass(frozen=True)
class Coords:
    """A placement section: ``coords`` [cores, 4] (chip_x, chip_y, x, y)."""

    coords: np.ndarray


@dataclass(frozen=True)
class RouteSet:
    """A routes section: the route trees."""

    routes: tuple[Route, ...]


def chip_major_coords(n_cores: int, target: Target, seed: int | None = None) -> np.ndarray:
    """(chip_x, chip_y, x, y) per logical core: slots filled chip by chip, row by row (shuffled with ``seed``)."""
    slots = np.arange(target.n_cores)
    if seed is not None:
        slots = np.random.default_rng(seed).permutation(slots)
    if n_cores > len(slots):
        raise SimulationError("more logical cores than the target has", node="placement", needed=n_cores,
                              available=len(slots), hint="use a larger chip grid, e.g. tianjic:2x2")
    chip, local = np.divmod(slots[:n_cores], target.cores_per_chip)
    return np.stack([chip % target.chips_x, chip // target.chips_x, local % target.cores_x,
                     local // target.cores_x], axis=1).astype(np.int32)


def core_destinations(part: Any, layout: Any, n_inputs: int) -> dict[int, tuple[int, ...]]:
    """Per source (core id, or ``-1 - k`` for graph input k): the other cores holding neurons its neurons have
    synapses into."""
    core = neuron_cores(layout, part)
    for k in range(n_inputs):
        name = layout.graph.inputs[k].name
        if name not in part.neuron_core:  # streamed from the host (no source cores)
            a, b = layout.node_range(name)
            core[a:b] = -1 - k
    into = fanout(layout.graph, layout, part, partial_sums=False).performed.tocoo()
    pairs = np.unique(np.stack([core[into.row], into.col], axis=1), axis=0)
    out: dict[int, list[int]] = {}
    for s, d in pairs:
        if s != d or s < 0:
            out.setdefault(int(s), []).append(int(d))
    return {s: tuple(sorted(d)) for s, d in out.items()}


def xy_tree(source: int, destinations: tuple[int, ...], coords: np.ndarray, target: Target) -> Route:
    """Dimension-order (X then Y) multicast tree from ``source``'s router (graph inputs: global (0, 0)) to every
    destination's router, built by the routing stage's tree builder."""
    return tree(source, destinations, np.asarray(coords), Mesh.of(target), xy)


def xy_routes(part: Any, layout: Any, coords: np.ndarray, target: Target) -> tuple[Route, ...]:
    """XY multicast trees for every source of ``core_destinations`` (inputs enter at global router (0, 0))."""
    dests = core_destinations(part, layout, len(layout.graph.inputs))
    return tuple(xy_tree(s, d, coords, target) for s, d in sorted(dests.items()))


def placed(graph: Any, target: str | Target, seed: int = 0, shuffle: bool = False, part: Any = None,
           integer: bool | None = None) -> Program:
    """A Program with a partition (the partition stage with ``seed``, or ``part``), a chip-major placement
    (shuffled with ``seed`` when ``shuffle``) and XY multicast routes between the cores the synapses connect
    (``integer`` is accepted for the callers: the connectivity does not depend on the value mode)."""
    t = spikemesh.target(target)
    part = partition(graph, t, seed=seed) if part is None else part
    coords = chip_major_coords(len(part.cores), t, seed if shuffle else None)
    routes = xy_routes(part, Layout.of(graph), coords, t)
    return (Program(graph=graph, target=t).with_section("partition", part)
            .with_section("placement", Coords(coords)).with_section("routes", RouteSet(routes)))


def ring(noc: NocSpec) -> tuple[Target, np.ndarray, list[Route]]:
    """A 2x2 mesh (one chip, ``noc`` parameters) and four routes, each going three hops around the ring of routers
    (E, N, W, S around the square) to the core before its source: the channel dependency graph is cyclic."""
    t = replace(spikemesh.target("tianjic"), cores_x=2, cores_y=2, noc=noc)
    coords = np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]])
    hops = [(0, 0, 0), (1, 0, 2), (1, 1, 1), (0, 1, 3)]  # (x, y, direction) around the square
    routes = [Route(source=s, destinations=((s + 3) % 4,),
                    links=np.array([(0, 0, *hops[(s + i) % 4]) for i in range(3)], dtype=np.int32),
                    parent=np.array([-1, 0, 1], dtype=np.int32), vc=np.zeros(3, dtype=np.int8))
              for s in range(4)]
    return t, coords, routes


def run_noc_step(net: NocArrays, inject: Any, target: Target, watchdog: int = 200, jump: bool = True
                 ) -> tuple[tuple[int, int, int, int, int], np.ndarray, np.ndarray]:
    """One ``noc_step`` on the target's NoC parameters with ``inject[r]`` packets on route r: ((status, cycles,
    delivered, hops, stalls), flits per channel, blocked channels)."""
    C, bf = len(net.ch_latency), target.noc.buffer_flits
    bufs = [np.zeros((C, bf), dtype=np.int64) for _ in range(3)]
    load = np.zeros(C, dtype=np.int64)
    blocked = np.zeros(C, dtype=np.int64)
    out = noc_step(np.asarray(inject, dtype=np.int64), net.ch_latency, net.e_ch, net.e_eject, net.e_cptr,
                   net.e_cidx, net.r_ptr, net.r_idx, net.r_local, bf, target.noc.link_flits_per_cycle, watchdog, *bufs,
                   load, blocked, jump)
    return tuple(int(v) for v in out), load, blocked  # type: ignore[return-value]
