"""Plots of a run and a build, as matplotlib Figures (public as ``spikemesh.plot``): ``raster``, ``trace``,
``energy``, ``latency``, ``placement``.

Every function takes duck-typed objects: a ``SimResult`` (``spikes``, ``v``, ``stats``, ``engine``, ``steps``) or,
where only statistics are needed, the ``simulation`` entry of a build's report.json; a ``Program`` (``graph``,
``target``, ``partition``, ``placement``, ``routes``). Figures are ``matplotlib.figure.Figure`` objects not registered
with pyplot (no backend switch): Jupyter displays a returned Figure, ``fig.savefig(path)`` writes one, and
``ax=`` draws into an Axes of your own figure instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spikemesh.errors import SimulationError
from spikemesh.report.placement_map import layer_colour, new_figure, placement_figure

ENERGY_BY = ("layer", "action", "core")


def sim_entry(result: Any) -> dict[str, Any]:
    """The ``simulation`` dict (engine, steps, batch, spikes and engine statistics) of a SimResult, or a copy of
    such a dict."""
    if isinstance(result, Mapping):
        return dict(result)
    stats = getattr(result, "stats", None)
    if stats is None:
        raise SimulationError("not a simulation result", node=type(result).__name__,
                              needed="a SimResult or a report.json 'simulation' entry")
    spikes = getattr(result, "spikes", {})
    batch = next((int(a.shape[1]) for a in spikes.values() if a.ndim > 1), 1)
    return {**stats, "engine": getattr(result, "engine", ""), "steps": int(getattr(result, "steps", 0)),
            "batch": batch, "spikes": {k: int(v.sum()) for k, v in spikes.items()}}


def _layer_array(store: Mapping[str, np.ndarray], layer: str | None, what: str, hint: str) -> tuple[str, np.ndarray]:
    if not store:
        raise SimulationError(f"the result has no {what}", node=what, hint=hint)
    if layer is None:
        layer = next(iter(store))
    if layer not in store:
        raise SimulationError(f"no {what} for this layer", node=layer, needed=f"one of {', '.join(store)}",
                              hint=hint)
    return layer, np.asarray(store[layer])


def raster(result: Any, layer: str | None = None, sample: int = 0, max_neurons: int = 4096, ax: Any = None) -> Any:
    """Spike raster of ``layer`` (default: the first population) for batch element ``sample``: one dot per
    spike, step on x, flat neuron index on y (the first ``max_neurons`` neurons). Returns the Figure."""
    layer, arr = _layer_array(getattr(result, "spikes", {}), layer, "spikes", "simulate the model first")
    if not 0 <= sample < arr.shape[1]:
        raise SimulationError("sample out of range", node=layer, needed=f"0..{arr.shape[1] - 1}", available=sample)
    s = arr[:, sample].reshape(arr.shape[0], -1)
    n = s.shape[1]
    s = s[:, :max_neurons]
    t, i = np.nonzero(s)
    fig, ax = new_figure(7.0, 3.2) if ax is None else (ax.figure, ax)
    ax.scatter(t, i, s=4 if len(t) < 20000 else 1, marker="|", color="black", linewidths=0.8)
    ax.set_xlim(-0.5, arr.shape[0] - 0.5)
    ax.set_ylim(-0.5, min(n, max_neurons) - 0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("neuron (flat index)")
    shown = f", first {max_neurons} of {n} neurons" if n > max_neurons else f", {n} neurons"
    ax.set_title(f"{layer}: {int(arr[:, sample].sum()):,} spikes, sample {sample}{shown}", fontsize=10)
    fig.tight_layout()
    return fig


def trace(result: Any, layer: str | None = None, neurons: Any = None, sample: int = 0, ax: Any = None) -> Any:
    """Membrane (state) traces of ``layer`` (a recorded population, ``simulate(..., record=[layer])``) for batch
    element ``sample``: ``neurons`` (flat indices; default the 6 that spike most, else the first 6), with the
    steps where each spiked marked. Returns the Figure."""
    layer, v = _layer_array(getattr(result, "v", {}), layer, "membrane traces",
                            "record the layer: simulate(..., record=[name]) or --record NAME")
    if not 0 <= sample < v.shape[1]:
        raise SimulationError("sample out of range", node=layer, needed=f"0..{v.shape[1] - 1}", available=sample)
    vv = v[:, sample].reshape(v.shape[0], -1).astype(np.float64)
    sp = getattr(result, "spikes", {}).get(layer)
    ss = None if sp is None else np.asarray(sp)[:, sample].reshape(sp.shape[0], -1)
    if neurons is None:
        score = ss.sum(axis=0) if ss is not None else np.abs(vv).sum(axis=0)
        neurons = np.sort(np.argsort(-score, kind="stable")[:6])
    neurons = [int(k) for k in np.atleast_1d(neurons)]
    bad = [k for k in neurons if not 0 <= k < vv.shape[1]]
    if bad:
        raise SimulationError("neuron index out of range", node=layer, needed=f"0..{vv.shape[1] - 1}",
                              available=bad)
    fig, ax = new_figure(7.0, 3.2) if ax is None else (ax.figure, ax)
    steps = np.arange(vv.shape[0])
    for j, k in enumerate(neurons):
        c = layer_colour(j)
        ax.plot(steps, vv[:, k], color=c, lw=1.2, label=f"neuron {k}", drawstyle="steps-mid")
        if ss is not None:
            hit = np.flatnonzero(ss[:, k])
            ax.plot(hit, vv[hit, k], "v", color=c, ms=4, ls="none")
    ax.set_xlabel("step")
    ax.set_ylabel("state (after reset)")
    ax.set_title(f"{layer}: membrane traces, sample {sample} (▼ = spike)", fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def energy_breakdown(result: Any, by: str = "layer") -> dict[str, float]:
    """Energy per inference in µJ by ``layer`` (population), ``action`` (incl. static) or ``core``."""
    if by not in ENERGY_BY:
        raise SimulationError("unknown energy breakdown", node="energy", needed=" | ".join(ENERGY_BY), available=by)
    sim = sim_entry(result)
    e = sim.get("energy") or {}
    if not e:
        raise SimulationError("the run has no energy figures", node=str(sim.get("engine", "?")),
                              hint="use engine 'fast' or 'cycle' on a compiled Program (or fast with target=...)")
    batch = max(1, int(sim.get("batch") or 1))
    key = {"layer": "by_layer_pj", "action": "by_action_pj", "core": "by_core_pj"}[by]
    values = e.get(key)
    if values is None:
        raise SimulationError(f"the {sim.get('engine')} engine does not break energy down by {by}", node=key,
                              available=sorted(k for k in e if k.startswith("by_")))
    if isinstance(values, Mapping):
        return {str(k): float(v) / batch / 1e6 for k, v in values.items()}
    return {str(i): float(v) / batch / 1e6 for i, v in enumerate(values)}


def energy(result: Any, by: str = "layer", ax: Any = None) -> Any:
    """Bar chart of the energy per inference (µJ) by ``layer``, ``action`` or ``core``. Returns the Figure."""
    parts = energy_breakdown(result, by)
    if by == "layer":  # graph inputs spend nothing unless replayed by source cores
        parts = {k: v for k, v in parts.items() if v != 0} or parts
    names, vals = list(parts), list(parts.values())
    height = max(2.2, min(9.0, 0.6 + 0.28 * len(names)))
    fig, ax = new_figure(7.0, height) if ax is None else (ax.figure, ax)
    colours = [layer_colour(i) for i in range(len(names))] if by == "layer" else "#4c72b0"
    ax.barh(range(len(names)), vals, color=colours)
    ax.set_yticks(range(len(names)), [f"core {n}" if by == "core" else n for n in names], fontsize=8)
    ax.invert_yaxis()
    total = sum(vals)
    ax.set_xlabel("energy per inference (µJ)")
    ax.set_title(f"energy by {by}: {total:.4g} µJ per inference" + (" (dynamic)" if by != "action" else ""),
                 fontsize=10)
    for i, v in enumerate(vals):
        if v > 0:
            ax.text(v, i, f" {v:.3g}", va="center", fontsize=7)
    ax.margins(x=0.15)
    fig.tight_layout()
    return fig


def latency(result: Any, ax: Any = None) -> Any:
    """Cycles per step (compute and communication, mean over the batch) measured by the ``cycle`` engine."""
    sim = sim_entry(result)
    per = ((sim.get("noc") or {}).get("per_step")) or {}
    if not per:
        raise SimulationError("the run has no per-step latency", node=str(sim.get("engine", "?")),
                              hint="use engine='cycle' (per-step arrays are kept up to 10,000 steps x batch)")
    T, B = int(sim["steps"]), max(1, int(sim.get("batch") or 1))
    comp = np.asarray(per["compute_cycles"], dtype=np.float64).reshape(T, B).mean(axis=1)
    comm = np.asarray(per["communication_cycles"], dtype=np.float64).reshape(T, B).mean(axis=1)
    fig, ax = new_figure(7.0, 3.0) if ax is None else (ax.figure, ax)
    steps = np.arange(T)
    ax.bar(steps, comp, color="#4c72b0", label="compute")
    ax.bar(steps, comm, bottom=comp, color="#dd8452", label="communication (NoC)")
    ax.set_xlabel("step")
    ax.set_ylabel("cycles (mean over samples)")
    ax.set_title(f"latency per step: {float((comp + comm).sum()):,.0f} cycles per sample", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def placement(program: Any, result: Any = None) -> Any:
    """The placement map of a mesh-family Program; with ``result`` (a cycle-engine SimResult or a simulation
    entry) the links show the simulated load and the tooltips the energy per core."""
    if getattr(program, "placement", None) is None or getattr(program, "partition", None) is None:
        raise SimulationError("the program has no placement", node="placement",
                              hint="compile for a mesh-family target (tianjic, loihi, crossbar)")
    return placement_figure(program, None if result is None else sim_entry(result))
