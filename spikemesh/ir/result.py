"""``SimResult``: what every engine returns, and ``headline``: the figures a user looks at first (energy per
inference, power, latency, SynOps, accuracy), read from engine statistics in one place for the CLI, the HTML
report and the REPL."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.fileio import atomic_open, npz_bytes


def _mean(values: Any) -> float | None:
    vals = [float(v) for v in (values or []) if v is not None]
    return float(np.mean(vals)) if vals else None


def headline(sim: Mapping[str, Any], dt: float | None = None) -> dict[str, Any]:
    """Headline figures of one run from a ``simulation`` entry of report.json (``engine``, ``steps``, ``batch``,
    optional ``accuracy`` and the engine statistics) or a SimResult's ``stats`` merged with those keys.

    Keys (None when the engine does not measure it): ``energy_per_inference_uj`` (total energy / samples),
    ``latency_s`` per sample and its ``latency_basis`` (``cycle``: compute + NoC cycles / clock; ``async``: mean
    delay of output spikes after their input event), ``power_mw`` = energy per inference / time per inference
    (the cycle latency when the engine measures one, else ``steps × dt``: the chip keeping pace with real time;
    ``power_basis`` says which), ``synops_per_inference``, ``spikes_per_inference``, ``accuracy``."""
    steps, batch = int(sim.get("steps") or 0), max(1, int(sim.get("batch") or 1))
    engine = str(sim.get("engine", ""))
    e = sim.get("energy") or {}
    total_pj = e.get("total_pj")
    e_uj = float(total_pj) / batch / 1e6 if total_pj is not None else None
    latency, basis = None, None
    noc = sim.get("noc") or {}
    if noc.get("latency_s_per_sample"):
        latency, basis = _mean(noc["latency_s_per_sample"]), "cycle: compute + NoC cycles / clock"
    elif sim.get("samples") and any(s.get("latency_mean_s") is not None for s in sim["samples"]):
        latency = _mean(s.get("latency_mean_s") for s in sim["samples"])
        basis = "async: mean output-spike delay after its input event"
    power, pbasis = None, None
    if e_uj is not None:
        if noc.get("latency_s_per_sample") and latency:
            power, pbasis = e_uj / latency / 1e3, "energy / cycle latency"
        elif dt and steps:
            power, pbasis = e_uj / (steps * dt) / 1e3, f"energy / real time ({steps} steps x {dt:g} s)"
    acts = sim.get("actions") or {}
    synops = acts.get("synop")
    if synops is None and sim.get("synops_per_core") is not None:
        synops = sum(sim["synops_per_core"])
    spikes = sim.get("spikes")
    n_spikes = sum(spikes.values()) if isinstance(spikes, Mapping) else sim.get("spike_events_total")
    return {"engine": engine, "steps": steps, "batch": batch, "energy_per_inference_uj": e_uj,
            "power_mw": power, "power_basis": pbasis, "latency_s": latency, "latency_basis": basis,
            "synops_per_inference": float(synops) / batch if synops is not None else None,
            "spikes_per_inference": float(n_spikes) / batch if n_spikes is not None else None,
            "accuracy": sim.get("accuracy")}


def format_headline(h: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the figures ``headline`` measured, in display order."""
    rows = []
    if h.get("accuracy") is not None:
        rows.append(("accuracy", f"{h['accuracy']:.1%}"))
    if h.get("energy_per_inference_uj") is not None:
        rows.append(("energy per inference", f"{h['energy_per_inference_uj']:.4g} µJ"))
    if h.get("power_mw") is not None:
        rows.append(("power", f"{h['power_mw']:.4g} mW"))
    if h.get("latency_s") is not None:
        rows.append(("latency per sample", f"{h['latency_s'] * 1e6:.4g} µs"))
    if h.get("synops_per_inference") is not None:
        rows.append(("SynOps per inference", f"{h['synops_per_inference']:,.0f}"))
    if h.get("spikes_per_inference") is not None:
        rows.append(("spikes per inference", f"{h['spikes_per_inference']:,.1f}"))
    return rows


@dataclass
class SimResult:
    """Spikes of every spiking population (bool ``[T, B, *shape]``), state traces ``v`` of recorded and of
    non-spiking populations, the output nodes' arrays, and engine-specific statistics (``stats``: counts,
    latency in cycles and seconds, energy in pJ by action). ``dt`` is the model's step in seconds (set by
    ``spikemesh.simulate``)."""

    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    engine: str
    steps: int
    mode: str = "float"
    stats: dict[str, Any] = field(default_factory=dict)
    dt: float | None = None

    @property
    def output(self) -> np.ndarray | None:
        """The first output node's array ``[T, B, *shape]``."""
        return next(iter(self.outputs.values()), None)

    @property
    def batch(self) -> int:
        arr = next(iter(self.spikes.values()), None)
        arr = self.output if arr is None else arr
        return int(arr.shape[1]) if arr is not None and arr.ndim > 1 else 1

    def spike_counts(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.spikes.items()}

    def headline(self, accuracy: float | None = None) -> dict[str, Any]:
        """``headline`` figures of this run (energy per inference, power, latency, SynOps, accuracy)."""
        sim = {**self.stats, "engine": self.engine, "steps": self.steps, "batch": self.batch,
               "spikes": self.spike_counts(), "accuracy": accuracy}
        return headline(sim, self.dt)

    def save_rasters(self, path: str | Path) -> None:
        """Spike rasters (and traces) as a compressed npz, written atomically."""
        arrays = {f"spikes/{k}": v for k, v in self.spikes.items()}
        arrays.update({f"v/{k}": v for k, v in self.v.items()})
        with atomic_open(path, "wb") as fh:
            fh.write(npz_bytes(arrays))

    def __repr__(self) -> str:
        pops = ", ".join(f"{k}{list(v.shape[2:])}" for k, v in self.spikes.items())
        figs = "; ".join(f"{k} {v}" for k, v in format_headline(self.headline()) if k != "spikes per inference")
        return (f"SimResult(engine={self.engine!r}, steps={self.steps}, batch={self.batch}, mode={self.mode!r}, "
                f"spikes={sum(self.spike_counts().values()):,} in {pops or 'no populations'}"
                + (f", traces={list(self.v)}" if self.v else "") + (f"; {figs}" if figs else "") + ")")

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(v)}</td></tr>"
                       for k, v in format_headline(self.headline()))
        counts = self.spike_counts()
        layers = "".join(
            f"<tr><td>{esc(k)}</td><td>{esc('x'.join(map(str, a.shape[2:])))}</td><td style='text-align:right'>"
            f"{counts[k]:,}</td><td style='text-align:right'>{counts[k] / max(1, a.size):.4f}</td>"
            f"<td>{'yes' if k in self.v else ''}</td></tr>" for k, a in self.spikes.items())
        return (f"<div><b>SimResult</b>: engine <code>{esc(self.engine)}</code>, {self.steps} steps, batch "
                f"{self.batch}, {esc(self.mode)} mode<table>{rows}</table>"
                "<table><tr><th>population</th><th>shape</th><th>spikes</th><th>rate / neuron / step</th>"
                f"<th>trace</th></tr>{layers}</table></div>")
