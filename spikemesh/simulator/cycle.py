"""The ``cycle`` engine: the placed Program on a synchronous multi-core, multi-chip mesh.

Each time step: every core integrates its incoming synaptic events, updates its neurons and fires (the values
come from the reference-exact kernel, so spikes equal ``reference``: the NoC changes timing, never spikes); then
every spike (or non-zero value of a non-spiking neuron, or input element from the host) becomes one packet at its
source core and follows the source's multicast route hop by hop through ``noc.noc_step`` (link bandwidth, router
latency, finite buffers with back-pressure, replication at branch routers, inter-chip latency). A barrier ends
the step when every packet is delivered. Partial-sum cores forward one packet per accumulated neuron per step to
the core they merge into; with phased forwarding (the Target's ``noc.forwarding``, the default) a core sends only
after its children's sums have arrived, so a step's NoC time is the sum over forwarding phases (``route_phases``),
each drained before the next; with cut-through forwarding all packets share one phase.

Compute model (an assumption; the mesh presets publish no per-core timing): a core performs one neuron update or
one synaptic operation per cycle, so a step's compute phase lasts ``max over cores (neurons + synaptic events
arriving at the core)`` cycles. Step latency = compute cycles + communication cycles; seconds = cycles /
``target.clock_hz``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.errors import SimulationError
from spikemesh.ir.result import SimResult
from spikemesh.partition.geometry import box_volume
from spikemesh.routing.deadlock import forwarding_levels
from spikemesh.simulator.energy import Actions
from spikemesh.simulator.fanout import fanout, neuron_cores
from spikemesh.simulator.fast import run_fast_detailed
from spikemesh.simulator.noc import PACKET_BITS, noc_run, watchdog_cycles
from spikemesh.simulator.noc_routes import flatten_routes, global_xy
from spikemesh.simulator.progress import StepProgress

#: per-step arrays are kept in the stats when steps x batch is at most this
PER_STEP_LIMIT = 10_000


def route_list(routes: Any) -> list[Any]:
    """The route trees of a Routes section: its ``routes`` attribute, a dict's values, or the object itself."""
    inner = getattr(routes, "routes", routes)
    if isinstance(inner, dict):
        inner = list(inner.values())
    return list(inner)


def _require(program: Any) -> tuple[Any, Any, Any]:
    missing = [s for s in ("partition", "placement", "routes") if getattr(program, s, None) is None]
    if missing:
        raise SimulationError("the cycle engine needs a placed and routed Program", node="simulate",
                              needed="sections partition, placement, routes", available=f"missing {missing}",
                              hint="compile the model for a mesh target (spikemesh compile), or use engine='fast'")
    return program.partition, program.placement, program.routes


def deadlock_error(net: Any, blocked: np.ndarray, step: int, sample: int, watchdog: int, expected: int,
                   delivered: int) -> SimulationError:
    """The error for a step whose NoC stopped moving: names the blocked channels."""
    names = [net.channel_name(int(c)) for c in np.nonzero(blocked)[0]]
    return SimulationError(
        f"deadlock in step {step} (sample {sample}): no flit moved for {watchdog} cycles; blocked channels: "
        + "; ".join(names[:8]) + (f" (+{len(names) - 8} more)" if len(names) > 8 else ""),
        node="noc", needed=f"{expected} deliveries", available=delivered,
        hint="routes form a cyclic channel dependency; use deadlock-free (e.g. XY) routes or more buffers")


def route_phases(part: Any, route_of: dict[int, int], n_routes: int, forwarding: str) -> np.ndarray:
    """Forwarding phase of each route within a step. Phased forwarding (``NocSpec.forwarding``): a partial-sum
    core sends after its children's sums have arrived, so tree leaves send in phase 1 and a parent one phase after
    its deepest child; spikes and inputs travel in phase 0. Cut-through: every route in phase 0 (one NoC phase)."""
    out = np.zeros(n_routes, dtype=np.int64)
    if forwarding != "phased":
        return out
    level = forwarding_levels(part.relays)
    for c, lv in level.items():
        if c in route_of:
            out[route_of[c]] = lv
    return out


def partial_sums_per_step(part: Any) -> dict[int, int]:
    """Partial sums each ``partial_sum`` core sends per step: one per neuron it accumulates, i.e. the volume of its
    boxes (a conv tile's flat ``neurons`` bounds span more than its neurons); cores without boxes (crossbar array
    groups) send what the partition's traffic matrix lists for them (their covered neurons)."""
    out: dict[int, int] = {}
    tm = np.asarray(part.traffic, dtype=np.float64).reshape(-1, 3)
    for c in part.cores:
        if c.role != "partial_sum":
            continue
        if c.boxes:
            out[c.index] = int(sum(box_volume(b) for bs in c.boxes.values() for b in bs))
        else:
            out[c.index] = int(round(float(tm[tm[:, 0] == c.index, 2].sum())))
    return out


def run_cycle(program: Any, inputs: Any, record: Sequence[str] | None = None, mode: str = "auto",
              progress: bool | None = None, specialize: bool | None = None) -> tuple[SimResult, Any, Actions]:
    """Run ``program`` cycle by cycle. Returns (SimResult with NoC statistics in ``stats["noc"]``, the FastRun,
    the NoC-side Actions for the energy model, with the synapse counts in ``fanout``). Raises SimulationError on a
    deadlock (naming blocked channels) or when packets are lost (conservation)."""
    _require(program)
    run = run_fast_detailed(program.graph, inputs, record=record, mode=mode, traces=True, progress=progress,
                            specialize=specialize)
    res, acts = cycle_noc(program, run, progress)
    return res, run, acts


def cycle_noc(program: Any, run: Any, progress: bool | None = None, fan: Any = None) -> tuple[SimResult, Actions]:
    """The timing part of the cycle engine on a functional run ``run`` (``result``, ``flat`` — the global index
    layout —, ``inputs`` in step form, ``spike_events``): per-core compute load and packets, then the NoC. Its
    memory grows with neurons, cores and links (``fanout``), not synapses. ``fan``: the program's
    ``fanout.Fanout`` when the caller has it."""
    part, placement, routes = _require(program)
    target = program.target
    graph = program.graph
    t_post = time.perf_counter()
    res, fg = run.result, run.flat
    T, B = res.steps, run.inputs.batch
    coords = np.asarray(placement.coords, dtype=np.int64)
    n_cores = len(part.cores)
    if coords.shape != (n_cores, 4):
        raise SimulationError("placement coords do not match the partition", node="placement",
                              needed=(n_cores, 4), available=coords.shape)
    t_setup = time.perf_counter()
    rl = route_list(routes)
    net = flatten_routes(rl, coords, target)
    R = len(rl)
    route_of = {int(r.source): k for k, r in enumerate(rl)}
    core = neuron_cores(fg, part)
    input_id = {inp.name: k for k, inp in enumerate(graph.inputs)}
    # a neuron's send goes out on its core's route; an input's on route -1 - k
    src_route = np.full(fg.n, -1, dtype=np.int64)
    for g_idx_name, k in input_id.items():
        a, b = fg.node_range(g_idx_name)
        src_route[a:b] = route_of.get(-1 - k, -1)
    has_core = core >= 0
    src_route[has_core] = np.array([route_of.get(int(c), -1) for c in range(n_cores)] + [-1])[core[has_core]]
    ok = src_route >= 0
    route_mat = sp.csr_matrix((np.ones(int(ok.sum())), (np.nonzero(ok)[0], src_route[ok])), shape=(fg.n, max(R, 1)))
    if fan is None:
        fan = fanout(graph, fg, part)  # synapses per (source, performing core): partial-sum tree nodes included
    into = fan.performed
    neurons_per_core = np.bincount(core[has_core], minlength=n_cores)
    setup_s = time.perf_counter() - t_setup
    # sends per (sample step, global index) as a sparse matrix [T*B, N], rows ordered t * B + b: spikes from the
    # kernel's event list, non-zero values of non-spiking populations from their traces, inputs from the step list
    ev_t, ev_b, ev_n = run.spike_events if run.spike_events is not None else (np.zeros(0, np.int64),) * 3
    rows = [ev_t.astype(np.int64) * B + ev_b]
    cols = [ev_n]
    for name in fg.populations:
        if name in res.spikes:
            continue
        a, b = fg.node_range(name)
        t_i, b_i, n_i = np.nonzero(res.v[name].reshape(T, B, -1) != 0)
        rows.append(t_i * B + b_i)
        cols.append(n_i + a)
    key = np.repeat(np.arange(B * T), np.diff(run.inputs.ptr))  # b * T + t
    rows.append((key % T) * B + key // T)
    cols.append(run.inputs.index)
    rr, cc = np.concatenate(rows), np.concatenate(cols)
    sends = sp.csr_matrix((np.ones(len(rr)), (rr, cc)), shape=(T * B, fg.n))
    # packets per step and route
    inject = np.ascontiguousarray((sends @ route_mat).toarray()[:, :R], dtype=np.int64)
    psums = partial_sums_per_step(part)
    for c, n in psums.items():  # partial-sum cores forward every accumulated neuron
        if c in route_of:
            inject[:, route_of[c]] += n
    # synaptic events each core performs per step (compute phase), plus the partial sums a merge core adds
    syn_per_core = (sends @ into).toarray().astype(np.int64)
    for c in part.cores:
        if c.role == "partial_sum" and c.merge_into is not None:
            syn_per_core[:, c.merge_into] += psums.get(c.index, 0)
    compute = (syn_per_core + neurons_per_core[None, :]).max(axis=1) if n_cores else np.zeros(T * B, np.int64)
    # the NoC, every step in one compiled call per forwarding phase (steps without packets are skipped)
    C = len(net.ch_latency)
    bf = max(1, int(target.noc.buffer_flits))
    buf_e = np.zeros((max(C, 1), bf), dtype=np.int64)
    buf_ready = np.zeros_like(buf_e)
    buf_mask = np.zeros_like(buf_e)
    link_load = np.zeros(max(C, 1), dtype=np.int64)
    blocked = np.zeros(max(C, 1), dtype=np.int64)
    comm = np.zeros(T * B, dtype=np.int64)
    stalls = np.zeros(T * B, dtype=np.int64)
    delivered = np.zeros(T * B, dtype=np.int64)
    expected = inject @ net.r_ndest if R else np.zeros(T * B, dtype=np.int64)
    wd = watchdog_cycles(target)
    phase = route_phases(part, route_of, R, target.noc.forwarding)
    t0 = time.perf_counter()
    hops_total = 0
    if R:
        with StepProgress(T * B, "cycle engine (NoC)", enabled=progress) as bar:
            for p in np.unique(phase):
                # phase p's packets alone; each phase drains before the next starts (a barrier per phase)
                inj = inject if phase.min() == phase.max() else np.where(phase[None, :] == p, inject, 0)
                c_p, s_p, d_p = (np.zeros(T * B, dtype=np.int64) for _ in range(3))
                bad, hops = noc_run(inj, net.ch_latency, net.e_ch, net.e_eject, net.e_cptr, net.e_cidx, net.r_ptr,
                                    net.r_idx, net.r_local, bf, int(target.noc.link_flits_per_cycle), wd, buf_e,
                                    buf_ready, buf_mask, link_load, blocked, c_p, s_p, d_p, True)
                hops_total += hops
                if bad >= 0:
                    raise deadlock_error(net, blocked[:C], bad // B, bad % B, wd, int((inj @ net.r_ndest)[bad]),
                                         int(d_p[bad]))
                comm += c_p
                stalls += s_p
                delivered += d_p
            bar.advance(T * B)
        lost = np.nonzero(delivered != expected)[0]
        if len(lost):
            s = int(lost[0])
            raise SimulationError(f"packets lost in step {s // B}", node="noc", needed=int(expected[s]),
                                  available=int(delivered[s]))
    noc_s = time.perf_counter() - t0
    latency = compute + comm
    clock = float(target.clock_hz)
    load = link_load[:C]
    per_sample = latency.reshape(T, B).sum(axis=0)
    noc_stats: dict[str, Any] = {
        "packets": int(inject.sum()),
        "deliveries": int(expected.sum()),
        "router_traversals": int(hops_total),
        "interchip_flits": int(load[net.ch_interchip].sum()) if C else 0,
        "stalls": int(stalls.sum()),
        "compute_cycles": int(compute.sum()),
        "communication_cycles": int(comm.sum()),
        "latency_cycles_per_step_max": int(latency.max()) if len(latency) else 0,
        "latency_cycles_per_step_mean": float(latency.mean()) if len(latency) else 0.0,
        "latency_cycles_per_sample": [int(x) for x in per_sample],
        "latency_s_per_sample": [float(x) / clock for x in per_sample],
        "link_load_max": int(load.max()) if C else 0,
        "link_load_total": int(load.sum()) if C else 0,
        "busiest_links": [{"link": net.channel_name(int(c)), "flits": int(load[c])}
                          for c in np.argsort(-load, kind="stable")[:5] if load[c] > 0] if C else [],
        "link_flits": [[*(int(v) for v in net.ch_key[c]), int(load[c])] for c in np.flatnonzero(load)] if C else [],
        "channels": C,
        "forwarding": target.noc.forwarding,
        "forwarding_phases": int(phase.max()) + 1 if R else 1,
        "noc_s": noc_s,
        "setup_s": setup_s,
    }
    if T * B <= PER_STEP_LIMIT:
        noc_stats["per_step"] = {"compute_cycles": compute.tolist(), "communication_cycles": comm.tolist(),
                                 "packets": inject.sum(axis=1).tolist(), "stalls": stalls.tolist()}
    res.stats["noc"] = noc_stats
    # run time: the functional kernel run plus every per-step part of this engine (send bookkeeping, compute
    # model, NoC); the one-time network setup (route flattening) is reported apart as setup_s
    res.stats["run_s"] = res.stats["run_s"] + (time.perf_counter() - t_post) - setup_s
    res.engine = "cycle"
    # NoC actions per core: a flit's router traversal is charged to the core at the channel's upstream router
    at_router = {}
    for i in range(n_cores):
        at_router.setdefault(global_xy(coords[i], target), i)
    ch_core = np.array([at_router.get(global_xy(k, target), 0) for k in net.ch_key], dtype=np.int64)
    acts = Actions(seconds=float(latency.sum()) / clock, fanout=fan)
    src_core = np.array([int(r.source) if int(r.source) >= 0 else 0 for r in rl], dtype=np.int64)
    acts.add("packet", np.bincount(src_core, weights=inject.sum(axis=0), minlength=n_cores).astype(np.int64)
             if R else np.zeros(n_cores, dtype=np.int64))
    if C:
        ns = net.ch_key[:, 4] >= 2  # north / south links (direction 2 = N, 3 = S)
        acts.add("router_hop", np.bincount(ch_core[~ns], weights=load[~ns], minlength=n_cores).astype(np.int64))
        acts.add("router_hop_ns", np.bincount(ch_core[ns], weights=load[ns], minlength=n_cores).astype(np.int64))
        acts.add("link", np.bincount(ch_core[~net.ch_interchip], weights=load[~net.ch_interchip],
                                     minlength=n_cores).astype(np.int64))
        acts.add("interchip_bits", np.bincount(ch_core[net.ch_interchip], weights=load[net.ch_interchip],
                                               minlength=n_cores).astype(np.int64) * PACKET_BITS)
    return res, acts
