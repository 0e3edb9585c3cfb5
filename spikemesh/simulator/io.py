"""Simulator inputs and outputs.

Inputs: dense arrays ``[T, B, *shape]`` (spikes, counts or currents; a dict per input name for several inputs),
``StepInputs`` (the same values stored sparsely: only non-zero entries, the form the kernels consume), event lists
``(x, y, polarity, t)`` binned to steps (``bin_events``), and NIR data files (``read_nir_data``, via
``nir.read_data``: ``TimeGriddedData`` [samples, steps, neurons] or ``EventData`` times in seconds).
Outputs: rasters as npz via ``SimResult.save_rasters``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import FileFormatError, SimulationError, located
from spikemesh.fileio import read_arrays
from spikemesh.ir.graph import Graph
from spikemesh.ir.reference import normalize_inputs


@dataclass(frozen=True)
class StepInputs:
    """Per-step input values stored sparsely, batch-major: entries of batch ``b``, step ``t`` are
    ``ptr[b * T + t] .. ptr[b * T + t + 1]`` of ``index`` (global neuron index of the input element, as in
    ``arrays.FlatGraph``) and ``value``. ``names``/``shapes``/``offsets`` describe the graph's inputs."""

    steps: int
    batch: int
    ptr: np.ndarray
    index: np.ndarray
    value: np.ndarray
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]

    def batch_entries(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(ptr, index, value)`` of batch element ``b`` with ``ptr`` rebased to step 0 (length T + 1)."""
        T = self.steps
        p = self.ptr[b * T:(b + 1) * T + 1]
        lo, hi = int(p[0]), int(p[-1])
        return (p - lo).astype(np.int64), self.index[lo:hi], self.value[lo:hi]

    def dense(self, name: str) -> np.ndarray:
        """The input ``name`` as a dense ``[T, B, *shape]`` array."""
        k = self.names.index(name)
        shape, off = self.shapes[k], self.offsets[k]
        n = int(np.prod(shape))
        out = np.zeros((self.batch, self.steps, n), dtype=self.value.dtype)
        key = np.repeat(np.arange(self.batch * self.steps), np.diff(self.ptr))
        m = (self.index >= off) & (self.index < off + n)
        out[key[m] // self.steps, key[m] % self.steps, self.index[m] - off] = self.value[m]
        return out.transpose(1, 0, 2).reshape((self.steps, self.batch, *shape))


def _offsets(graph: Graph, flat: Any) -> dict[str, int]:
    return {i.name: flat.node_range(i.name)[0] for i in graph.inputs}


def step_inputs(graph: Graph, inputs: Any, flat: Any, integer: bool) -> StepInputs:
    """Convert ``inputs`` (dense array / dict, or an existing StepInputs) to the sparse per-step form over the
    global index space of ``flat`` (an ``arrays.FlatGraph``). Int mode requires integer values (GraphError)."""
    if isinstance(inputs, StepInputs):
        return inputs
    xs, T, B = normalize_inputs(graph, inputs)
    offs = _offsets(graph, flat)
    dtype = np.int64 if integer else np.float64
    keys, idxs, vals = [], [], []
    for inp in graph.inputs:
        x = xs[inp.name].reshape(T, B, -1)
        if integer and x.dtype.kind == "f" and not np.all(x == np.round(x)):
            from spikemesh.errors import GraphError

            raise GraphError("input is not integer in int mode", node=inp.name, hint="quantize() the graph first")
        xb = np.swapaxes(x, 0, 1)  # [B, T, n]: nonzero() is then batch-major, step-major
        b, t, i = np.nonzero(xb)
        keys.append(b.astype(np.int64) * T + t)
        idxs.append(i.astype(np.int64) + offs[inp.name])
        vals.append(xb[b, t, i].astype(dtype))
    key = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    order = np.argsort(key, kind="stable")
    ptr = np.zeros(B * T + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=B * T), out=ptr[1:])
    return StepInputs(steps=T, batch=B, ptr=ptr, index=np.concatenate(idxs)[order], value=np.concatenate(vals)[order],
                      names=tuple(i.name for i in graph.inputs), shapes=tuple(i.shape for i in graph.inputs),
                      offsets=tuple(offs[i.name] for i in graph.inputs))


def bin_events(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray, shape: tuple[int, int, int],
               dt: float, steps: int | None = None, t0: float = 0.0, batch: np.ndarray | None = None,
               counts: bool = True) -> np.ndarray:
    """Bin an event list (DVS-style: column ``x``, row ``y``, polarity channel ``p``, time ``t`` in seconds) into
    a dense ``[T, B, C, H, W]`` input with ``shape = (C, H, W)``; step of an event = floor((t - t0) / dt).
    ``counts=True`` sums events per cell (integer counts), else marks presence (0/1). Events at or beyond
    ``steps`` are dropped; coordinates outside ``shape`` raise SimulationError."""
    x, y, p, t = (checks.number_array(a, f"event {k}", "events", SimulationError).reshape(-1)
                  for k, a in (("x", x), ("y", y), ("p", p), ("t", t)))
    if not (len(x) == len(y) == len(p) == len(t)):
        raise SimulationError("event arrays differ in length", node="events",
                              needed="x, y, p, t of equal length", available=[len(x), len(y), len(p), len(t)])
    dt = checks.real(dt, "dt", "events", SimulationError, lo=0.0, lo_open=True)
    t0 = checks.real(t0, "t0", "events", SimulationError)
    for k, a in (("x", x), ("y", y), ("p", p)):
        if np.any(a != np.round(a)):
            raise SimulationError(f"event {k} must be whole numbers", node="events")
    if len(t) and t.min() < t0:
        raise SimulationError("event time before the start", node="events", needed=f"t >= {t0:g} s",
                              available=f"{float(t.min()):g} s", hint="event times are seconds from the start")
    C, H, W = shape
    p = p.astype(np.int64)
    if len(p) and p.min() < 0:
        p = (p > 0).astype(np.int64)  # polarity given as -1/+1
    for name, a, n in (("x", x, W), ("y", y, H), ("polarity", p, C)):
        if len(a) and (a.min() < 0 or a.max() >= n):
            raise SimulationError(f"event {name} out of range", node="events", needed=f"0..{n - 1}",
                                  available=f"{a.min()}..{a.max()}", hint="check the sensor resolution")
    kf = np.floor((t - t0) / dt + 1e-9)
    if steps is None:
        T = int(kf.max()) + 1 if len(kf) else 1
        if len(kf) and kf.max() >= 2**31:
            raise SimulationError("events span too many steps", node="events", needed=f"< {2**31:,} steps",
                                  available=f"{float(kf.max()):.4g} steps", hint="check the time unit (seconds)")
    else:
        T = checks.integer(steps, "steps", "events", SimulationError, lo=1)
    k = np.minimum(kf, T).astype(np.int64)
    if batch is None:
        bidx = np.zeros(len(x), dtype=np.int64)
    else:
        bf = checks.number_array(batch, "event batch index", "events", SimulationError).reshape(-1)
        if len(bf) != len(x) or np.any(bf < 0) or np.any(bf != np.round(bf)) or (len(bf) and bf.max() >= 2**31):
            raise SimulationError("event batch index must be one whole number >= 0 per event", node="events",
                                  available=f"{len(bf)} values for {len(x)} events")
        bidx = bf.astype(np.int64)
    B = int(bidx.max()) + 1 if len(bidx) else 1
    checks.memory(8.0 * T * B * C * H * W, f"binned events ({T:,} steps x {B:,} samples)", "events",
                  SimulationError, hint="check the event times and dt")
    keep = (k >= 0) & (k < T)
    out = np.zeros((T, B, C, H, W), dtype=np.int64)
    np.add.at(out, (k[keep], bidx[keep], p[keep], y[keep].astype(np.int64), x[keep].astype(np.int64)), 1)
    return out if counts else (out > 0).astype(np.int64)


def from_nir_observable(obs: Any, dt: float, shape: tuple[int, ...]) -> np.ndarray:
    """A NIR ``TimeGriddedData`` (``data`` [samples, steps, neurons]) or ``EventData`` (``idx``/``time`` per
    sample, times in seconds) as a dense ``[T, B, *shape]`` array at step ``dt``."""
    if hasattr(obs, "to_time_gridded") and not hasattr(obs, "data"):
        obs = obs.to_time_gridded(dt)
    data = np.asarray(obs.data)
    if data.dtype.kind not in "biuf":
        raise FileFormatError("NIR data must hold real numbers", node="nir data", available=str(data.dtype))
    if data.ndim != 3:
        raise FileFormatError("NIR data must be [samples, steps, neurons]", node="nir data", available=data.shape)
    if data.shape[2] != int(np.prod(shape)):
        raise SimulationError("NIR data does not match the input size", node="nir data",
                              needed=int(np.prod(shape)), available=data.shape[2])
    x = np.swapaxes(data, 0, 1)
    return x.reshape((x.shape[0], x.shape[1], *shape)).astype(np.float64 if x.dtype.kind == "f" else np.int64)


def read_nir_data(path: str | Path, graph: Graph, node: str | None = None, observable: str = "spikes"
                  ) -> dict[str, np.ndarray]:
    """Read a NIR data file (``nir.read_data``) into dense inputs per graph input. ``node`` selects the NIR node
    (default: each graph input's own name)."""
    import nir

    if not hasattr(nir, "read_data"):
        raise FileFormatError("this nir version has no read_data", node=str(path), needed="nir >= 1.0.8",
                              available=getattr(nir, "__version__", "?"), hint="pip install -U nir")
    p = Path(path)
    if not p.is_file():
        raise FileFormatError("NIR data file not found", node=str(p))
    import spikemesh.isolate as isolate
    from spikemesh.frontend.nir import read

    timeout = read.READ_TIMEOUT + p.stat().st_size / 20e6  # the HDF5 library can loop on a corrupt file
    return isolate.run(lambda: ({}, _read_nir_data(nir, p, graph, node, observable)), timeout,
                       "reading the NIR data file", str(p))[1]


def _read_nir_data(nir: Any, p: Path, graph: Graph, node: str | None, observable: str) -> dict[str, np.ndarray]:
    try:
        data = nir.read_data(str(p))
    except Exception as e:  # h5py / nir raise many types on a corrupt file: all mean "cannot read this file"
        raise FileFormatError(f"cannot read NIR data ({type(e).__name__})", node=str(p),
                              hint="write it with nir.write_data") from None
    out: dict[str, np.ndarray] = {}
    with located(str(p), "malformed NIR data", hint="write it with nir.write_data"):
        for inp in graph.inputs:
            key = node or inp.name
            if key not in data.nodes:
                raise FileFormatError("NIR data has no node for this input", node=key, available=list(data.nodes))
            nd = data.nodes[key]
            if observable not in nd.observables:
                raise FileFormatError("missing observable", node=key, needed=observable,
                                      available=list(nd.observables))
            out[inp.name] = from_nir_observable(nd.observables[observable], graph.dt, inp.shape)
    return out


def as_dense_inputs(graph: Graph, inputs: Any) -> Any:
    """Dense form of ``inputs`` for engines that take arrays (StepInputs are expanded)."""
    if isinstance(inputs, StepInputs):
        return {n: inputs.dense(n) for n in inputs.names}
    if isinstance(inputs, Mapping):
        return dict(inputs)
    return inputs


#: the event-stream forms ``from_events`` (and ``spikemesh simulate --input``) accept
EVENT_FORMS = ("a structured array with fields x, y, t, p (t in microseconds; tonic's layout)",
               "an (N, 4) array with columns x, y, t, p (t in microseconds)",
               "a mapping or .npz with arrays x, y, p, t (t in seconds; optional b = sample index)",
               "a list of these, one per sample")


def _event_columns(ev: Any, where: str) -> tuple[dict[str, np.ndarray], float] | None:
    """(columns x, y, p, t and optional b, seconds per unit of t) of one event stream, or None if not one."""
    if isinstance(ev, Mapping) or isinstance(ev, np.lib.npyio.NpzFile):
        keys = set(ev.files if isinstance(ev, np.lib.npyio.NpzFile) else ev)
        if {"x", "y", "p", "t"} <= keys:
            cols = {k: np.asarray(ev[k]) for k in ("x", "y", "p", "t")}
            if "b" in keys:
                cols["b"] = np.asarray(ev["b"])
            return cols, 1.0
        return None
    a = np.asarray(ev) if not isinstance(ev, np.ndarray) else ev
    if a.dtype.names is not None:
        if {"x", "y", "t", "p"} <= set(a.dtype.names):
            return {k: np.asarray(a[k]) for k in ("x", "y", "p", "t")}, 1e-6
        return None
    if a.ndim == 2 and a.shape[1] == 4 and a.dtype.kind in "iufb":
        return {"x": a[:, 0], "y": a[:, 1], "t": a[:, 2], "p": a[:, 3]}, 1e-6
    return None


def from_events(events: Any, graph: Graph | tuple[int, int, int], dt: float | None = None,
                steps: int | None = None, t0: float = 0.0, counts: bool = True) -> np.ndarray:
    """Bin an event stream as DVS users hold it into a dense input ``[T, B, C, H, W]``.

    ``events``: one of ``EVENT_FORMS`` (tonic-style structured array with t in µs, an (N, 4) x, y, t, p array
    with t in µs, a mapping / npz with x, y, p, t in seconds, or a list of streams = a batch). ``graph``: a Graph
    with one (C, H, W) input, or that shape. ``dt``: bin width in seconds (default ``graph.dt``); ``t0`` (seconds)
    is the start of step 0; ``steps`` truncates or pads (default: up to the last event). With C = 1 both
    polarities land on the single channel; polarities -1/+1 and 0/1 and booleans are accepted."""
    if isinstance(graph, Graph):
        if len(graph.inputs) != 1 or len(graph.inputs[0].shape) != 3:
            raise SimulationError("event streams need a graph with one (C, H, W) input", node="events",
                                  available=[i.shape for i in graph.inputs])
        shape = tuple(graph.inputs[0].shape)
        dt = graph.dt if dt is None else dt
    else:
        shape = tuple(int(v) for v in graph)
    if dt is None or not dt > 0:
        raise SimulationError("event binning needs a positive dt (seconds)", node="events", available=dt,
                              hint="pass dt= (or --dt on the command line)")
    streams = list(events) if isinstance(events, list | tuple) else [events]
    cols_all: list[dict[str, np.ndarray]] = []
    for b, ev in enumerate(streams):
        got = _event_columns(ev, "events")
        if got is None:
            kind = getattr(ev, "dtype", type(ev).__name__)
            raise SimulationError("unrecognised event stream", node=f"events[{b}]" if len(streams) > 1 else "events",
                                  needed="; ".join(EVENT_FORMS), available=f"{kind} {getattr(ev, 'shape', '')}".strip())
        cols, unit = got
        c = {k: cols[k] for k in ("x", "y", "p")}
        c["t"] = checks.number_array(cols["t"], "event t", "events", SimulationError) * unit
        c["b"] = cols["b"] if "b" in cols and len(streams) == 1 else np.full(len(c["x"]), b)
        cols_all.append(c)
    cat = {k: checks.number_array(np.concatenate([c[k] for c in cols_all]), f"event {k}", "events",
                                  SimulationError, allow_bool=True).reshape(-1) for k in ("x", "y", "p", "t", "b")}
    p = np.zeros_like(cat["p"]) if shape[0] == 1 else cat["p"]
    out = bin_events(cat["x"], cat["y"], p, cat["t"], (shape[0], shape[1], shape[2]), dt, steps=steps, t0=t0,
                     batch=cat["b"], counts=counts)
    B = max(len(streams), out.shape[1]) if len(streams) > 1 else out.shape[1]
    if out.shape[1] < B:  # trailing samples without events
        out = np.concatenate([out, np.zeros((out.shape[0], B - out.shape[1], *out.shape[2:]), out.dtype)], axis=1)
    return out


def load_input_file(path: str | Path, graph: Graph, steps: int | None = None, dt: float | None = None) -> Any:
    """Inputs from a file in one of the forms this module reads, or None for a plain dense array file (the CLI
    reads those): an event stream (``EVENT_FORMS``: ``.npy`` structured x, y, t, p or (N, 4) array with t in µs,
    ``.npz`` with x, y, p, t in seconds), binned at ``dt`` (default ``graph.dt``) onto the single (C, H, W) input,
    or a NIR data file (``.h5``/``.nir``; ``nir.read_data``)."""
    p = Path(path)
    if p.suffix in (".h5", ".hdf5", ".nir"):
        return read_nir_data(p, graph)
    if p.suffix not in (".npz", ".npy") or not p.is_file():
        return None
    loaded = read_arrays(p, "input file")  # no pickles; declared sizes checked before allocating
    if isinstance(loaded, dict):
        if not {"x", "y", "p", "t"} <= set(loaded):
            return None
        ev: Any = {k: v for k, v in loaded.items() if k in ("x", "y", "p", "t", "b")}
    else:
        ev = loaded
        if ev.dtype.names is None and not (ev.ndim == 2 and ev.shape[1] == 4 and _dense_rank(graph) != 2):
            return None
        if ev.dtype.names is not None and not {"x", "y", "t", "p"} <= set(ev.dtype.names):
            raise SimulationError("structured input array without event fields", node=str(p),
                                  needed="; ".join(EVENT_FORMS), available=list(ev.dtype.names))
    return from_events(ev, graph, dt=dt, steps=steps)


def _dense_rank(graph: Graph) -> int:
    """ndim of a dense input array for ``graph`` (2 + the input's rank; 0 for several inputs)."""
    return 2 + len(graph.inputs[0].shape) if len(graph.inputs) == 1 else 0
