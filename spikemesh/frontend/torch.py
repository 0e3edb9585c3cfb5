"""PyTorch frontend: a spiking ``torch.nn.Module`` (one call = one time step) → ``ir.Graph``.

The module is traced with ``torch.fx`` (layers and neurons are leaves); when tracing fails, a module walk over
``nn.Sequential`` children in order is the fallback. Each leaf goes through torch_adapters.py (a layer → an IR
operator, a snnTorch / SpikingJelly / sinabs neuron → an IR neuron, with the frameworks' semantics stated there).
Besides modules the tracer accepts ``+`` (fan-in: projections into one population sum), multiplication by a
constant, ``torch.flatten`` / ``.flatten`` / ``.view(B, -1)``, and indexing a neuron's outputs (0: its spikes,
other items: its state, which may not feed a layer). A traced value is a sum of (source, operator chain) terms;
a neuron (or the graph output) turns each term into one ``Projection``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from spikemesh.errors import FrontendError
from spikemesh.frontend.torch_adapters import (
    Shape,
    flatten_op,
    is_class,
    layer_op,
    module_kind,
    neuron_of,
    unknown_neuron_error,
    unsupported_module_error,
)
from spikemesh.ir.graph import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import Conv, Dense, Op, Reshape, Scale
from spikemesh.ir.passes import fold_batchnorm


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
        msg = getattr(e, "message", None) or str(e)
        needed = getattr(e, "needed", None)
        raise FrontendError(f"shape mismatch: {msg}", node=where, needed=needed, available=list(v.shape),
                            hint="check the layer sizes against sample_input, a tensor [B, *shape] with the batch "
                                 "axis first") from None
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
        op = layer_op(m, name, v.shape, self.notes)
        return v if op is None else _apply(v, op, name)

    def neuron(self, m: Any, name: str, v: _Value) -> _Value:
        _signal(v, name)
        if id(m) in self.used_neurons:
            raise FrontendError("a neuron module is called twice in one step", node=name,
                                hint="use one module per layer")
        self.used_neurons.add(id(m))
        pop = self.unique(name)
        neuron, rec = neuron_of(m, name, v.shape, self.notes)
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
            return module_kind(m) is not None or super().is_leaf_module(m, qualname)

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
            kind = module_kind(m)
            if kind is None and b.relu_neuron is not None and is_class(m, "torch", "ReLU"):
                env[node.name] = b.relu(node.target, args[0])
                continue
            if kind == "unknown_neuron":
                raise unknown_neuron_error(m, node.target)
            if kind is None:
                raise unsupported_module_error(m, node.target, hint="supported: Linear, Conv1d/2d, AvgPool2d, "
                                               "SumPool2d, Flatten, BatchNorm, Dropout, Identity and "
                                               "snnTorch/SpikingJelly/sinabs neurons")
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
        return _apply(v, flatten_op(v.shape, start, end, node.name), node.name)
    if f is getattr:
        v = _resolve(node.args[0], env)
        if node.args[1] == "shape":
            return _Value([], v.shape, size=True)
    inside = _owner(node)
    if inside is not None:  # a call inside a module the tracer entered: most often a neuron class it does not know
        path, cls = inside
        raise FrontendError(f"unsupported function {getattr(f, '__name__', f)} inside module {path} ({cls})",
                            node=path, hint=f"if {cls} is a spiking neuron, register it: spikemesh.register_neuron("
                            f"{cls}, fn(module, name, shape) -> Neuron)")
    raise FrontendError(f"unsupported function {getattr(f, '__name__', f)}", node=node.name,
                        hint="only +, * by a constant, flatten and neuron output indexing are supported")


def _owner(node: Any) -> tuple[str, str] | None:
    """(path, class name) of the innermost module an fx node was traced inside (``nn_module_stack``), or None."""
    stack = (getattr(node, "meta", None) or {}).get("nn_module_stack") or {}
    if not stack:
        return None
    path, cls = list(stack.values())[-1]
    return str(path), getattr(cls, "__name__", str(cls).rsplit(".", 1)[-1].strip("'>"))


def _method(node: Any, env: dict[str, Any]) -> Any:
    v = _resolve(node.args[0], env)
    name = node.target
    if name == "size":
        return _Value([], v.shape, size=True)
    if name == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return _apply(v, flatten_op(v.shape, start, end, node.name), node.name)
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
        kind = module_kind(m)
        if kind is None and b.relu_neuron is not None and is_class(m, "torch", "ReLU"):
            return b.relu(prefix, v)
        if kind == "layer":
            return b.layer(m, prefix, v)
        if kind == "neuron":
            return b.neuron(m, prefix, v)
        if kind == "unknown_neuron":
            raise unknown_neuron_error(m, prefix)
        if type(m).__name__ == "Sequential" or is_class(m, "torch", "Sequential"):
            for name, child in m.named_children():
                v = run(child, f"{prefix}.{name}" if prefix else name, v)
            return v
        raise unsupported_module_error(m, prefix, hint="torch.fx could not trace the model and the module walk "
                                                       "handles nn.Sequential, layers and neurons only")

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
