"""``async`` engine: the Speck (DYNAP-CNN) cores and the DVS layer, event by event (the kernel and its semantics:
async_kernel.py).

Inputs are the reference's ``[T, B, *input_shape]`` count arrays: a count n at step t is n events at time
``t·dt`` (sinabs ``raster_to_events``), passed through the DVS layer (dvs.py) and its routes. Spikes are binned
to the step of the input event that caused them (or of the tick) and counted (``SimResult.spikes`` holds uint16
counts per step: a neuron can fire once per input event), so with latency < dt and no neuron receiving two events
in one step the spikes equal the reference's. Per-core latency defaults to 3.36 µs / 9: one event
through 9 layers takes 3.36 µs (Richter et al., arXiv:2304.06793). Energy: resting power × simulated time +
synop_pj × (SynOps + leak updates); the per-SynOp energy is not published for Speck, so ``synop_pj`` is a
calibration parameter of the target's EnergyTable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikemesh.backends.speck.async_kernel import run_events
from spikemesh.errors import SimulationError
from spikemesh.ir.reference import normalize_inputs
from spikemesh.ir.result import SimResult, make_summary

DEFAULT_HOP_S = 3.36e-6 / 9  # one event through 9 layers in 3.36 µs (Richter et al., arXiv:2304.06793)


def _pack(cfg: Any) -> dict[str, Any]:
    """Flat arrays of a SpeckConfig for the kernel."""
    layers = cfg.layers
    index = {L.name: i for i, L in enumerate(layers)}
    geo = np.zeros((len(layers), 14), np.int64)
    dest = np.zeros((len(layers), 10), np.int64)
    ws, bs = [], []
    w_off = v_off = b_off = 0
    for i, L in enumerate(layers):
        c, h, w = L.in_shape
        f, ho, wo = L.out_shape
        geo[i] = (c, h, w, f, ho, wo, L.kernel, L.stride[0], L.stride[1], L.padding[0], L.padding[1], w_off, v_off,
                  L.threshold_high)
        dest[i, 0] = len(L.destinations)
        for d, (name, pool, sh) in enumerate(L.destinations):
            dest[i, 1 + 3 * d:4 + 3 * d] = (index[name], pool, sh)
        dest[i, 7:10] = (L.threshold_low, 1 if L.reset == "zero" else 0, b_off)
        ws.append(np.asarray(L.weight, np.int64).reshape(-1))
        bs.append(np.asarray(L.bias, np.int64).reshape(-1))
        w_off += ws[-1].size
        b_off += bs[-1].size
        v_off += f * ho * wo
    if cfg.dvs is not None:
        routes = [(index[n], sh) for n, sh in cfg.dvs.destinations]
    else:
        routes = [(index[n], sh) for n, sh in cfg.input_routes]
    return {"geo": geo, "dest": dest, "W": np.concatenate(ws), "B": np.concatenate(bs), "routes": routes,
            "dvs": cfg.dvs, "index": index, "leak": np.array([L.leak_enable for L in layers], dtype=np.bool_)}


def _input_events(x: np.ndarray, dt: float, routes: list[tuple[int, int]], dvs: Any,
                  geo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample's ``[T, *shape]`` counts -> (times [E], rows [E, 5]) through the DVS layer (merge, pooling,
    crop, mirror, swap: backends/speck/dvs.py) and the routes."""
    if x.ndim == 2:  # flat input (N,) -> (N, 1, 1)
        x = x[:, :, None, None]
    t, c, y, xx = np.nonzero(x)
    n = x[t, c, y, xx].astype(np.int64)
    t, c, y, xx = (np.repeat(a, n) for a in (t, c, y, xx))
    if dvs is not None:
        keep, c, y, xx = dvs.events(c, y, xx)
        t, c, y, xx = t[keep], c[keep], y[keep], xx[keep]
    rows, times = [], []
    for layer, sh in routes:
        ok = (y < geo[layer, 1]) & (xx < geo[layer, 2]) & (c + sh < geo[layer, 0])
        r = np.stack([np.full(ok.sum(), layer), c[ok] + sh, y[ok], xx[ok], t[ok]], axis=1)
        rows.append(r)
        times.append(t[ok])
    if not rows:
        return np.zeros(0), np.zeros((0, 5), np.int64)
    r = np.concatenate(rows).astype(np.int64)
    st = np.concatenate(times)
    order = np.lexsort((np.arange(len(st)), st))  # by step, stable: route, then channel, y, x
    return r[order, 4].astype(np.float64) * dt, np.ascontiguousarray(r[order])


def run_async(program: Any, inputs: Any, record: Any = None, slow_clk_hz: float | None = None,
              synops_per_s: float | None = None, max_backlog_s: float = 1e-3,
              hop_latency_s: float | None = None, progress: bool = False, fidelity: bool = True) -> SimResult:
    """Run a Program compiled for a speck-family target on ``inputs`` ``[T, B, *input_shape]`` (event counts).

    ``slow_clk_hz``: leak ticks per second (default 1/dt); ``synops_per_s``: per-core throughput limit (None =
    unlimited: the sinabs documentation says each core has one but publishes no figure); ``max_backlog_s``:
    queueing delay beyond which an event is dropped; ``hop_latency_s``: per-core latency (default: the target's
    ``event_latency_s`` = 3.36 µs / 9); ``progress``: a progress bar over the samples; ``fidelity``: also run the
    reference on the Program's (quantized) graph and report the distance in ``summary()["fidelity"]``, and, when
    the Program keeps the float model it was quantized from, the distance to that model's reference run under
    ``["fidelity"]["float_model"]``."""
    cfg = getattr(program, "config", None)
    if cfg is None or not hasattr(cfg, "layers"):
        raise SimulationError("the async engine runs a Program compiled for a speck target", node="async",
                              hint="spikemesh.compile(graph, 'speck') first")
    if record:
        raise SimulationError("the async engine records spikes only (no membrane traces)", node="async")
    graph = program.graph
    dvs = getattr(cfg, "dvs", None)
    if dvs is not None and dvs.sensor:  # raw sensor events [T, B, 2, H, W]: the DVS layer makes the graph input
        x = np.asarray(inputs[graph.inputs[0].name] if isinstance(inputs, dict) else inputs)
        if x.ndim == 4:
            x = x[:, None]
        if x.ndim != 5 or tuple(x.shape[2:]) != dvs.shape:
            raise SimulationError("async inputs of a DVS build are sensor events", node="dvs",
                                  needed=f"[T, B, {', '.join(map(str, dvs.shape))}]", available=list(x.shape),
                                  hint="config.dvs.frames(x) gives what the graph input sees (for reference)")
        T, Bn = x.shape[:2]
    else:
        xs, T, Bn = normalize_inputs(graph, inputs)
        x = xs[graph.inputs[0].name]
    if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
        raise SimulationError("async inputs are event counts (non-negative integers)", node=graph.inputs[0].name)
    pk = _pack(cfg)
    dt = graph.dt
    tick_dt = 0.0
    if pk["leak"].any():
        tick_dt = 1.0 / slow_clk_hz if slow_clk_hz else dt
    hop = float(program.target.extra.get("event_latency_s", DEFAULT_HOP_S) if hop_latency_s is None
                else hop_latency_s)
    rate = float(synops_per_s or 0.0)
    layers = cfg.layers
    # spike counts, not a boolean raster: a neuron may fire several times in one step (one spike per input event)
    spikes = {L.name: np.zeros((T, Bn, *L.pop_shape), dtype=np.uint16) for L in layers}
    counts = {L.name: 0 for L in layers}
    n = len(layers)
    tot = {k: np.zeros(n, np.int64) for k in ("synops", "leak_updates", "dropped", "events_in")}
    per_sample = []
    batches: Any = range(Bn)
    if progress:
        from rich.progress import track

        batches = track(batches, description="async", transient=True)
    for b in batches:
        t_in, rows = _input_events(x[:, b], dt, pk["routes"], pk["dvs"], pk["geo"])
        sp, lat, syn, leak, drop, ev = run_events(pk["geo"], pk["W"], pk["B"], pk["dest"], t_in, rows, tick_dt, dt,
                                                 T * dt, hop, rate, float(max_backlog_s), pk["leak"])
        for k, v in zip(tot, (syn, leak, drop, ev)):
            tot[k] += v
        for i, L in enumerate(layers):
            m = sp[:, 0] == i
            if not m.any():
                continue
            s = sp[m]
            counts[L.name] += int(m.sum())
            ch = np.asarray(L.channels)
            inv = np.full(L.out_shape[0], -1)
            inv[ch] = np.arange(len(ch))
            pc = inv[s[:, 1]]
            ok = (pc >= 0) & (s[:, 4] < T)
            arr = spikes[L.name].reshape(T, Bn, L.out_shape[0] if not L.channels else len(ch), -1)
            flat = s[ok, 2] * L.out_shape[2] + s[ok, 3]
            np.add.at(arr, (s[ok, 4], b, pc[ok], flat), 1)
        out_lat = lat[np.isin(sp[:, 0], [i for i, L in enumerate(layers) if L.monitor])] if len(sp) else lat
        per_sample.append({
            "input_events": int(len(t_in)), "synops": int(syn.sum()), "spikes": int(len(sp)),
            "dropped": int(drop.sum()),
            "latency_mean_s": float(out_lat.mean()) if len(out_lat) else None,
            "latency_max_s": float(out_lat.max()) if len(out_lat) else None,
        })
    stats = _energy_stats(program, tot, T * dt * Bn, cfg)
    stats.update(samples=per_sample, spike_events=counts)
    outputs = {o.name: spikes[o.source] for o in graph.outputs if o.source in spikes}
    res = SimResult(spikes=spikes, v={}, outputs=outputs, engine="async", steps=T, mode="int", stats=stats)
    fid = None
    if fidelity and not (dvs is not None and dvs.sensor):
        from spikemesh.ir.reference import run_reference
        from spikemesh.ir.result import fidelity as fidelity_of
        from spikemesh.ir.result import with_float_fidelity

        fid = fidelity_of(spikes, run_reference(graph, x), result_output=res.output)
        fid = with_float_fidelity(fid, program, x, spikes, res.output)
    lat = [s["latency_mean_s"] for s in per_sample if s["latency_mean_s"] is not None]
    rep = stats["energy"]
    energy = {**rep, "by_layer_pj": _by_layer(program, tot, cfg, rep)}
    res.stats["summary"] = make_summary(
        engine="async", steps=T, batch=Bn, spikes_per_layer=counts, synops=int(tot["synops"].sum()),
        neuron_updates=int(tot["leak_updates"].sum()), energy=energy, time_model="events",
        latency_s=T * dt, seconds=T * dt * Bn,
        latency_note="event-driven: no clock cycles; a sample takes its duration T·dt (the chip keeps pace with "
                     f"its input); mean event latency to an output spike: {np.mean(lat) if lat else 0.0:.3g} s",
        fidelity=fid)
    return res


def _by_layer(program: Any, tot: dict[str, np.ndarray], cfg: Any, rep: dict[str, Any]) -> dict[str, float]:
    """pJ per layer: its SynOps and leak updates at synop_pj, plus the static energy under "(static)"."""
    from spikemesh.simulator.energy import STATIC_LAYER

    pj = float(program.target.energy.synop_pj)
    out = {L.name: float(tot["synops"][i] + tot["leak_updates"][i]) * pj for i, L in enumerate(cfg.layers)}
    if rep["by_action_pj"].get("static"):
        out[STATIC_LAYER] = float(rep["by_action_pj"]["static"])
    return out


def _energy_stats(program: Any, tot: dict[str, np.ndarray], seconds: float, cfg: Any) -> dict[str, Any]:
    from spikemesh.simulator.energy import Actions, energy

    n_cores = program.target.cores_per_chip
    per_core = {k: np.zeros(n_cores, np.int64) for k in tot}
    for i, c in enumerate(cfg.cores):
        for k in tot:
            per_core[k][c] += tot[k][i]
    acts = Actions(seconds=seconds)
    acts.add("synop", per_core["synops"] + per_core["leak_updates"])  # a leak update costs one SynOp (no figure)
    rep = energy(acts, program.target.energy)
    e = rep.to_dict()
    pj = float(program.target.energy.synop_pj)
    e["by_layer_pj"] = {L.name: float((tot["synops"][i] + tot["leak_updates"][i]) * pj)
                        for i, L in enumerate(cfg.layers)}
    return {"synops_per_core": per_core["synops"].tolist(), "leak_updates_per_core": per_core["leak_updates"].tolist(),
            "dropped_per_core": per_core["dropped"].tolist(), "events_in_per_core": per_core["events_in"].tolist(),
            "seconds": seconds, "energy": e,
            "energy_dynamic_pj": float(rep.total_pj - rep.by_action["static"])}
