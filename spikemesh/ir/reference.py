"""The reference executor: the golden semantics of the IR, step by step in NumPy.

Every other engine must reproduce these spikes exactly on integer (quantized) models. The per-step update
order, with formulas, is documented in docs/semantics.md; keep the two in agreement.

Modes: "float" computes in float64; "int" computes in int64 and requires integer weights, inputs and neuron
parameters, and decay factors representable as ``k / 2**DECAY_SHIFT``. "auto" picks "int" for quantized graphs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from spikemesh.checks import MAX_INPUT, memory
from spikemesh.errors import GraphError, SimulationError
from spikemesh.ir.graph import Graph, Input, Projection
from spikemesh.ir.neurons import ARRAY_PARAMS, DECAY_SHIFT, Neuron
from spikemesh.ir.operators import Op
from spikemesh.ir.result import SimResult


def normalize_inputs(graph: Graph, inputs: Any) -> tuple[dict[str, np.ndarray], int, int]:
    """Map ``inputs`` (an array ``[T, B, *shape]`` for a single-input graph, or a dict per input name) to a
    dict of arrays; returns (dict, T, B). Values must be real numbers (bool, integer or float; not text, objects
    or complex numbers), finite and at most ``checks.MAX_INPUT`` in magnitude; T and B at least 1."""
    if not graph.inputs:
        raise SimulationError("the graph has no Input node", node="inputs")
    if not isinstance(inputs, Mapping):
        if len(graph.inputs) != 1:
            raise SimulationError("the graph has several inputs; pass a dict name -> array", node="inputs",
                                  needed=[i.name for i in graph.inputs], available="one array")
        inputs = {graph.inputs[0].name: inputs}
    out: dict[str, np.ndarray] = {}
    T = B = None
    for inp in graph.inputs:
        if inp.name not in inputs:
            raise SimulationError("missing input array", node=inp.name, needed=[i.name for i in graph.inputs],
                                  available=list(map(str, inputs)))
        x = input_array(inputs[inp.name], inp.name, inp.shape)
        if x.ndim == len(inp.shape) + 1:  # [T, *shape] -> batch of one
            x = x[:, None]
        if x.ndim != len(inp.shape) + 2 or tuple(x.shape[2:]) != inp.shape:
            raise SimulationError("input array shape mismatch", node=inp.name,
                                  needed=f"[T, B, {', '.join(map(str, inp.shape))}]", available=list(x.shape))
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise SimulationError("input has no time steps or no samples", node=inp.name,
                                  needed="T >= 1 and B >= 1", available=f"T={x.shape[0]}, B={x.shape[1]}")
        steps, batch = x.shape[0], x.shape[1]  # before scanning values: a run too big for memory stops here
        memory(8.0 * steps * batch * (2 * graph.n_neurons + math.prod(inp.shape)),
               f"a run of {steps:,} steps x {batch:,} samples", inp.name, SimulationError,
               hint="simulate fewer steps or a smaller batch")
        check_input_values(x, inp.name)
        if T is None:
            T, B = x.shape[0], x.shape[1]
        elif (T, B) != x.shape[:2]:
            raise SimulationError("inputs disagree on [T, B]", node=inp.name, needed=(T, B), available=x.shape[:2])
        out[inp.name] = x
    assert T is not None and B is not None
    return out, T, B


def input_array(raw: Any, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``raw`` as an array of real numbers (not text, objects, complex numbers or ragged lists)."""
    if isinstance(raw, str | bytes):
        raise SimulationError("input must be an array of numbers, not text (a file path?)", node=name,
                              available=repr(raw)[:80], hint="load the file first, e.g. numpy.load(path)")
    try:
        x = np.asarray(raw)
    except (ValueError, TypeError):
        raise SimulationError("input is not a rectangular array (ragged nested lists?)", node=name,
                              needed="[T, B, *shape]" if shape is None else
                              f"[T, B, {', '.join(map(str, shape))}]") from None
    if x.dtype.kind not in "biuf":
        raise SimulationError("input must hold real numbers", node=name, needed="bool, integer or float",
                              available=f"{x.dtype} ({_KIND_NAMES.get(x.dtype.kind, 'other')})",
                              hint="complex, text and object arrays are not inputs")
    return x


def check_input_values(x: np.ndarray, name: str) -> None:
    """Input values are finite and at most MAX_INPUT in magnitude."""
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise SimulationError("input holds NaN or inf", node=name, needed="finite values")
    if x.size and x.dtype.kind != "b":
        big = max(abs(float(x.max())), abs(float(x.min())))
        if big > MAX_INPUT:
            raise SimulationError("input value too large", node=name, needed=f"|x| <= {MAX_INPUT:,}",
                                  available=f"{big:.4g}", hint="inputs are spikes, counts or currents per step")


_KIND_NAMES = {"c": "complex", "U": "text", "S": "bytes", "O": "Python objects", "V": "records", "M": "dates",
               "m": "time deltas"}


def resolve_mode(graph: Graph, mode: str) -> str:
    if mode == "auto":
        return "int" if graph.is_quantized else "float"
    if mode not in ("int", "float"):
        raise SimulationError(f"unknown mode {mode!r}", hint="use 'auto', 'int' or 'float'")
    return mode


def require_int(arr: np.ndarray, what: str, node: str) -> np.ndarray:
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    if not np.all(arr == np.round(arr)):
        raise GraphError(f"{what} is not integer in int mode", node=node, hint="quantize() the graph first")
    return arr.astype(np.int64)


def decay_q(beta: np.ndarray, node: str) -> np.ndarray:
    """Integer decay multiplier k with β = k / 2**DECAY_SHIFT (exact), else GraphError."""
    k = np.round(beta * (1 << DECAY_SHIFT))
    if not np.allclose(k / (1 << DECAY_SHIFT), beta, rtol=0, atol=1e-12):
        raise GraphError(f"decay not representable as k/2^{DECAY_SHIFT} in int mode", node=node,
                         available=np.unique(beta)[:4].tolist(), hint="quantize() rounds decays to that grid")
    return k.astype(np.int64)


def int_decay(v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """trunc(v · k / 2**DECAY_SHIFT), rounding toward zero (as Loihi-style fixed-point decay)."""
    p = v * k
    return np.sign(p) * (np.abs(p) >> DECAY_SHIFT)


class PopState:
    """Mutable state of one population during a run."""

    def __init__(self, name: str, neuron: Neuron, shape: tuple[int, ...], B: int, integer: bool) -> None:
        self.name = name
        self.n = neuron
        full = (B, *shape)
        dtype = np.int64 if integer else np.float64
        self.integer = integer
        self.p: dict[str, np.ndarray] = {}
        self.ports = neuron.ports
        self.shape = tuple(shape)
        for k in ARRAY_PARAMS:  # alpha / syn_gain of a multi-port neuron: [*shape, ports]
            a = np.broadcast_to(getattr(neuron, k), neuron.param_shape(k, shape))
            if integer and k not in ("beta", "alpha"):
                a = require_int(a, f"neuron parameter {k}", name)
            self.p[k] = a
        if integer:
            self.beta_k = decay_q(self.p["beta"], name)
            self.alpha_k = decay_q(self.p["alpha"], name) if neuron.has_current else None
        lo, hi = neuron.state_bounds()
        self.bounded = lo != -np.inf or hi != np.inf
        if integer:  # integer bounds keep the state an integer array (a one-sided bound clips against int64 limits)
            i64 = np.iinfo(np.int64)
            lo = i64.min if lo == -np.inf else math.ceil(lo)
            hi = i64.max if hi == np.inf else math.floor(hi)
        self.lo, self.hi = lo, hi
        self.v = np.zeros(full, dtype=dtype)
        self.i = np.zeros(neuron.param_shape("alpha", full), dtype=dtype) if neuron.has_current else None
        self.s_prev = np.zeros(full, dtype=bool)
        self.ref = np.zeros(full, dtype=np.int64) if neuron.refractory else None

    def _reset(self, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
        n = self.n
        if n.reset == "zero":
            return np.where(mask, self.p["v_reset"].astype(v.dtype), v)
        if n.reset == "subtract":
            return v - mask * self.p["threshold"].astype(v.dtype)
        return v

    def input_shape(self, B: int) -> tuple[int, ...]:
        """Shape of ``step``'s input: ``(B, *shape)``, or ``(B, *shape, ports)`` for a multi-port neuron."""
        return (B, *self.shape, self.ports) if self.ports > 1 else (B, *self.shape)

    def step(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance one step with input ``x`` (``input_shape(B)``: one slice per port on the last axis of a
        multi-port neuron); returns (spikes bool, state after the step)."""
        n, p = self.n, self.p
        if self.ports > 1 and (x.ndim != len(self.shape) + 2 or x.shape[1:] != (*self.shape, self.ports)):
            raise SimulationError("a multi-port neuron needs one input per port", node=self.name,
                                  needed=f"[B, {', '.join(map(str, self.shape))}, {self.ports}]",
                                  available=list(x.shape), hint="this engine does not support ports > 1")
        if self.integer:
            x = require_int(x, "input current", self.name)
        if self.i is not None:
            i_dec = int_decay(self.i, self.alpha_k) if self.integer else p["alpha"] * self.i
            self.i = i_dec + p["syn_gain"] * x
            if self.ports > 1:  # the membrane integrates the ports' sum, added in port order
                drive = self.i[..., 0]
                for k in range(1, self.ports):
                    drive = drive + self.i[..., k]
            else:
                drive = self.i
        else:
            drive = x
        v_dec = int_decay(self.v, self.beta_k) if self.integer else p["beta"] * self.v
        v_new = v_dec + p["gain"] * drive + p["leak"]
        if n.reset_timing == "after_decay":
            v_new = self._reset(v_new, self.s_prev)
        if self.ref is not None:
            # A refractory neuron holds its state (no decay, input or leak); a reset still pending from the
            # previous step's spike (after_decay timing) is applied to the held value.
            active = self.ref == 0
            held = self._reset(self.v, self.s_prev) if n.reset_timing == "after_decay" else self.v
            v_new = np.where(active, v_new, held)
        else:
            active = None
        if n.spiking:
            thr = p["threshold"]
            s = v_new >= thr if n.comparison == ">=" else v_new > thr
            if active is not None:
                s &= active
            if n.reset_timing == "before_decay":
                v_new = self._reset(v_new, s)
        else:
            s = np.zeros(v_new.shape, dtype=bool)
        if self.bounded:
            v_new = np.clip(v_new, self.lo, self.hi)
        if self.ref is not None:
            self.ref = np.where(s, n.refractory, np.maximum(self.ref - 1, 0))
        self.v = v_new
        self.s_prev = s
        return s, v_new


def apply_ops(ops: Sequence[Op], x: np.ndarray) -> np.ndarray:
    for op in ops:
        x = op.apply(x)
    return x


#: ``apply(projection, lo, hi, x, t)``: ops ``lo .. hi - 1`` of the projection applied to ``x`` [B, *shape] at step t
ApplyOps = Callable[[Projection, int, int, np.ndarray, int], np.ndarray]


def numpy_ops(proj: Projection, lo: int, hi: int, x: np.ndarray, t: int) -> np.ndarray:
    """The reference's ``ApplyOps``: every op in NumPy (``Op.apply``)."""
    return apply_ops(proj.ops[lo:hi], x)


class _DelayLine:
    """Ring buffer of a projection's signal at its Delay op, with per-element delays."""

    def __init__(self, proj: Projection, graph: Graph, B: int, dtype: Any, apply: ApplyOps) -> None:
        d = proj.delay_op
        assert d is not None
        self.proj, self.apply = proj, apply
        self.k = proj.ops.index(d)
        shape = graph.chain_shapes(proj)[self.k]
        self.n = math.prod(shape)
        self.shape = shape
        self.slots = d.max_steps + 1
        self.d = np.broadcast_to(d.steps, shape).reshape(-1)
        self.buf = np.zeros((self.slots, B, self.n), dtype=dtype)

    def push(self, t: int, src: np.ndarray) -> None:
        y = self.apply(self.proj, 0, self.k, src, t)
        self.buf[t % self.slots] = y.reshape(y.shape[0], -1)

    def read(self, t: int) -> np.ndarray:
        src_t = t - self.d
        got = self.buf[src_t % self.slots, :, np.arange(self.n)].T  # [B, n]
        got = np.where((src_t >= 0)[None, :], got, 0)
        return self.apply(self.proj, self.k + 1, len(self.proj.ops), got.reshape((got.shape[0], *self.shape)), t)


def check_record(graph: Graph, record: Sequence[str] | None) -> list[str]:
    """``record`` as a list; a name that is not a population raises SimulationError."""
    record = list(record or [])
    for r in record:
        if r not in graph.population:
            raise SimulationError("cannot record: not a population", node=r,
                                  hint=f"populations: {', '.join(graph.population)}")
    return record


def graph_outputs(graph: Graph, spikes: Mapping[str, np.ndarray], states: Mapping[str, np.ndarray],
                  inputs: Callable[[str], np.ndarray | None]) -> dict[str, np.ndarray]:
    """Each Output node's value: its source's spikes, else its recorded state, else ``inputs(name)`` (the source
    is an Input); an output whose value is not available (``inputs`` returns None) is left out."""
    out = {}
    for o in graph.outputs:
        if o.source in spikes:
            out[o.name] = spikes[o.source]
        elif o.source in states:
            out[o.name] = states[o.source]
        else:
            x = inputs(o.source)
            if x is not None:
                out[o.name] = x
    return out


def step_graph(graph: Graph, xs: Mapping[str, np.ndarray], steps: int, batch: int, integer: bool,
              record: Sequence[str] = (), apply: ApplyOps = numpy_ops) -> tuple[dict[str, np.ndarray],
                                                                                 dict[str, np.ndarray]]:
    """The step loop of the reference semantics over ``xs`` (``normalize_inputs``' arrays; integer arrays in int
    mode): per step, every node in topological order sums its incoming projections (``apply`` computes a
    projection's ops; a Delay splits them into the ops before it, applied when the source's value is pushed into
    the delay line, and the ops after it, applied when the value is read ``d`` steps later) and advances its
    population one step. Returns (spikes of every spiking population ``[T, B, *shape]``, states of the
    populations in ``record`` and of every non-spiking population)."""
    dtype = np.int64 if integer else np.float64
    B = batch
    order = graph.topological_order()
    states = {p.name: PopState(p.name, p.neuron, p.shape, B, integer) for p in graph.populations}
    delays = {pr.name: _DelayLine(pr, graph, B, dtype, apply) for pr in graph.projections
              if pr.delay_op is not None}
    incoming = {n: graph.incoming(n) for n in graph.population}
    outgoing_delayed = {n: [delays[pr.name] for pr in graph.outgoing(n) if pr.name in delays] for n in order}
    spikes = {p.name: np.zeros((steps, B, *p.shape), dtype=bool) for p in graph.populations if p.neuron.spiking}
    traced = set(record) | {p.name for p in graph.populations if not p.neuron.spiking}
    v_rec = {n: np.zeros((steps, B, *graph.population[n].shape), dtype=dtype) for n in traced}
    for t in range(steps):
        values: dict[str, np.ndarray] = {}
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, Input):
                out = xs[name][t].astype(dtype)
            else:
                st = states[name]
                total = np.zeros(st.input_shape(B), dtype=dtype)
                for pr in incoming[name]:
                    got = delays[pr.name].read(t) if pr.name in delays else apply(pr, 0, len(pr.ops),
                                                                                  values[pr.source], t)
                    if st.ports > 1:
                        total[..., pr.port] = total[..., pr.port] + got
                    else:
                        total = total + got
                s, v = st.step(total)
                if node.neuron.spiking:
                    spikes[name][t] = s
                    out = s.astype(dtype)
                else:
                    out = v
                if name in v_rec:
                    v_rec[name][t] = v
            values[name] = out
            for dl in outgoing_delayed[name]:
                dl.push(t, out)
    return spikes, v_rec


def run_reference(graph: Graph, inputs: Any, record: Sequence[str] | None = None, mode: str = "auto") -> SimResult:
    """Execute ``graph`` on ``inputs`` (``[T, B, *input_shape]`` or a dict per input name).

    Returns spikes of every spiking population (bool ``[T, B, *shape]``), the state of populations named in
    ``record`` and of every non-spiking population (``v``), and the output node values.
    """
    mode = resolve_mode(graph, mode)
    integer = mode == "int"
    xs, T, B = normalize_inputs(graph, inputs)
    if integer:
        xs = {k: require_int(v, "input", k) for k, v in xs.items()}
    record = check_record(graph, record)
    spikes, v_rec = step_graph(graph, xs, T, B, integer, record)
    return SimResult(spikes=spikes, v=v_rec, outputs=graph_outputs(graph, spikes, v_rec, xs.__getitem__),
                     engine="reference", steps=T, mode=mode)
