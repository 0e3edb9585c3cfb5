"""PyTorch frontend: a spiking ``torch.nn.Module`` (one call = one time step) → ``ir.Graph``.

The module is traced with ``torch.fx`` (layers and neurons are leaves); when tracing fails, a module walk over
``nn.Sequential`` children in order is the fallback. Layers: Linear, Conv1d/Conv2d, AvgPool2d, sinabs
SumPool2d, Flatten (module, ``torch.flatten``, ``.flatten`` / ``.view(B, -1)``), BatchNorm1d/2d (folded into
the preceding Linear/Conv), Dropout / Identity (dropped), ``+`` (fan-in: projections into one population sum).
Neuron adapters follow docs/semantics.md §6 (facts from the frameworks' source, research/ecosystem.md §1.7):

- snnTorch ``Leaky``: LIF, β = beta, gain 1, fires on ``mem > threshold``. Subtract reset with the default
  ``reset_delay=True`` is ``after_decay`` (U[t] = βU[t−1] + I[t] − S[t−1]θ). Zero reset: snnTorch zeroes the
  membrane *before* the next decay (``mem = (1 − reset)·mem; mem = β·mem + I``), which is ``before_decay``
  (same spikes; snnTorch's stored trace shows the un-reset value on the spike step). ``reset_delay=False``:
  ``before_decay``.
- snnTorch ``Synaptic``: CubaLIF α = alpha, β = beta; its zero reset is U[t] = (1 − S[t−1])(βU + I_syn)
  → ``after_decay``; subtract → ``after_decay``. ``RLeaky``: LIF plus a recurrent projection ``Delay(1)`` →
  its ``recurrent`` Linear/Conv2d (or the one-to-one V); zero reset → ``after_decay`` (its ``base − reset·base``).
- SpikingJelly ``IFNode`` / ``LIFNode``: fires on ``v >= v_threshold``; ``v_reset=None`` → subtract, else zero
  to v_reset; LIF β = 1 − 1/τ, gain = 1/τ (``decay_input``) or 1, leak = v_reset/τ; ``before_decay``.
- sinabs ``IAF`` / ``IAFSqueeze`` / ``LIF``: ``>=``, MembraneSubtract → subtract, MembraneReset → zero,
  ``min_v_mem`` → v_min; LIF β = alpha_mem, gain = 1 − β with ``norm_input``; a synaptic τ gives CubaLIF with
  α = syn_gain = alpha_syn. MultiSpike (the default) equals the IR only while v < 2θ: warned.
Peer frameworks are recognised by class name and module, never imported here.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.errors import FrontendError
from spikemesh.frontend.common import warn
from spikemesh.ir.graph import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import AvgPool2d, BatchNorm, Conv, Delay, Dense, Op, Reshape, Scale, SumPool2d
from spikemesh.ir.passes import fold_batchnorm

Shape = tuple[int, ...]


def _np(t: Any) -> np.ndarray:
    if hasattr(t, "detach"):
        return t.detach().cpu().double().numpy()
    return np.asarray(t, dtype=np.float64)


def _classes(m: Any) -> list[tuple[str, str]]:
    """(top-level package, class name) of every class in ``type(m).__mro__``."""
    return [(c.__module__.split(".")[0], c.__name__) for c in type(m).__mro__]


def _is(m: Any, pkg: str, *names: str) -> bool:
    return any(p == pkg and n in names for p, n in _classes(m))


NEURONS = {("snntorch", "Leaky"), ("snntorch", "Synaptic"), ("snntorch", "RLeaky"),
           ("spikingjelly", "LIFNode"), ("spikingjelly", "IFNode"),
           ("sinabs", "IAF"), ("sinabs", "IAFSqueeze"), ("sinabs", "LIF"), ("sinabs", "LIFSqueeze")}
LAYERS = {"Linear", "Conv1d", "Conv2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Flatten", "Dropout", "Dropout2d",
          "Identity", "SumPool2d"}


def _kind(m: Any) -> str | None:
    """'neuron', 'layer' or None (a container / unknown)."""
    for pkg, name in _classes(m):
        if (pkg, name) in NEURONS:
            return "neuron"
    for pkg, name in _classes(m):
        if pkg in ("torch", "sinabs") and name in LAYERS:
            return "layer"
    return None


# ----------------------------------------------------------------------------------------------- values
@dataclass
class _Value:
    """A traced signal: a sum of terms (source name, op chain) with shape ``shape`` (per sample), or a
    non-signal (membrane state ``state_of`` / a batch size)."""

    terms: list[tuple[str, list[Op]]]
    shape: Shape
    state_of: str | None = None
    size: bool = False


def _apply(v: _Value, op: Op, where: str) -> _Value:
    _signal(v, where)
    try:
        shape = op.out_shape(v.shape)
    except Exception as e:
        raise FrontendError(f"shape mismatch: {e}", node=where, available=list(v.shape),
                            hint="check the layer sizes against sample_input") from None
    terms = []
    for k, (src, ops) in enumerate(v.terms):
        o = op
        if k and isinstance(op, (Dense, Conv)) and op.bias is not None:  # the bias is added once per sum
            o = Dense(op.weight) if isinstance(op, Dense) else Conv(op.weight, None, op.stride, op.padding,
                                                                     op.dilation, op.groups)
        terms.append((src, [*ops, o]))
    return _Value(terms, shape)


def _signal(v: _Value, where: str) -> None:
    if v.state_of is not None:
        raise FrontendError(f"the membrane state of {v.state_of!r} is used as a signal", node=where,
                            hint="only spikes can feed layers; use the neuron's first output")
    if v.size:
        raise FrontendError("a batch size is used as a signal", node=where)


# ----------------------------------------------------------------------------------------------- layers
def _layer_op(m: Any, name: str, shape: Shape, notes: list[str]) -> Op | None:
    cls = {n for _, n in _classes(m)}
    if "Linear" in cls:
        return Dense(_np(m.weight), None if m.bias is None else _np(m.bias))
    if "Conv1d" in cls or "Conv2d" in cls:
        if getattr(m, "padding_mode", "zeros") != "zeros":
            raise FrontendError(f"padding_mode={m.padding_mode!r} is not supported", node=name, hint="use zeros")
        pad = m.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            else:
                ext = [d * (k - 1) for k, d in zip(m.kernel_size, m.dilation)]
                if any(e % 2 for e in ext):
                    raise FrontendError("padding='same' is asymmetric for this kernel", node=name)
                pad = tuple(e // 2 for e in ext)
        return Conv(_np(m.weight), None if m.bias is None else _np(m.bias), m.stride, pad, m.dilation, m.groups)
    if "SumPool2d" in cls:
        return SumPool2d(m.kernel_size, m.stride if m.stride is not None else m.kernel_size)
    if "AvgPool2d" in cls:
        if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
            raise FrontendError("AvgPool2d with ceil_mode, count_include_pad=False or divisor_override is not "
                                "supported", node=name)
        return AvgPool2d(m.kernel_size, m.stride if m.stride is not None else m.kernel_size, m.padding)
    if "BatchNorm1d" in cls or "BatchNorm2d" in cls:
        if m.running_mean is None:
            raise FrontendError("BatchNorm without running statistics cannot be folded", node=name,
                                hint="use track_running_stats=True")
        w = _np(m.weight) if m.weight is not None else np.ones(m.num_features)
        b = _np(m.bias) if m.bias is not None else np.zeros(m.num_features)
        return BatchNorm(_np(m.running_mean), _np(m.running_var), w, b, m.eps)
    if "Flatten" in cls:
        return _flatten_op(shape, m.start_dim, m.end_dim, name)
    if cls & {"Dropout", "Dropout2d", "Identity"}:
        return None
    raise AssertionError(name)


def _flatten_op(shape: Shape, start: int, end: int, name: str) -> Reshape:
    """torch flatten dims count the batch axis (dim 0); ``shape`` excludes it."""
    nd = len(shape) + 1
    s = start + nd if start < 0 else start
    e = end + nd if end < 0 else end
    if s < 1:
        raise FrontendError("flattening the batch axis is not supported", node=name, hint="use start_dim=1")
    s, e = s - 1, e - 1
    return Reshape((*shape[:s], math.prod(shape[s:e + 1]), *shape[e + 1:]))


# ----------------------------------------------------------------------------------------------- neurons
def _full(x: Any, shape: Shape, name: str, what: str) -> np.ndarray:
    a = _np(x)
    try:
        return np.broadcast_to(a, shape).copy()
    except ValueError:
        raise FrontendError(f"{what} does not broadcast to the layer shape", node=name, needed=list(shape),
                            available=list(a.shape)) from None


def _neuron(m: Any, name: str, shape: Shape, notes: list[str]) -> tuple[Neuron, list[Op] | None]:
    """(IR neuron, recurrent op chain or None) for a framework neuron module."""
    if _is(m, "snntorch", "Leaky", "Synaptic", "RLeaky"):
        return _snntorch(m, name, shape, notes)
    if _is(m, "spikingjelly", "LIFNode", "IFNode"):
        return _spikingjelly(m, name, shape, notes), None
    return _sinabs(m, name, shape, notes), None


def _snntorch(m: Any, name: str, shape: Shape, notes: list[str]) -> tuple[Neuron, list[Op] | None]:
    if getattr(m, "inhibition", False):
        raise FrontendError("snnTorch inhibition is not supported", node=name)
    if getattr(m, "state_quant", False):
        raise FrontendError("snnTorch state_quant is not supported", node=name, hint="quantize with spikemesh")
    if float(getattr(m, "graded_spikes_factor", 1.0)) != 1.0:
        raise FrontendError("graded spikes are not supported", node=name, needed=1.0,
                            available=float(m.graded_spikes_factor))
    mech = m.reset_mechanism
    reset = {"subtract": "subtract", "zero": "zero", "none": "none"}[mech]
    delay = bool(getattr(m, "reset_delay", True))
    kind_cls = next(n for p, n in _classes(m) if p == "snntorch" and n in ("Leaky", "Synaptic", "RLeaky"))
    if not delay or reset == "none":
        timing = "before_decay"
    elif reset == "subtract":
        timing = "after_decay"
    else:  # zero reset: Leaky zeroes before the decay; Synaptic and RLeaky discard the new input (after_decay)
        timing = "before_decay" if kind_cls == "Leaky" else "after_decay"
    beta = np.clip(_full(m.beta, shape, name, "beta"), 0, 1)
    thr = _full(m.threshold, shape, name, "threshold")
    common = {"threshold": thr, "comparison": ">", "reset": reset, "reset_timing": timing}
    if kind_cls == "Synaptic":
        alpha = np.clip(_full(m.alpha, shape, name, "alpha"), 0, 1)
        return Neuron("CubaLIF", alpha=alpha, beta=beta, **common), None
    neuron = Neuron("LIF", beta=beta, **common)
    if kind_cls != "RLeaky":
        return neuron, None
    rec = m.recurrent
    rcls = {n for _, n in _classes(rec)}
    if "Linear" in rcls:
        ops: list[Op] = [Delay(1), Dense(_np(rec.weight), None if rec.bias is None else _np(rec.bias))]
    elif "Conv2d" in rcls:
        ops = [Delay(1), Conv(_np(rec.weight), None if rec.bias is None else _np(rec.bias), rec.stride, rec.padding,
                              rec.dilation, rec.groups)]
    else:
        ops = [Delay(1), Scale(_full(m.V, shape, name, "V"))]
    return neuron, ops


def _spikingjelly(m: Any, name: str, shape: Shape, notes: list[str]) -> Neuron:
    thr = float(m.v_threshold)
    v_reset = m.v_reset
    reset = "subtract" if v_reset is None else "zero"
    vr = 0.0 if v_reset is None else float(v_reset)
    if vr != 0.0:
        warn(f"{name}: SpikingJelly starts the membrane at v_reset={vr}; the IR starts at 0", notes)
    common = {"threshold": thr, "v_reset": vr, "comparison": ">=", "reset": reset, "reset_timing": "before_decay"}
    if _is(m, "spikingjelly", "IFNode"):
        return Neuron("IF", **common)
    tau = float(m.tau)
    if tau <= 1:
        raise FrontendError("LIFNode tau must be > 1 (steps)", node=name, available=tau)
    if m.decay_input:
        return Neuron("LIF", beta=1 - 1 / tau, gain=1 / tau, leak=vr / tau, **common)
    return Neuron("LIF", beta=1 - 1 / tau, gain=1.0, leak=vr / tau, **common)


def _prop(m: Any, name: str) -> Any:
    v = getattr(m, name)
    return v() if callable(v) else v


def _sinabs(m: Any, name: str, shape: Shape, notes: list[str]) -> Neuron:
    spike_fn = getattr(m.spike_fn, "__name__", type(m.spike_fn).__name__)
    if spike_fn != "SingleSpike":
        warn(f"{name}: sinabs {spike_fn} emits several spikes per step; the IR emits one (equal while v < 2θ)",
             notes)
    rf = type(m.reset_fn).__name__
    if rf == "MembraneSubtract":
        if getattr(m.reset_fn, "subtract_value", None) is not None:
            raise FrontendError("MembraneSubtract with a subtract_value other than the threshold is not supported",
                                node=name)
        reset = "subtract"
    elif rf == "MembraneReset":
        if float(m.reset_fn.reset_value) != 0.0:
            raise FrontendError("MembraneReset with reset_value != 0 is not supported", node=name,
                                available=float(m.reset_fn.reset_value))
        reset = "zero"
    else:
        raise FrontendError(f"sinabs reset {rf} is not supported", node=name)
    thr = _full(m.spike_threshold, shape, name, "spike_threshold")
    v_min = None if m.min_v_mem is None else float(m.min_v_mem)
    common = {"threshold": thr, "comparison": ">=", "reset": reset, "reset_timing": "before_decay", "v_min": v_min}
    beta = _full(_prop(m, "alpha_mem_calculated"), shape, name, "alpha_mem")
    gain = 1.0 - beta if getattr(m, "norm_input", False) else np.ones(shape)
    if getattr(m, "tau_syn", None) is not None:
        a = _full(_prop(m, "alpha_syn_calculated"), shape, name, "alpha_syn")
        return Neuron("CubaLIF", alpha=a, syn_gain=a, beta=beta, gain=gain, **common)
    if np.all(beta == 1.0):
        return Neuron("IF", gain=gain, **common)
    return Neuron("LIF", beta=beta, gain=gain, **common)


# ----------------------------------------------------------------------------------------------- builder
class _Builder:
    def __init__(self, dt: float) -> None:
        self.dt = dt
        self.inputs: list[Input] = []
        self.pops: list[Population] = []
        self.projs: list[Projection] = []
        self.outputs: list[Output] = []
        self.names: set[str] = set()
        self.notes: list[str] = []
        self.used_neurons: set[int] = set()
        #: ANN conversion: builds the neuron that replaces a ReLU (None: ReLU is unsupported)
        self.relu_neuron: Any = None
        self.relu_pops: dict[str, str] = {}  # population -> the ReLU's module / node name

    def relu(self, name: str, v: _Value) -> _Value:
        _signal(v, name)
        pop = self.unique(name)
        self.pops.append(Population(pop, v.shape, self.relu_neuron(pop, v.shape)))
        self.relu_pops[pop] = name
        self.connect(v, pop, name)
        return _Value([(pop, [])], v.shape)

    def unique(self, base: str) -> str:
        base = base.replace(".", "_") if base else "node"
        name, k = base, 2
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def add_input(self, name: str, shape: Shape) -> _Value:
        n = self.unique(name)
        self.inputs.append(Input(n, shape))
        return _Value([(n, [])], shape)

    def layer(self, m: Any, name: str, v: _Value) -> _Value:
        _signal(v, name)
        op = _layer_op(m, name, v.shape, self.notes)
        return v if op is None else _apply(v, op, name)

    def neuron(self, m: Any, name: str, v: _Value) -> _Value:
        _signal(v, name)
        if id(m) in self.used_neurons:
            raise FrontendError("a neuron module is called twice in one step", node=name,
                                hint="use one module per layer")
        self.used_neurons.add(id(m))
        pop = self.unique(name)
        neuron, rec = _neuron(m, name, v.shape, self.notes)
        self.pops.append(Population(pop, v.shape, neuron))
        self.connect(v, pop, name)
        if rec is not None:
            self.projs.append(Projection(self.unique(f"{name}.recurrent"), pop, pop, tuple(rec)))
        return _Value([(pop, [])], v.shape)

    def connect(self, v: _Value, pop: str, where: str) -> None:
        for src, ops in v.terms:
            self.projs.append(Projection(self.unique(f"{src}->{pop}"), src, pop, tuple(ops)))

    def output(self, v: _Value, name: str) -> None:
        if v.state_of is not None:
            self.notes.append(f"output: the membrane state of {v.state_of!r} is not a spike output; not exported")
            return
        if v.size:
            return
        if len(v.terms) == 1 and not v.terms[0][1]:
            self.outputs.append(Output(self.unique(name), v.terms[0][0]))
            return
        pop = self.unique(f"{name}_readout")  # non-spiking readout: its value is its input each step
        self.pops.append(Population(pop, v.shape, Neuron("LI", beta=0.0, reset="none")))
        self.connect(v, pop, name)
        self.outputs.append(Output(self.unique(name), pop))

    def graph(self, meta: dict[str, Any]) -> Graph:
        if not self.outputs:
            raise FrontendError("the module has no spiking output", node="<module>",
                                hint="return the spikes of the last layer")
        g = Graph(self.inputs, self.pops, self.projs, self.outputs, dt=self.dt,
                  metadata={**meta, "warnings": list(self.notes)})
        return fold_batchnorm(g)


def _shape_of(x: Any) -> Shape:
    shp = tuple(int(s) for s in x.shape)
    if len(shp) < 2:
        raise FrontendError("sample_input needs a batch axis: [B, *shape]", node="sample_input", available=list(shp))
    return shp[1:]


def _trace(module: Any, b: _Builder, samples: list[Any]) -> None:
    import torch.fx as fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            return _kind(m) is not None or super().is_leaf_module(m, qualname)

    graph = Tracer().trace(module)
    mods = dict(module.named_modules())
    env: dict[str, Any] = {}
    k_in = 0
    for node in graph.nodes:
        if node.op == "placeholder":
            if k_in >= len(samples):  # extra forward() arguments: neuron states passed in (snnTorch mem)
                env[node.name] = _Value([], (), state_of=f"argument {node.name}")
                continue
            env[node.name] = b.add_input(node.name, _shape_of(samples[k_in]))
            k_in += 1
        elif node.op == "get_attr":
            raise FrontendError("tensor attributes used in forward() are not supported", node=str(node.target))
        elif node.op == "call_module":
            m = mods[node.target]
            args = [_resolve(a, env) for a in node.args]
            kind = _kind(m)
            if kind is None and b.relu_neuron is not None and _is(m, "torch", "ReLU"):
                env[node.name] = b.relu(node.target, args[0])
                continue
            if kind is None:
                raise FrontendError(f"unsupported module {type(m).__module__}.{type(m).__name__}", node=node.target,
                                    hint="supported: Linear, Conv1d/2d, AvgPool2d, SumPool2d, Flatten, BatchNorm, "
                                         "Dropout, Identity and snnTorch/SpikingJelly/sinabs neurons")
            if kind == "layer":
                env[node.name] = b.layer(m, node.target, args[0])
            else:
                out = b.neuron(m, node.target, args[0])
                env[node.name] = ("neuron", out, b.pops[-1].name)
        elif node.op == "call_function":
            env[node.name] = _function(node, env, b)
        elif node.op == "call_method":
            env[node.name] = _method(node, env)
        elif node.op == "output":
            _outputs(node.args[0], env, b)


def _resolve(a: Any, env: dict[str, Any]) -> Any:
    if hasattr(a, "name") and a.name in env:
        v = env[a.name]
        if isinstance(v, tuple) and v and v[0] == "neuron":  # a neuron's bare output: its spikes
            return v[1]
        return v
    return a


def _function(node: Any, env: dict[str, Any], b: _Builder) -> Any:
    import torch

    f = node.target
    if f is operator.getitem:
        src = env.get(getattr(node.args[0], "name", None))
        idx = node.args[1]
        if isinstance(src, tuple) and src and src[0] == "neuron":
            if idx == 0:
                return src[1]
            return _Value([], src[1].shape, state_of=src[2])
        if isinstance(src, _Value) and src.size:
            return src
        raise FrontendError("indexing is only supported on a neuron's outputs", node=node.name)
    if f in (operator.add, torch.add):
        a, c = (_resolve(x, env) for x in node.args[:2])
        if not (isinstance(a, _Value) and isinstance(c, _Value)):
            raise FrontendError("addition of a constant is not supported", node=node.name,
                                hint="use a bias in the preceding layer")
        _signal(a, node.name)
        _signal(c, node.name)
        if a.shape != c.shape:
            raise FrontendError("residual addition of different shapes", node=node.name, needed=list(a.shape),
                                available=list(c.shape))
        return _Value([*a.terms, *c.terms], a.shape)
    if f in (torch.relu, torch.nn.functional.relu) and b.relu_neuron is not None:
        return b.relu(node.name, _resolve(node.args[0], env))
    if f in (operator.mul, torch.mul):
        a, c = (_resolve(x, env) for x in node.args[:2])
        v, s = (a, c) if isinstance(a, _Value) else (c, a)
        if not isinstance(s, (int, float)):
            raise FrontendError("only multiplication by a constant number is supported", node=node.name)
        return _apply(v, Scale(float(s)), node.name)
    if f is torch.flatten:
        v = _resolve(node.args[0], env)
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return _apply(v, _flatten_op(v.shape, start, end, node.name), node.name)
    if f is getattr:
        v = _resolve(node.args[0], env)
        if node.args[1] == "shape":
            return _Value([], v.shape, size=True)
    raise FrontendError(f"unsupported function {getattr(f, '__name__', f)}", node=node.name,
                        hint="only +, * by a constant, flatten and neuron output indexing are supported")


def _method(node: Any, env: dict[str, Any]) -> Any:
    v = _resolve(node.args[0], env)
    name = node.target
    if name == "size":
        return _Value([], v.shape, size=True)
    if name == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return _apply(v, _flatten_op(v.shape, start, end, node.name), node.name)
    if name in ("view", "reshape"):
        rest = [_resolve(a, env) for a in node.args[1:]]
        if len(rest) == 2 and isinstance(rest[0], _Value) and rest[0].size and rest[1] == -1:
            return _apply(v, Reshape((-1,)), node.name)
        raise FrontendError(f".{name}() is only supported as .{name}(x.size(0), -1)", node=node.name)
    if name in ("contiguous", "clone"):
        return v
    raise FrontendError(f"unsupported tensor method .{name}()", node=node.name)


def _outputs(arg: Any, env: dict[str, Any], b: _Builder) -> None:
    if isinstance(arg, (tuple, list)):
        for k, a in enumerate(arg):
            v = _resolve(a, env)
            if isinstance(v, _Value):
                b.output(v, f"out{k}" if len(arg) > 1 else "out")
        return
    v = env.get(getattr(arg, "name", None))
    if isinstance(v, tuple) and v and v[0] == "neuron":
        b.output(v[1], "out")
    elif isinstance(v, _Value):
        b.output(v, "out")


def _walk(module: Any, b: _Builder, sample: Any) -> None:
    """Fallback: children of (nested) nn.Sequential in order, each a layer or a neuron."""
    v = b.add_input("input", _shape_of(sample))

    def run(m: Any, prefix: str, v: _Value) -> _Value:
        kind = _kind(m)
        if kind is None and b.relu_neuron is not None and _is(m, "torch", "ReLU"):
            return b.relu(prefix, v)
        if kind == "layer":
            return b.layer(m, prefix, v)
        if kind == "neuron":
            return b.neuron(m, prefix, v)
        if type(m).__name__ == "Sequential" or _is(m, "torch", "Sequential"):
            for name, child in m.named_children():
                v = run(child, f"{prefix}.{name}" if prefix else name, v)
            return v
        raise FrontendError(f"unsupported module {type(m).__module__}.{type(m).__name__}", node=prefix or "<module>",
                            hint="torch.fx could not trace the model and the module walk handles nn.Sequential, "
                                 "layers and neurons only")

    b.output(run(module, "", v), "out")


def from_torch(module: Any, sample_input: Any, dt: float = 1e-4) -> Graph:
    """Convert a spiking torch module to an ``ir.Graph`` (``dt`` in seconds: the step of one ``module(x)`` call).

    ``sample_input``: a tensor ``[B, *shape]`` (or a tuple of them for several inputs) giving the per-step
    input shape; the module is not run. Errors name the module. ``graph.metadata["frontend"]`` says whether
    torch.fx or the module walk was used; warnings are in ``graph.metadata["warnings"]``.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise FrontendError("from_torch needs a torch.nn.Module", node=type(module).__name__)
    samples = list(sample_input) if isinstance(sample_input, (tuple, list)) else [sample_input]
    b, method = build(module, samples, float(dt))
    return b.graph({"source": "torch", "frontend": method})


def build(module: Any, samples: list[Any], dt: float, relu_neuron: Any = None) -> tuple[_Builder, str]:
    """Trace (or walk) ``module`` into a builder; returns (builder, "torch.fx" | "module walk")."""
    b = _Builder(dt)
    b.relu_neuron = relu_neuron
    method = "torch.fx"
    try:
        _trace(module, b, samples)
    except FrontendError:
        raise
    except Exception as e:  # fx cannot trace this forward(): walk the module tree instead
        b = _Builder(dt)
        b.relu_neuron = relu_neuron
        b.notes.append(f"torch.fx tracing failed ({type(e).__name__}); used the module walk")
        method = "module walk"
        _walk(module, b, samples[0])
    return b, method
