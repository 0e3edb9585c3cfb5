"""``SimResult``: what every engine returns; ``summary()``: the one metrics model every engine reports in; and
``headline``: the figures a user looks at first, read from the summary for the CLI, the HTML report and the REPL.

``make_summary`` builds the summary dict from what an engine measured; an engine stores it in
``stats["summary"]`` and ``SimResult.summary()`` returns it (engines that model neither energy nor time, such as
``reference``, get one built from their rasters). Keys and units (docs/report.md, "simulation.summary"):

- ``engine``, ``steps``, ``batch``;
- ``energy_per_inference_uJ`` (total incl. static ÷ batch), ``energy_dynamic_per_inference_uJ``,
  ``energy_static_per_inference_uJ``: None with ``notes["energy"]`` when the engine prices no actions;
- ``average_power_mW``: total energy ÷ simulated hardware time (static included); None when time is not modelled;
- ``latency_per_sample_s``, ``latency_per_sample_cycles``: mean over samples; ``time_model`` says what the
  engine models ("cycles", "events" or "none") and ``notes["latency"]`` why a value is None;
- ``synaptic_operations`` (total over the batch), ``synaptic_operations_per_inference``, ``neuron_updates``;
- ``spikes_per_layer`` (exact counts, every spike of a neuron in a step counted), ``spikes_total``;
- ``energy_by_action_pJ``, ``energy_by_layer_pJ``, ``energy_by_core_pJ`` (totals over the batch; None when not
  modelled);
- ``fidelity``: for engines with non-idealities, the distance to the reference on the same input (per layer
  ``differing_fraction`` of (step, sample, neuron) cells, ``output_class_agreement``; ``float_model``: the same
  against the float model a quantized Program was compiled from, when it keeps one); None otherwise.
"""

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
    """Headline figures of one run, read from its summary (``sim["summary"]``, the one metrics model of every
    engine, see ``SimResult.summary``) in a ``simulation`` entry of report.json, plus ``accuracy`` when labels
    were given. Keys (None when the engine does not measure it, with the summary's note as the basis):
    ``energy_per_inference_uj`` (incl. static), ``power_mw`` (total energy / simulated hardware time),
    ``latency_s`` per sample, ``synops_per_inference``, ``spikes_per_inference``, ``accuracy``. ``dt`` is
    accepted for callers that pass it and not used: every figure comes from the summary."""
    sm = sim.get("summary") or {}
    notes = sm.get("notes") or {}
    batch = max(1, int(sm.get("batch") or sim.get("batch") or 1))
    spikes = sm.get("spikes_total")
    time_model = sm.get("time_model")
    return {"engine": str(sm.get("engine", sim.get("engine", ""))), "steps": int(sm.get("steps") or sim.get("steps")
                                                                              or 0),
            "batch": batch, "energy_per_inference_uj": sm.get("energy_per_inference_uJ"),
            "power_mw": sm.get("average_power_mW"),
            "power_basis": "total energy incl. static / simulated hardware time" if sm.get("average_power_mW")
            is not None else notes.get("power") or None,
            "energy_basis": notes.get("energy_scope") if sm.get("energy_per_inference_uJ") is not None
            else notes.get("energy"),
            "latency_s": sm.get("latency_per_sample_s"), "latency_cycles": sm.get("latency_per_sample_cycles"),
            "latency_basis": f"time model: {time_model}" if sm.get("latency_per_sample_s") is not None
            else notes.get("latency"),
            "synops_per_inference": sm.get("synaptic_operations_per_inference"),
            "spikes_per_inference": float(spikes) / batch if spikes is not None else None,
            "accuracy": sim.get("accuracy"), "silent_samples": sim.get("silent_samples")}


def format_headline(h: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of the headline figures in display order; energy, power and latency are always
    listed, as "n/a (why)" when the engine does not measure them."""
    def na(basis: Any) -> str:
        return f"n/a ({basis or 'not modelled'})"

    rows = []
    if h.get("accuracy") is not None:
        silent = int(h.get("silent_samples") or 0)
        note = (f" ({silent} of {h.get('batch', '?')} samples: no output spike, predicted as class 0 by the tie "
                "rule)") if silent else ""
        rows.append(("accuracy", f"{h['accuracy']:.1%}{note}"))
    e = h.get("energy_per_inference_uj")
    scope = f" ({h['energy_basis']})" if e is not None and h.get("energy_basis") else ""
    rows.append(("energy per inference", f"{e:.4g} µJ{scope}" if e is not None else na(h.get("energy_basis"))))
    p = h.get("power_mw")
    rows.append(("power", f"{p:.4g} mW" if p is not None else na(h.get("power_basis"))))
    lat, cyc = h.get("latency_s"), h.get("latency_cycles")
    rows.append(("latency per sample", na(h.get("latency_basis")) if lat is None else
                 f"{lat * 1e6:.4g} µs" + (f" ({cyc:,.0f} cycles)" if cyc is not None else "")))
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
        """Exact spikes per population (an engine whose neurons may fire several times in one step stores counts
        in ``spikes``, so the sum counts every spike)."""
        return {k: int(np.count_nonzero(a)) if a.dtype == bool else int(a.sum())  # count_nonzero: no int cast
                for k, a in ((k, np.asarray(v)) for k, v in self.spikes.items())}

    def summary(self) -> dict[str, Any]:
        """The engine-independent metrics (module docstring; docs/report.md)."""
        got = self.stats.get("summary")
        if got is not None:
            return got
        batch = int(next(iter(self.spikes.values())).shape[1]) if self.spikes else 0
        return make_summary(engine=self.engine, steps=self.steps, batch=batch, spikes_per_layer=self.spike_counts(),
                            synops=None, neuron_updates=None, energy=None,
                            energy_note=f"the {self.engine} engine prices no actions",
                            time_model="none", latency_note=f"the {self.engine} engine does not model time")

    def headline(self, accuracy: float | None = None) -> dict[str, Any]:
        """``headline`` figures of this run (energy per inference, power, latency, SynOps, accuracy)."""
        sim = {"summary": self.summary(), "accuracy": accuracy}
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


#: every key of a summary, in order
SUMMARY_KEYS = ("engine", "steps", "batch", "energy_per_inference_uJ", "energy_dynamic_per_inference_uJ",
                "energy_static_per_inference_uJ", "average_power_mW", "latency_per_sample_s",
                "latency_per_sample_cycles", "time_model", "synaptic_operations", "synaptic_operations_per_inference",
                "neuron_updates", "spikes_per_layer", "spikes_total", "energy_by_action_pJ", "energy_by_layer_pJ",
                "energy_by_core_pJ", "fidelity", "notes")


def make_summary(*, engine: str, steps: int, batch: int, spikes_per_layer: dict[str, int], synops: int | None,
                 neuron_updates: int | None, energy: dict[str, Any] | None, time_model: str,
                 latency_s: float | None = None, latency_cycles: float | None = None, seconds: float | None = None,
                 energy_note: str | None = None, latency_note: str | None = None,
                 fidelity: dict[str, Any] | None = None) -> dict[str, Any]:
    """A summary dict (module docstring). ``energy``: ``{"total_pj", "by_action_pj", "by_layer_pj",
    "by_core_pj"}`` with ``by_action_pj["static"]`` the static part (None: not modelled); ``latency_s`` /
    ``latency_cycles``: mean per sample; ``seconds``: simulated hardware time of the whole batch (for power)."""
    b = max(int(batch), 1)
    notes: dict[str, str] = {}
    e_tot = e_dyn = e_stat = power = None
    by_action = by_layer = by_core = None
    if energy is not None:
        tot = float(energy["total_pj"])
        stat = float(energy.get("by_action_pj", {}).get("static", 0.0))
        e_tot, e_dyn, e_stat = tot / b / 1e6, (tot - stat) / b / 1e6, stat / b / 1e6
        by_action = {k: float(v) for k, v in energy.get("by_action_pj", {}).items()}
        by_layer = energy.get("by_layer_pj")
        by_core = energy.get("by_core_pj")
        if by_layer is None:
            notes["energy_by_layer"] = f"the {engine} engine does not attribute energy to layers"
        if by_core is None:
            notes["energy_by_core"] = f"the {engine} engine does not attribute energy to cores"
        if seconds:
            power = tot * 1e-9 / float(seconds)  # pJ / s = 1e-12 W = 1e-9 mW
    else:
        notes["energy"] = energy_note or f"the {engine} engine prices no actions"
    if power is None:
        notes["power"] = ("needs energy and simulated time" if energy is None or not seconds else "")
    if latency_s is None:
        notes["latency"] = latency_note or f"the {engine} engine does not model time"
    if latency_cycles is None and latency_s is not None:
        notes["latency_cycles"] = latency_note or f"the {engine} engine has no clock"
    return {
        "engine": engine, "steps": int(steps), "batch": int(batch),
        "energy_per_inference_uJ": e_tot, "energy_dynamic_per_inference_uJ": e_dyn,
        "energy_static_per_inference_uJ": e_stat, "average_power_mW": power,
        "latency_per_sample_s": None if latency_s is None else float(latency_s),
        "latency_per_sample_cycles": None if latency_cycles is None else float(latency_cycles),
        "time_model": time_model,
        "synaptic_operations": None if synops is None else int(synops),
        "synaptic_operations_per_inference": None if synops is None else int(synops) / b,
        "neuron_updates": None if neuron_updates is None else int(neuron_updates),
        "spikes_per_layer": {k: int(v) for k, v in spikes_per_layer.items()},
        "spikes_total": int(sum(spikes_per_layer.values())),
        "energy_by_action_pJ": by_action, "energy_by_layer_pJ": by_layer, "energy_by_core_pJ": by_core,
        "fidelity": fidelity,
        "notes": {k: v for k, v in notes.items() if v},
    }


def fidelity(result_spikes: dict[str, np.ndarray], reference: SimResult, output: str | None = None,
             result_output: np.ndarray | None = None, label: str = "reference") -> dict[str, Any]:
    """How far an engine's spikes are from the reference's on the same input: per layer ``exact`` (same counts
    everywhere), ``differing_fraction`` of (step, sample, neuron) cells whose spike count differs, ``agreement``
    (cells spiking in both / cells spiking in either; 1 when neither fires), and the fraction of samples whose
    predicted class (argmax of the output summed over steps; ties to the lowest index) agrees. ``label`` names
    the run compared against (``"reference"``: the reference engine on the simulated graph; ``"float_model"``:
    on the float model a quantized Program was compiled from)."""
    per_layer: dict[str, dict[str, float]] = {}
    for name, ref in reference.spikes.items():
        got = result_spikes.get(name)
        if got is None or np.shape(got) != np.shape(ref):
            continue
        g, r = np.asarray(got, dtype=np.int64), np.asarray(ref, dtype=np.int64)
        diff = g != r
        either = int(np.count_nonzero((g > 0) | (r > 0)))
        per_layer[name] = {"exact": not bool(diff.any()),
                           "differing_fraction": float(diff.mean()) if diff.size else 0.0,
                           "agreement": float(np.count_nonzero((g > 0) & (r > 0)) / either) if either else 1.0,
                           "spikes": int(g.sum()), "reference_spikes": int(r.sum())}
    agree = None
    ref_out = reference.outputs.get(output) if output is not None else reference.output
    if ref_out is not None and result_output is not None and np.shape(ref_out) == np.shape(result_output):
        T, B = ref_out.shape[:2]
        a = np.asarray(result_output, dtype=np.float64).reshape(T, B, -1).sum(axis=0).argmax(axis=1)
        r = np.asarray(ref_out, dtype=np.float64).reshape(T, B, -1).sum(axis=0).argmax(axis=1)
        agree = float((a == r).mean())
    return {"reference": label, "layers": per_layer, "output_class_agreement": agree}


def with_float_fidelity(fid: dict[str, Any] | None, subject: Any, inputs: Any, result_spikes: dict[str, np.ndarray],
                        result_output: np.ndarray | None) -> dict[str, Any] | None:
    """``fid`` (the fidelity against the reference on the simulated graph) plus, when ``subject`` is a Program
    that keeps the float model it was quantized from (``Program.float_graph``), ``fid["float_model"]``: the same
    keys against the reference run of the float model on the same input (the quantization error a user sees)."""
    fg = getattr(subject, "float_graph", None)
    if fid is None or fg is None:
        return fid
    from spikemesh.ir.reference import run_reference

    return {**fid, "float_model": fidelity(result_spikes, run_reference(fg, inputs, mode="float"),
                                           result_output=result_output, label="float_model")}
