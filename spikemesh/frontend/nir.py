"""NIR import: a ``.nir`` file or a ``nir.NIRGraph`` → ``ir.Graph`` (research/ecosystem.md §1, §6.1).

Conventions (docs/semantics.md §6 states the same):
- NIR is continuous-time and stores no dt; ``dt`` (seconds) is a parameter. Forward Euler by default:
  β = 1 − dt/τ, gain = r·dt/τ, leak = (dt/τ)·v_leak; CubaLIF α = 1 − dt/τ_syn, syn_gain = w_in·dt/τ_syn.
  ``discretization="exact"`` uses β = exp(−dt/τ) and gain = r·(1 − β) (exact for input held over a step).
- Spiking nodes fire on ``v > v_threshold`` (NIR's H(v − θ) is strict) and reset to ``v_reset`` (0 when the file
  has none) right after the spike (``before_decay``). NIR has no subtractive reset.
- IF / I: two conventions are in use (ecosystem.md §1.7): r = 1 meaning "v += I per step" (sinabs, snnTorch,
  Norse) and r = 1/dt (SpikingJelly, continuous time: gain = r·dt). Both give gain 1; ``if_convention="auto"``
  detects which one a node uses and reports it; other r values are read as continuous time (the spec) with a
  warning.
- Recurrence: NIR edges carry no delay, but a cycle through a neuron is meant to read the neuron's output of
  the previous step (snnTorch RLeaky/RSynaptic, nirtorch's stateful execution). Each cycle without an explicit
  Delay node gets ``Delay(1)`` on the edge that closes it in a depth-first walk from the inputs (placed first in
  the projection, so a recurrent bias is present from step 0). A cycle through operators only (no neuron) has
  no state to delay and is an error.
- ``nir.read`` returns nodes alphabetically: the execution order is derived from the edges.
Repairs (each with a FrontendWarning): a batch axis of 1 left in an Input; 0-d parameters (broadcast to the
layer shape); torch tensors inside nodes; an Output shape that differs from its source only by axes of length 1
(such files need ``nir.read(type_check=False)``); a Flatten whose start/end dims count the batch axis.
"""

from __future__ import annotations

import keyword
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from spikemesh.errors import FileFormatError, FrontendError
from spikemesh.frontend.common import snap, to_numpy, warn
from spikemesh.ir.graph import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import (
    AvgPool2d,
    Conv,
    Delay,
    Dense,
    Identity,
    Op,
    Reshape,
    Scale,
    SumPool2d,
)

NEURON_TYPES = frozenset({"IF", "LIF", "LI", "CubaLIF", "CubaLI", "I", "Threshold"})
OP_TYPES = frozenset({"Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
                      "Delay", "Identity"})
KNOWN_TYPES = NEURON_TYPES | OP_TYPES | {"Input", "Output", "NIRGraph"}
DISCRETIZATIONS = ("euler", "exact")
IF_CONVENTIONS = ("auto", "step", "continuous")


@dataclass
class RawNode:
    """A NIR node as plain data: its type name and parameters (NumPy arrays / scalars)."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, RawNode] = field(default_factory=dict)  # NIRGraph only
    edges: list[tuple[str, str]] = field(default_factory=list)  # NIRGraph only


# ----------------------------------------------------------------------------------------------- reading
def _str(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.ndim == 0:
        return _str(v[()])
    return v


def _read_group(grp: h5py.Group, name: str) -> RawNode:
    if "type" not in grp:
        raise FileFormatError("NIR node has no 'type' entry", node=name, hint="the file is not a NIR graph")
    typ = _str(grp["type"][()])
    if typ not in KNOWN_TYPES:
        raise FrontendError(f"unknown NIR node type {typ!r}", node=name,
                            hint=f"supported: {', '.join(sorted(KNOWN_TYPES))}")
    if typ == "NIRGraph":
        nodes = {k: _read_group(g, k if name == "<root>" else f"{name}.{k}") for k, g in grp["nodes"].items()}
        edges_raw = grp["edges"][()] if "edges" in grp else np.zeros((0, 2), dtype="S1")
        edges = [(_str(a), _str(b)) for a, b in np.asarray(edges_raw).reshape(-1, 2)]
        return RawNode("NIRGraph", {}, nodes, edges)
    params: dict[str, Any] = {}
    for k, v in grp.items():
        if k in ("type", "metadata") or not isinstance(v, h5py.Dataset):
            continue
        params[k] = _str(v[()])
    return RawNode(typ, params)


def read_file(path: str | os.PathLike[str]) -> RawNode:
    """Read a ``.nir`` HDF5 file into RawNodes (without nir's type check; shapes are checked on import)."""
    p = Path(path)
    if not p.is_file():
        raise FileFormatError("NIR file not found", node=str(p))
    if p.stat().st_size == 0:
        raise FileFormatError("NIR file is empty", node=str(p))
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f:
                raise FileFormatError("not a NIR file (no 'node' group)", node=str(p),
                                      hint="write it with nir.write or spikemesh.save_nir")
            root = _read_group(f["node"], "<root>")
    except (OSError, KeyError, ValueError) as e:
        raise FileFormatError(f"cannot read NIR file: truncated or corrupt HDF5 ({type(e).__name__})", node=str(p),
                              hint="re-export the model") from None
    if root.type != "NIRGraph":
        root = RawNode("NIRGraph", {}, {"node": root}, [])
    return root


def from_nir_object(node: Any, name: str = "<root>", notes: list[str] | None = None) -> RawNode:
    """Convert a ``nir`` node object (NIRGraph or a single node) to RawNodes; torch tensors become NumPy."""
    typ = type(node).__name__
    if typ not in KNOWN_TYPES:
        raise FrontendError(f"unknown NIR node type {typ!r}", node=name,
                            hint=f"supported: {', '.join(sorted(KNOWN_TYPES))}")
    if typ == "NIRGraph":
        nodes = {k: from_nir_object(n, k if name == "<root>" else f"{name}.{k}", notes) for k, n in node.nodes.items()}
        return RawNode("NIRGraph", {}, nodes, [(str(a), str(b)) for a, b in node.edges])
    params: dict[str, Any] = {}
    had_torch = False
    for k, v in vars(node).items():
        if k in ("metadata", "input_type", "output_type"):
            continue
        v, was = to_numpy(v)
        had_torch |= was
        params[k] = v
    if typ == "Input":
        params["shape"] = to_numpy(node.input_type["input"])[0]
    elif typ == "Output":
        params["shape"] = to_numpy(node.output_type["output"])[0]
    elif typ == "Flatten":
        params["input_type"] = (node.input_type or {}).get("input")
    if had_torch:
        warn(f"{name}: torch tensors inside the NIR node were converted to NumPy arrays", notes)
    return RawNode(typ, params)


# ----------------------------------------------------------------------------------------------- flattening
def _flatten(g: RawNode, prefix: str) -> tuple[dict[str, RawNode], list[tuple[str, str]], list[str], list[str]]:
    """Flatten nested NIRGraphs: children named ``sub.child``; a subgraph's own Input / Output nodes become
    pass-through Identity nodes. Returns (nodes, edges, input names, output names) of this level."""
    nodes: dict[str, RawNode] = {}
    edges: list[tuple[str, str]] = []
    ports_in: dict[str, list[str]] = {}
    ports_out: dict[str, list[str]] = {}
    for k, n in g.nodes.items():
        full = f"{prefix}{k}"
        if n.type == "NIRGraph":
            sub_nodes, sub_edges, ins, outs = _flatten(n, f"{full}.")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            for i in ins:
                nodes[i] = RawNode("Identity", {"_port": "input"})
            for o in outs:
                nodes[o] = RawNode("Identity", {"_port": "output"})
            ports_in[full], ports_out[full] = ins, outs
        else:
            nodes[full] = n
    for a, b in g.edges:
        fa, fb = f"{prefix}{a}", f"{prefix}{b}"
        srcs = ports_out.get(fa, [fa])
        dsts = ports_in.get(fb, [fb])
        if len(srcs) != 1 or len(dsts) != 1:
            raise FrontendError("edge to or from a subgraph with several inputs/outputs must name the port",
                                node=f"{fa} -> {fb}", hint="use '<subgraph>.<input name>' in the edge")
        for name in (srcs[0], dsts[0]):
            if name not in nodes:
                raise FrontendError("edge refers to a missing node", node=f"{fa} -> {fb}", available=name,
                                    hint="legacy nested-subgraph files are not supported; re-export the model")
        edges.append((srcs[0], dsts[0]))
    ins = [f"{prefix}{k}" for k, n in g.nodes.items() if n.type == "Input"]
    outs = [f"{prefix}{k}" for k, n in g.nodes.items() if n.type == "Output"]
    return nodes, edges, ins, outs


# ----------------------------------------------------------------------------------------------- conversion
def _arr(node: RawNode, key: str, name: str, default: Any = None) -> np.ndarray:
    v = node.params.get(key, default)
    if v is None:
        raise FrontendError(f"NIR {node.type} node lacks parameter {key!r}", node=name)
    a = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise FrontendError(f"NIR {node.type} parameter {key} holds NaN or inf", node=name,
                            hint="check the trained model")
    return a


def _ints(v: Any, n: int, name: str, what: str) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        return (int(a[0]),) * n
    if a.size != n:
        raise FrontendError(f"{what} needs {n} values", node=name, available=a.tolist())
    return tuple(int(x) for x in a)


def _op_of(node: RawNode, name: str, dt: float, notes: list[str]) -> Op | tuple[str, int, int]:
    """The IR op of a NIR operator node; Flatten returns ("flatten", start, end) (resolved with shapes)."""
    t = node.type
    if t == "Affine":
        return Dense(_arr(node, "weight", name), _arr(node, "bias", name))
    if t == "Linear":
        return Dense(_arr(node, "weight", name))
    if t == "Scale":
        return Scale(_arr(node, "scale", name))
    if t in ("Conv1d", "Conv2d"):
        w = _arr(node, "weight", name)
        nd = 1 if t == "Conv1d" else 2
        if w.ndim != nd + 2:
            raise FrontendError(f"{t} weight must have {nd + 2} axes", node=name, available=list(w.shape))
        stride = _ints(node.params.get("stride", 1), nd, name, "stride")
        dilation = _ints(node.params.get("dilation", 1), nd, name, "dilation")
        pad = node.params.get("padding", 0)
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            elif pad == "same":
                ext = [d * (k - 1) for k, d in zip(w.shape[2:], dilation)]
                if any(e % 2 for e in ext) or any(s != 1 for s in stride):
                    raise FrontendError("padding='same' is asymmetric for this kernel", node=name,
                                        hint="export with explicit padding")
                pad = [e // 2 for e in ext]
            else:
                raise FrontendError(f"unknown padding {pad!r}", node=name)
        bias = node.params.get("bias")
        b = None if bias is None else _arr(node, "bias", name)
        groups = int(np.asarray(node.params.get("groups", 1)).reshape(-1)[0])
        return Conv(w, b, stride, _ints(pad, nd, name, "padding"), dilation, groups)
    if t in ("SumPool2d", "AvgPool2d"):
        k = _ints(node.params["kernel_size"], 2, name, "kernel_size")
        s = _ints(node.params.get("stride", node.params["kernel_size"]), 2, name, "stride")
        p = _ints(node.params.get("padding", 0), 2, name, "padding")
        return (SumPool2d if t == "SumPool2d" else AvgPool2d)(k, s, p)
    if t == "Flatten":
        return ("flatten", int(np.asarray(node.params.get("start_dim", 1))),
                int(np.asarray(node.params.get("end_dim", -1))))
    if t == "Delay":
        d = _arr(node, "delay", name) / dt
        steps = np.round(d)
        if np.any(np.abs(d - steps) > 1e-6 * np.maximum(1, np.abs(d))):
            warn(f"{name}: Delay {np.unique(d)[:3].tolist()} steps is not a whole number of dt={dt:g} s; rounded",
                 notes)
        if np.any(steps < 0):
            raise FrontendError("negative Delay", node=name)
        return Delay(steps.astype(np.int64))
    if t == "Identity":
        return Identity()
    raise AssertionError(t)


def _flatten_shape(in_shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    n = len(in_shape)
    s = start + n if start < 0 else start
    e = end + n if end < 0 else end
    if not 0 <= s <= e < n:
        raise ValueError
    return (*in_shape[:s], math.prod(in_shape[s:e + 1]), *in_shape[e + 1:])


def _decay(tau: np.ndarray, dt: float, exact: bool, name: str, what: str, notes: list[str]) -> tuple[np.ndarray,
                                                                                                         np.ndarray]:
    """(decay per step, the complementary input factor) for a time constant ``tau`` (s)."""
    if np.any(tau <= 0):
        raise FrontendError(f"{what} must be positive", node=name, available=float(tau.min()))
    if exact:
        b = np.exp(-dt / tau)
        return b, 1.0 - b
    k = dt / tau
    if np.any(k > 1):
        warn(f"{name}: {what} = {float(tau.min()):g} s < dt = {dt:g} s gives a negative forward-Euler decay; "
             "Norse files need dt=1e-3 (norse#411), or use discretization='exact'", notes)
    return snap(1.0 - k), snap(k)


def _if_gain(r: np.ndarray, dt: float, conv: str, name: str, notes: list[str], report: dict[str, Any]) -> np.ndarray:
    if conv == "auto":
        if np.allclose(r, 1.0, rtol=1e-6, atol=0):
            conv_used, gain = "step (r = 1: v += I per step; sinabs/snnTorch/Norse)", np.ones_like(r)
        elif np.allclose(r * dt, 1.0, rtol=1e-6, atol=0):
            conv_used, gain = "continuous (r = 1/dt; SpikingJelly)", np.ones_like(r)
        else:
            conv_used, gain = "continuous (gain = r*dt)", snap(r * dt)
            warn(f"{name}: IF/I resistance r={np.unique(r)[:3].tolist()} is neither 1 nor 1/dt; read as continuous "
                 f"time (gain = r*dt); pass if_convention='step' for gain = r", notes)
    elif conv == "step":
        conv_used, gain = "step (gain = r)", r
    else:
        conv_used, gain = "continuous (gain = r*dt)", snap(r * dt)
    report["if_convention"] = conv_used
    return gain


def _neuron_of(node: RawNode, name: str, shape: tuple[int, ...], dt: float, exact: bool, if_convention: str,
               notes: list[str], report: dict[str, Any]) -> Neuron:
    t = node.type
    zero_d = [k for k, v in node.params.items() if not k.startswith("_") and np.ndim(v) == 0]
    if zero_d:
        warn(f"{name}: 0-d NIR parameters {', '.join(sorted(zero_d))} broadcast to the layer shape {list(shape)}",
             notes)

    def p(key: str, default: Any = None) -> np.ndarray:
        a = _arr(node, key, name, default)
        try:
            return np.broadcast_to(a, shape).copy()
        except ValueError:
            raise FrontendError(f"parameter {key} does not match the layer shape", node=name, needed=list(shape),
                                available=list(a.shape)) from None

    common = {"comparison": ">", "reset": "zero", "reset_timing": "before_decay"}
    if t in ("IF", "I"):
        gain = _if_gain(p("r"), dt, if_convention, name, notes, report)
        report.update(beta=1.0, gain=_rng(gain))
        if t == "I":
            return Neuron("Integrator", beta=1.0, gain=gain, reset="none")
        return Neuron("IF", gain=gain, threshold=p("v_threshold"), v_reset=p("v_reset", 0.0), **common)
    if t == "Threshold":
        report.update(beta=0.0, gain=1.0)
        return Neuron("LIF", beta=0.0, threshold=p("threshold"), **common)
    if t in ("LIF", "LI"):
        b, k = _decay(p("tau"), dt, exact, name, "tau", notes)
        gain, leak = snap(p("r") * k), snap(p("v_leak", 0.0) * k)
        report.update(beta=_rng(b), gain=_rng(gain), leak=_rng(leak))
        if t == "LI":
            return Neuron("LI", beta=b, gain=gain, leak=leak, reset="none")
        return Neuron("LIF", beta=b, gain=gain, leak=leak, threshold=p("v_threshold"), v_reset=p("v_reset", 0.0),
                      **common)
    a, ks = _decay(p("tau_syn"), dt, exact, name, "tau_syn", notes)
    b, k = _decay(p("tau_mem"), dt, exact, name, "tau_mem", notes)
    syn_gain = snap(p("w_in", 1.0) * ks)
    gain, leak = snap(p("r") * k), snap(p("v_leak", 0.0) * k)
    report.update(alpha=_rng(a), syn_gain=_rng(syn_gain), beta=_rng(b), gain=_rng(gain), leak=_rng(leak))
    if t == "CubaLI":
        return Neuron("CubaLI", alpha=a, beta=b, gain=gain, syn_gain=syn_gain, leak=leak, reset="none")
    return Neuron("CubaLIF", alpha=a, beta=b, gain=gain, syn_gain=syn_gain, leak=leak, threshold=p("v_threshold"),
                  v_reset=p("v_reset", 0.0), **common)


def _rng(x: Any) -> float | list[float]:
    a = np.asarray(x, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return lo if lo == hi else [lo, hi]


def _param_shape(node: RawNode) -> tuple[int, ...] | None:
    keys = {"IF": "v_threshold", "LIF": "v_threshold", "CubaLIF": "v_threshold", "LI": "tau", "CubaLI": "tau_mem",
            "I": "r", "Threshold": "threshold"}
    shapes = [np.shape(v) for k, v in node.params.items() if not k.startswith("_") and np.ndim(v) > 0]
    main = node.params.get(keys[node.type])
    if main is not None and np.ndim(main) > 0:
        return tuple(int(s) for s in np.shape(main))
    return tuple(int(s) for s in shapes[0]) if shapes else None


# ----------------------------------------------------------------------------------------------- the importer
class _Importer:
    def __init__(self, root: RawNode, dt: float, discretization: str, if_convention: str, implicit_delay: bool,
                 notes: list[str]) -> None:
        self.dt, self.exact, self.conv = dt, discretization == "exact", if_convention
        self.implicit_delay = implicit_delay
        self.notes = notes
        nodes, edges, ins, outs = _flatten(root, "")
        self.nodes, self.edges = nodes, edges
        self.inputs = [n for n in nodes if nodes[n].type == "Input" and n in ins]
        self.outputs = [n for n in nodes if nodes[n].type == "Output" and n in outs]
        if not self.inputs:
            raise FrontendError("the NIR graph has no Input node", node="<graph>", hint="add nir.Input")
        seen = set()
        for e in edges:
            if e in seen:
                raise FrontendError("duplicate edge", node=f"{e[0]} -> {e[1]}")
            seen.add(e)
        self.pred: dict[str, list[str]] = {n: [] for n in nodes}
        self.succ: dict[str, list[str]] = {n: [] for n in nodes}
        for a, b in edges:
            if nodes[a].type == "Output" and a in outs:
                raise FrontendError("an Output node cannot have outgoing edges", node=a)
            if nodes[b].type == "Input" and b in ins:
                raise FrontendError("an Input node cannot have incoming edges", node=b)
            self.pred[b].append(a)
            self.succ[a].append(b)

    def is_source(self, n: str) -> bool:
        return n in self.inputs or self.nodes[n].type in NEURON_TYPES

    def paths_into(self, sink: str) -> list[tuple[str, list[str]]]:
        """All (source, [op nodes in forward order]) paths ending at ``sink`` through operator nodes."""
        out: list[tuple[str, list[str]]] = []

        def walk(n: str, chain: list[str]) -> None:
            for pre in self.pred[n]:
                if self.is_source(pre):
                    out.append((pre, [*reversed(chain)]))
                elif pre in chain or pre == sink:
                    cyc = [*reversed(chain[chain.index(pre):] if pre in chain else chain), pre]
                    raise FrontendError(f"cycle without delay through operators only: {' -> '.join(cyc)}",
                                        node=pre, needed="a neuron or Delay on the cycle", available=0,
                                        hint="a cycle needs a stateful node")
                elif self.nodes[pre].type in ("Output", "Input"):
                    raise FrontendError("edge from an Output/Input node inside the graph", node=pre)
                else:
                    walk(pre, [*chain, pre])

        walk(sink, [])
        return out

    def build(self) -> Graph:
        sinks = [n for n in self.nodes if self.nodes[n].type in NEURON_TYPES] + self.outputs
        paths = {s: self.paths_into(s) for s in sinks}
        # operator nodes that are not on any path (dangling) are reported
        used = {o for ps in paths.values() for _, ch in ps for o in ch}
        for n, node in self.nodes.items():
            if node.type in OP_TYPES and n not in used and node.type != "Identity":
                warn(f"{n}: NIR {node.type} node is not between a source and a neuron/Output; ignored", self.notes)
        self.ops = {n: _op_of(self.nodes[n], n, self.dt, self.notes) for n in used}
        order = self._shape_order(paths)
        shapes: dict[str, tuple[int, ...]] = {}
        for i in self.inputs:
            shp = np.asarray(self.nodes[i].params.get("shape", ()), dtype=np.int64).reshape(-1)
            shapes[i] = tuple(int(s) for s in shp)
        self._repair_batch_axis(paths, shapes)
        chains: dict[str, list[tuple[str, list[str], list[Op]]]] = {}
        layer_report: dict[str, Any] = {}
        pops: list[Population] = []
        for n in order:
            if n in self.inputs:
                continue
            node = self.nodes[n]
            built = []
            out_shapes = []
            for src, ch in paths[n]:
                if src not in shapes:  # recurrent source not built yet: resolved after its own shape is known
                    built.append((src, ch, None))
                    continue
                ops, shp = self._chain(src, ch, shapes[src], n)
                built.append((src, ch, ops))
                out_shapes.append(shp)
            if node.type in NEURON_TYPES:
                shp = _param_shape(node)
                if shp is None:
                    if not out_shapes:
                        raise FrontendError("cannot infer the layer shape (0-d parameters, no sized input)",
                                            node=n, hint="write per-neuron parameter arrays")
                    shp = out_shapes[0]
                shapes[n] = shp
                rep: dict[str, Any] = {"nir_type": node.type}
                neuron = _neuron_of(node, n, shp, self.dt, self.exact, self.conv, self.notes, rep)
                layer_report[n] = rep
                pops.append(Population(n, shp, neuron))
            else:
                shapes[n] = out_shapes[0] if out_shapes else ()
            chains[n] = built
        # second pass: chains from sources that came later (back edges)
        for n, built in chains.items():
            for j, (src, ch, ops) in enumerate(built):
                if ops is None:
                    ops, _ = self._chain(src, ch, shapes[src], n)
                    built[j] = (src, ch, ops)
        projections: list[Projection] = []
        outputs: list[Output] = []
        pop_names = {p.name for p in pops}
        names = {*self.inputs, *self.outputs, *pop_names}
        for n in order:
            if n in self.inputs:
                continue
            node = self.nodes[n]
            target = n
            if node.type == "Output":
                shp = self._check_output(n, chains[n], shapes)
                direct = [src for src, ch, ops in chains[n] if not ops]
                if len(chains[n]) == 1 and direct:
                    outputs.append(Output(n, direct[0]))
                    continue
                if not chains[n]:
                    raise FrontendError("Output node has no incoming edge", node=n)
                target = _unique(f"{n}_readout", names)
                pops.append(Population(target, shp, Neuron("LI", beta=0.0, reset="none")))
                pop_names.add(target)
                layer_report[target] = {"nir_type": "readout of Output (value of its input each step)"}
                outputs.append(Output(n, target))
            for src, ch, ops in chains[n]:
                base = "+".join(ch) if ch else f"{src}->{target}"
                pname = _unique(base, names)
                for o in ops:
                    if isinstance(o, Op) and o.weighted:
                        for fname in o.array_fields:
                            a = getattr(o, fname)
                            if a is not None and not np.all(np.isfinite(a)):
                                raise FrontendError(f"{fname} holds NaN or inf", node=pname)
                projections.append(Projection(pname, src, target, tuple(ops)))
        projections, implicit = self._delay_cycles(projections, pop_names)
        meta = {"source": "nir", "nir_import": {
            "dt": self.dt, "discretization": "exact" if self.exact else "euler", "layers": layer_report,
            "implicit_delays": implicit, "warnings": list(self.notes)}}
        inputs = [Input(i, shapes[i]) for i in self.inputs]
        return Graph(inputs, pops, projections, outputs, dt=self.dt, metadata=meta)

    # -- helpers -------------------------------------------------------------------------------------
    def _shape_order(self, paths: dict[str, list[tuple[str, list[str]]]]) -> list[str]:
        """Inputs, then sinks in depth-first order from the inputs (sources before their targets, except
        along back edges), then unreachable sinks in name order."""
        succ: dict[str, list[str]] = {}
        for sink, ps in paths.items():
            for src, _ in ps:
                succ.setdefault(src, [])
                if sink not in succ[src]:
                    succ[src].append(sink)
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str) -> None:  # post-order DFS, reversed below
            stack = [(n, iter(sorted(succ.get(n, []))))]
            state[n] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    state[node] = 2
                    order.append(node)
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(sorted(succ.get(nxt, [])))))

        for i in self.inputs:
            if i not in state:
                visit(i)
        for s in sorted(paths):
            if s not in state:
                visit(s)
        rev = order[::-1]
        return [*self.inputs, *[n for n in rev if n not in self.inputs]]

    def _chain(self, src: str, ch: list[str], shape: tuple[int, ...], sink: str) -> tuple[list[Op], tuple[int, ...]]:
        ops: list[Op] = []
        cur = tuple(shape)
        delays = []
        for i, name in enumerate(ch):
            op = self.ops[name]
            if isinstance(op, tuple):
                _, start, end = op
                try:
                    out = _flatten_shape(cur, start, end)
                except ValueError:
                    raise FrontendError(f"Flatten dims ({start}, {end}) do not fit the input", node=name,
                                        available=list(cur)) from None
                nxt = self.ops[ch[i + 1]] if i + 1 < len(ch) else None
                if (isinstance(nxt, Dense) and out != (nxt.weight.shape[1],) and start >= 1
                        and math.prod(cur) == nxt.weight.shape[1]):
                    warn(f"{name}: Flatten start_dim={start} counts the batch axis (old convention); "
                         f"flattening all of {list(cur)}", self.notes)
                    out = (math.prod(cur),)
                op = Reshape(out)
            if isinstance(op, Delay):
                delays.append(op)
            try:
                nxt_shape = op.out_shape(cur)
            except Exception as e:  # GraphError from the IR op: re-raise naming the NIR node and the edge
                prev = ch[i - 1] if i else src
                raise FrontendError(f"edge {prev} -> {name}: shape mismatch ({getattr(e, 'args', [''])[0]})",
                                    node=name, available=list(cur),
                                    hint="fix the layer sizes in the source model") from None
            if not isinstance(op, Identity):
                ops.append(op)
            cur = nxt_shape
        if len(delays) > 1:  # one Delay per projection in the IR: merge consecutive delays
            total = sum(int(d.max_steps) for d in delays)
            if any(d.steps.size > 1 for d in delays):
                raise FrontendError("several per-element Delay nodes on one path", node=sink,
                                    hint="merge the delays in the source model")
            ops = [o for o in ops if not isinstance(o, Delay)]
            ops.insert(0, Delay(total))
        if self.nodes[sink].type in NEURON_TYPES:
            want = _param_shape(self.nodes[sink])
            if want is not None and tuple(want) != cur:
                if math.prod(want) == math.prod(cur):
                    ops.append(Reshape(tuple(want)))
                else:
                    last = ch[-1] if ch else src
                    raise FrontendError(f"edge {last} -> {sink}: shape mismatch", node=sink, needed=list(want),
                                        available=list(cur), hint="fix the layer sizes in the source model")
        return ops, cur

    def _repair_batch_axis(self, paths: dict[str, list[tuple[str, list[str]]]],
                           shapes: dict[str, tuple[int, ...]]) -> None:
        for i in self.inputs:
            shp = shapes[i]
            if len(shp) < 2 or shp[0] != 1:
                continue
            uses = [(s, ch) for s, ps in paths.items() for src, ch in ps if src == i]

            def fits(shape: tuple[int, ...], i: str = i, uses: list = uses) -> bool:
                try:
                    for sink, ch in uses:
                        self._chain(i, ch, shape, sink)
                except FrontendError:
                    return False
                return True

            if uses and not fits(shp) and fits(shp[1:]):
                warn(f"{i}: Input shape {list(shp)} has a batch axis; using {list(shp[1:])}", self.notes)
                shapes[i] = shp[1:]

    def _check_output(self, n: str, built: list[Any], shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        got = None
        for src, _ch, ops in built:
            shp = shapes[src]
            for o in ops:
                shp = o.out_shape(shp)
            got = shp if got is None else got
            if shp != got:
                raise FrontendError("inputs of an Output node differ in shape", node=n, needed=list(got),
                                    available=list(shp))
        if got is None:
            raise FrontendError("Output node has no incoming edge", node=n)
        declared = self.nodes[n].params.get("shape")
        if declared is not None:
            d = tuple(int(s) for s in np.asarray(declared).reshape(-1))
            if d != got:
                if math.prod(d) != math.prod(got):
                    raise FrontendError("Output shape does not match its input", node=n, needed=list(got),
                                        available=list(d))
                warn(f"{n}: Output shape {list(d)} differs from its input {list(got)} (nir.read(type_check=True) "
                     f"rejects this file); using {list(got)}", self.notes)
        return got

    def _delay_cycles(self, projections: list[Projection], pops: set[str]) -> tuple[list[Projection], list[str]]:
        """Give every zero-delay cycle a Delay(1) on its DFS back edge (see the module docstring)."""
        zero = [p for p in projections if p.min_delay == 0]
        succ: dict[str, list[Projection]] = {}
        for p in zero:
            succ.setdefault(p.source, []).append(p)
        back: list[str] = []
        state: dict[str, int] = {}
        starts = [*self.inputs, *sorted(pops)]
        for s in starts:
            if s in state:
                continue
            state[s] = 1
            stack = [(s, iter(sorted(succ.get(s, []), key=lambda q: q.name)))]
            while stack:
                node, it = stack[-1]
                pr = next(it, None)
                if pr is None:
                    state[node] = 2
                    stack.pop()
                    continue
                st = state.get(pr.target)
                if st == 1:
                    back.append(pr.name)
                elif st is None:
                    state[pr.target] = 1
                    stack.append((pr.target, iter(sorted(succ.get(pr.target, []), key=lambda q: q.name))))
        if not back or not self.implicit_delay:
            return projections, []
        out = []
        for p in projections:
            if p.name in back:
                p = Projection(p.name, p.source, p.target, (Delay(1), *p.ops))
            out.append(p)
        return out, back


def _unique(base: str, names: set[str]) -> str:
    name, k = base, 2
    while name in names:
        name, k = f"{base}#{k}", k + 1
    names.add(name)
    return name


def load(source: Any, dt: float = 1e-4, discretization: str = "euler", if_convention: str = "auto",
         implicit_delay: bool = True) -> Graph:
    """Import a NIR graph (a ``.nir`` path or a ``nir.NIRGraph``) as an ``ir.Graph`` with step ``dt`` (s).

    discretization: "euler" (β = 1 − dt/τ, default) or "exact" (β = exp(−dt/τ)). if_convention: "auto",
    "step" (IF/I gain = r) or "continuous" (gain = r·dt). implicit_delay: give cycles without a Delay node a
    one-step delay (False: such a cycle is an error). The per-layer β/α/gain, the IF convention found, the
    implicit delays and all warnings are in ``graph.metadata["nir_import"]``.
    """
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise FrontendError("dt must be a positive number of seconds", node="load", available=dt)
    if discretization not in DISCRETIZATIONS:
        raise FrontendError(f"unknown discretization {discretization!r}", node="load", needed=DISCRETIZATIONS,
                            available=discretization)
    if if_convention not in IF_CONVENTIONS:
        raise FrontendError(f"unknown if_convention {if_convention!r}", node="load", needed=IF_CONVENTIONS,
                            available=if_convention)
    notes: list[str] = []
    if isinstance(source, (str, os.PathLike)):
        root = read_file(source)
    elif isinstance(source, RawNode):
        root = source
    else:
        root = from_nir_object(source, notes=notes)
        if root.type != "NIRGraph":
            raise FrontendError("load() needs a NIRGraph or a .nir path", node=type(source).__name__)
    return _Importer(root, float(dt), discretization, if_convention, implicit_delay, notes).build()


# ----------------------------------------------------------------------------------------------- export
def _has_field(cls: type, name: str) -> bool:
    import dataclasses

    return any(f.name == name for f in dataclasses.fields(cls))


def _neuron_to_nir(pop: Population, dt: float, if_convention: str, notes: list[str]) -> Any:
    """The NIR node of a population (inverse of the forward-Euler rules), per-neuron arrays only."""
    import nir

    n, shape = pop.neuron, pop.shape

    def full(x: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.float64), shape).copy()

    lost = []
    if n.spiking:
        if n.reset == "subtract":
            lost.append("subtractive reset (NIR resets to v_reset; readers will reset to v_reset)")
        elif n.reset == "none":
            lost.append("no reset (NIR resets to v_reset)")
        if n.comparison == ">=":
            lost.append("comparison '>=' (NIR fires on v > threshold)")
        if n.reset_timing == "after_decay":
            lost.append("after_decay reset timing (snnTorch's delayed reset; NIR resets at once)")
    if n.refractory:
        lost.append(f"refractory period of {n.refractory} steps")
    if n.ports > 1:
        lost.append(f"{n.ports} synaptic current ports (NIR's {n.kind} has one synaptic current: exported with port "
                    "0's tau_syn and w_in, and every incoming edge feeds it)")
    if n.v_min is not None or n.v_max is not None:
        lost.append(f"state bounds [{n.v_min}, {n.v_max}]")
    if n.state_bits is not None or n.weight_bits is not None:
        lost.append(f"bit widths (weight {n.weight_bits}, state {n.state_bits}) and integer semantics")
    kw_reset: dict[str, Any] = {}
    thr = full(n.threshold)
    if n.spiking:
        if n.reset == "zero" and np.any(np.asarray(n.v_reset) != 0):
            cls = nir.CubaLIF if n.kind == "CubaLIF" else nir.LIF if n.kind == "LIF" else nir.IF
            if _has_field(cls, "v_reset"):
                kw_reset["v_reset"] = full(n.v_reset)
            else:
                lost.append("v_reset != 0 (this nir version has no v_reset; readers reset to 0)")
        elif _has_field(nir.IF, "v_reset"):
            kw_reset["v_reset"] = np.zeros(shape)
    if lost:
        warn(f"{pop.name}: NIR cannot express {'; '.join(lost)}", notes)
    if n.kind in ("IF", "Integrator"):
        if np.any(np.asarray(n.leak) != 0):
            warn(f"{pop.name}: NIR {'IF' if n.kind == 'IF' else 'I'} has no leak/bias term; leak dropped", notes)
        gain = full(n.gain)
        r = gain if if_convention == "step" else gain / dt
        if n.kind == "Integrator":
            return nir.I(r=r)
        return nir.IF(r=r, v_threshold=thr, **kw_reset)
    k = 1.0 - full(n.beta)
    if np.any(k <= 0):
        raise FrontendError(f"{n.kind} decay beta >= 1 has no NIR time constant", node=pop.name,
                            hint="use IF / Integrator for beta = 1")
    tau, r, v_leak = dt / k, full(n.gain) / k, full(n.leak) / k
    if n.kind == "LI":
        return nir.LI(tau=tau, r=r, v_leak=v_leak)
    if n.kind == "LIF":
        return nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, **kw_reset)
    ks = 1.0 - full(n.port_param("alpha", shape, 0))
    if np.any(ks <= 0):
        raise FrontendError("synaptic decay alpha >= 1 has no NIR time constant", node=pop.name)
    w_in = full(n.port_param("syn_gain", shape, 0)) / ks
    args = {"tau_syn": dt / ks, "tau_mem": tau, "r": r, "v_leak": v_leak, "w_in": w_in}
    if n.kind == "CubaLI":
        if not hasattr(nir, "CubaLI"):
            raise FrontendError(f"nir {getattr(nir, '__version__', '?')} has no CubaLI node", node=pop.name,
                                hint="upgrade nir (>= 1.0.5) or use a CubaLIF with an unreachable threshold")
        return nir.CubaLI(**args)
    return nir.CubaLIF(**args, v_threshold=thr, **kw_reset)


def _op_to_nir(op: Op, in_shape: tuple[int, ...], dt: float, proj: str) -> Any | None:
    import nir

    if isinstance(op, Dense):
        if op.bias is None:
            return nir.Linear(weight=np.array(op.weight))
        return nir.Affine(weight=np.array(op.weight), bias=np.array(op.bias))
    if isinstance(op, Conv):
        bias = np.zeros(op.weight.shape[0]) if op.bias is None else np.array(op.bias)
        cls = nir.Conv1d if op.ndim == 1 else nir.Conv2d if op.ndim == 2 else None
        if cls is None:
            raise FrontendError(f"Conv{op.ndim}d has no NIR node", node=proj)
        spatial = in_shape[1] if op.ndim == 1 else tuple(in_shape[1:])
        return cls(input_shape=spatial, weight=np.array(op.weight), stride=op.stride if op.ndim == 2 else op.stride[0],
                   padding=op.padding if op.ndim == 2 else op.padding[0],
                   dilation=op.dilation if op.ndim == 2 else op.dilation[0], groups=op.groups, bias=bias)
    if isinstance(op, AvgPool2d):
        return nir.AvgPool2d(kernel_size=np.array(op.kernel), stride=np.array(op.stride), padding=np.array(op.padding))
    if isinstance(op, SumPool2d):
        return nir.SumPool2d(kernel_size=np.array(op.kernel), stride=np.array(op.stride), padding=np.array(op.padding))
    if isinstance(op, Identity):
        return None
    if isinstance(op, Reshape):
        out = op.out_shape(in_shape)
        if out == tuple(in_shape):
            return None
        if len(out) != 1:
            raise FrontendError(f"Reshape {list(in_shape)} -> {list(out)} has no NIR node (only Flatten)", node=proj,
                                hint="flatten to 1-D")
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
    if isinstance(op, Scale):
        return nir.Scale(scale=np.broadcast_to(op.factor, in_shape).astype(np.float64).copy())
    if isinstance(op, Delay):
        return nir.Delay(delay=np.broadcast_to(op.steps * dt, in_shape).astype(np.float64).copy())
    raise FrontendError(f"projection operator {type(op).__name__} has no NIR node", node=proj,
                        hint="fold BatchNorm (spikemesh.fold_batchnorm) and use dense weights for Sparse")


def _closes_cycle(graph: Graph, proj: Projection) -> bool:
    """True when removing ``proj``'s delay would create a zero-delay cycle (a recurrent edge)."""
    import networkx as nx

    g = graph.dependency_graph()
    return proj.source == proj.target or (proj.target in g and proj.source in g and
                                          nx.has_path(g, proj.target, proj.source))


def to_nir(graph: Graph, if_convention: str = "step", implicit_recurrent_delay: bool = True) -> Any:
    """The ``nir.NIRGraph`` of ``graph`` (see ``save_nir``)."""
    import nir

    from spikemesh.ir.operators import Sparse
    from spikemesh.ir.passes import fold_batchnorm

    if if_convention not in ("step", "continuous"):
        raise FrontendError(f"unknown if_convention {if_convention!r}", node="save_nir",
                            needed=("step", "continuous"), available=if_convention)
    graph = fold_batchnorm(graph)
    notes: list[str] = []
    dt = graph.dt
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    for i in graph.inputs:
        nodes[i.name] = nir.Input(input_type={"input": np.array(i.shape)})
    for p in graph.populations:
        nodes[p.name] = _neuron_to_nir(p, dt, if_convention, notes)
    taken = set(nodes) | {o.name for o in graph.outputs}
    for pr in graph.projections:
        shapes = graph.chain_shapes(pr)
        ops = list(pr.ops)
        d = pr.delay_op
        if (implicit_recurrent_delay and d is not None and ops.index(d) == 0 and d.steps.size == 1
                and int(d.steps) == 1 and _closes_cycle(graph, pr)):
            ops, shapes = ops[1:], shapes[1:]  # NIR readers give a cycle its one-step delay themselves
        prev = pr.source
        nir_ops = []
        for op, shp in zip(ops, shapes):
            if isinstance(op, Sparse):
                op = Dense(op.to_csr(shp).toarray().T)
            nn = _op_to_nir(op, tuple(shp), dt, pr.name)
            if nn is not None:
                nir_ops.append(nn)
        for k, nn in enumerate(nir_ops):
            name = _unique(pr.name if len(nir_ops) == 1 else f"{pr.name}.{k}", taken)
            nodes[name] = nn
            edges.append((prev, name))
            prev = name
        edges.append((prev, pr.target))
    for o in graph.outputs:
        nodes[o.name] = nir.Output(output_type={"output": np.array(graph.shape_of(o.source))})
        edges.append((o.source, o.name))
    bad = [n for n in nodes if keyword.iskeyword(n)]
    if bad:
        warn(f"node names {bad} are Python keywords; importers built on nirtorch/torch.fx (snnTorch) fail on them",
             notes)
    if len(set(edges)) != len(edges):
        raise FrontendError("two parallel projections without operators between the same nodes cannot be told "
                            "apart in NIR", node="save_nir", hint="merge them into one projection")
    return nir.NIRGraph(nodes=nodes, edges=edges)


def save_nir(graph: Graph, path: str | os.PathLike[str], if_convention: str = "step",
             implicit_recurrent_delay: bool = True) -> None:
    """Write ``graph`` as a NIR file (atomically), every parameter a per-neuron array.

    Neurons are written with the inverse forward-Euler rules at ``graph.dt``: τ = dt/(1 − β), r = gain/(1 − β),
    v_leak = leak/(1 − β) (CubaLIF: τ_syn = dt/(1 − α), w_in = syn_gain/(1 − α)). IF / I resistance: r = gain
    (``if_convention="step"``, what sinabs and snnTorch read) or r = gain/dt ("continuous", SpikingJelly).
    A one-step Delay that closes a cycle is left implicit (NIR readers delay recurrent edges by one step) unless
    ``implicit_recurrent_delay=False``. What NIR cannot express (subtractive reset, '>=' comparison,
    snnTorch-style delayed reset, refractory steps, state bounds, bit widths) is written without it and named
    in a FrontendWarning.
    """
    import nir

    from spikemesh.fileio import atomic_write_with

    ng = to_nir(graph, if_convention, implicit_recurrent_delay)
    atomic_write_with(path, lambda tmp: nir.write(tmp, ng))


def read_checked(path: str | os.PathLike[str]) -> Any:
    """``nir.read`` with nir's own type check (``type_check=True`` where the installed nir has it; older nir:
    ``infer_types`` + ``_check_types``)."""
    import inspect

    import nir

    if "type_check" in inspect.signature(nir.read).parameters:
        return nir.read(path, type_check=True)
    g = nir.read(path)
    g.infer_types()
    g._check_types()
    return g
