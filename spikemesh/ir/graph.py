"""The spike-graph IR: ``Input``, ``Population``, ``Projection``, ``Output`` and the ``Graph`` that holds them.

A Graph is immutable: passes return new graphs. Construction validates names, shapes and the rule that
every cycle carries at least one step of delay; errors name the node.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import GraphError
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import Delay, Op, Shape
from spikemesh.lazy import LazyModule

nx = LazyModule("networkx")  # only for dependency_graph() users and the cycle report
sp = LazyModule("scipy.sparse")


@dataclass(frozen=True)
class Input:
    """External input: values per step (binary spikes, integer counts or real currents) of ``shape``."""

    name: str
    shape: Shape

    def __post_init__(self) -> None:
        checks.name(self.name, "input name", GraphError)
        object.__setattr__(self, "shape", checks.shape(self.shape, "input shape", self.name, GraphError))


@dataclass(frozen=True)
class Population:
    """A group of neurons sharing a model; parameters may vary per neuron."""

    name: str
    shape: Shape
    neuron: Neuron

    def __post_init__(self) -> None:
        checks.name(self.name, "population name", GraphError)
        object.__setattr__(self, "shape", checks.shape(self.shape, "population shape", self.name, GraphError))
        if not isinstance(self.neuron, Neuron):
            raise GraphError("a population needs a Neuron", node=self.name, needed="spikemesh.ir.Neuron",
                             available=type(self.neuron).__name__)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Projection:
    """Edge ``source`` → ``target`` applying ``ops`` in order. ``source`` is an Input or Population; ``target``
    a Population. Several projections into one population sum (fan-in, e.g. residual connections).
    ``port``: the synaptic current port of the target it feeds (0 unless the target neuron has ``ports > 1``)."""

    name: str
    source: str
    target: str
    ops: tuple[Op, ...]
    port: int = 0

    def __post_init__(self) -> None:
        checks.name(self.name, "projection name", GraphError)
        checks.name(self.source, "projection source", GraphError, node=self.name)
        checks.name(self.target, "projection target", GraphError, node=self.name)
        if isinstance(self.ops, Op) or not isinstance(self.ops, tuple | list):
            raise GraphError("ops must be a sequence of operators", node=self.name, needed="a tuple of Op",
                             available=type(self.ops).__name__)
        object.__setattr__(self, "ops", tuple(self.ops))
        for op in self.ops:
            if not isinstance(op, Op):
                raise GraphError("ops must be operators", node=self.name, needed="spikemesh.ir.operators.Op",
                                 available=type(op).__name__)
        object.__setattr__(self, "port", checks.integer(self.port, "port", self.name, GraphError, lo=0, hi=1023))

    @property
    def delay_op(self) -> Delay | None:
        delays = [o for o in self.ops if isinstance(o, Delay)]
        if len(delays) > 1:
            raise GraphError("at most one Delay per projection", node=self.name, needed=1, available=len(delays))
        return delays[0] if delays else None

    @property
    def min_delay(self) -> int:
        d = self.delay_op
        return d.min_steps if d is not None else 0

    @property
    def max_delay(self) -> int:
        d = self.delay_op
        return d.max_steps if d is not None else 0


@dataclass(frozen=True)
class Output:
    """Names a population (or input) whose spikes — or membrane value, for non-spiking populations — are the
    network's output."""

    name: str
    source: str

    def __post_init__(self) -> None:
        checks.name(self.name, "output name", GraphError)
        checks.name(self.source, "output source", GraphError, node=self.name)


@dataclass(frozen=True, eq=False)
class Graph:
    """A spiking network. ``dt`` is the step in seconds. Order of tuples is preserved but carries no meaning;
    execution order comes from ``topological_order()``."""

    inputs: tuple[Input, ...]
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    outputs: tuple[Output, ...]
    dt: float = 1e-3
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kinds = {"inputs": Input, "populations": Population, "projections": Projection, "outputs": Output}
        for name, cls in kinds.items():
            items = getattr(self, name)
            if isinstance(items, str | bytes) or not isinstance(items, tuple | list):
                raise GraphError(f"{name} must be a sequence of {cls.__name__}", node="graph",
                                 available=type(items).__name__)
            for item in items:
                if not isinstance(item, cls):
                    raise GraphError(f"{name} must hold {cls.__name__} nodes", node="graph",
                                     needed=cls.__name__, available=type(item).__name__)
            object.__setattr__(self, name, tuple(items))
        object.__setattr__(self, "dt", checks.real(self.dt, "dt (step in seconds)", "graph", GraphError, lo=0.0,
                                                   lo_open=True))
        if not isinstance(self.metadata, dict):
            raise GraphError("metadata must be a dict", node="graph", available=type(self.metadata).__name__)
        self._validate()

    def __repr__(self) -> str:
        """One line: inputs with shapes, populations with kinds and sizes, projections, outputs, dt (no arrays)."""
        ins = ", ".join(f"{i.name}{tuple(i.shape)}" for i in self.inputs)
        pops = ", ".join(f"{p.name}:{p.neuron.kind}{tuple(p.shape)}" for p in self.populations)
        return (f"Graph(inputs=[{ins}], populations=[{pops}], projections={len(self.projections)}, "
                f"outputs={[o.name for o in self.outputs]}, dt={self.dt:g})")

    # -- lookup ------------------------------------------------------------------------------------
    @cached_property
    def nodes(self) -> dict[str, Input | Population | Output]:
        out: dict[str, Input | Population | Output] = {}
        for n in (*self.inputs, *self.populations, *self.outputs):
            out[n.name] = n
        return out

    @cached_property
    def population(self) -> dict[str, Population]:
        return {p.name: p for p in self.populations}

    @cached_property
    def projection(self) -> dict[str, Projection]:
        return {p.name: p for p in self.projections}

    def shape_of(self, name: str) -> Shape:
        node = self.nodes.get(name)
        if node is None:
            raise GraphError("no such node", node=name, hint=f"nodes: {', '.join(self.nodes)}")
        if isinstance(node, Output):
            return self.shape_of(node.source)
        return node.shape

    def incoming(self, name: str) -> list[Projection]:
        return [p for p in self.projections if p.target == name]

    def outgoing(self, name: str) -> list[Projection]:
        return [p for p in self.projections if p.source == name]

    def chain_shapes(self, proj: Projection) -> list[Shape]:
        """Shapes before each op and after the last: ``len(ops) + 1`` entries."""
        shapes = [self.shape_of(proj.source)]
        for op in proj.ops:
            shapes.append(op.out_shape(shapes[-1]))
        return shapes

    # -- validation ----------------------------------------------------------------------------------
    def _validate(self) -> None:
        seen: set[str] = set()
        for n in (*self.inputs, *self.populations, *self.outputs, *self.projections):
            if not n.name or not isinstance(n.name, str):
                raise GraphError("every node needs a non-empty name", node=repr(n.name))
            if n.name in seen:
                raise GraphError("duplicate name", node=n.name, hint="names of nodes and projections are unique")
            seen.add(n.name)
        sources = {i.name for i in self.inputs} | {p.name for p in self.populations}
        total = sum(p.size for p in self.populations)
        if total > checks.MAX_ELEMENTS:
            raise GraphError("the graph has too many neurons", node="graph", needed=f"<= {checks.MAX_ELEMENTS:,}",
                             available=f"{total:,}")
        for pop in self.populations:
            pop.neuron.check_shape(pop.shape, pop.name)
        for proj in self.projections:
            if proj.source not in sources:
                raise GraphError(f"source {proj.source!r} is not an input or population", node=proj.name)
            if proj.target not in self.population:
                raise GraphError(f"target {proj.target!r} is not a population", node=proj.name)
            try:
                shapes = self.chain_shapes(proj)
                proj.delay_op  # noqa: B018  (checks at most one Delay)
            except GraphError as e:
                raise GraphError(f"{e}", node=proj.name) from None
            ports = self.population[proj.target].neuron.ports
            if proj.port >= ports:
                raise GraphError(f"port {proj.port} does not exist on target {proj.target!r}", node=proj.name,
                                 needed=f"port < {ports}", available=proj.port,
                                 hint="give the target neuron ports=K (CubaLIF / CubaLI) or use port 0")
            want = self.population[proj.target].shape
            if shapes[-1] != want:
                raise GraphError(
                    f"projection output shape does not match target {proj.target!r}",
                    node=proj.name, needed=want, available=shapes[-1],
                    hint="add a Reshape/Flatten or fix the layer sizes",
                )
            for op in proj.ops:
                for fname in op.array_fields:
                    arr = getattr(op, fname)
                    if arr is not None and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                        raise GraphError(f"{type(op).__name__}.{fname} holds NaN or inf", node=proj.name,
                                         hint="check the trained weights")
        for out in self.outputs:
            if out.source not in sources:
                raise GraphError(f"output source {out.source!r} is not an input or population", node=out.name)
        self.topological_order()

    # -- order ---------------------------------------------------------------------------------------
    def dependency_graph(self, zero_delay_only: bool = True) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(i.name for i in self.inputs)
        g.add_nodes_from(p.name for p in self.populations)
        for proj in self.projections:
            if not zero_delay_only or proj.min_delay == 0:
                g.add_edge(proj.source, proj.target, projection=proj.name)
        return g

    def topological_order(self) -> list[str]:
        """Inputs and populations in the order one step evaluates them (zero-delay edges respected,
        ties broken by declaration order). Raises GraphError naming a cycle without delay.

        Kahn's algorithm with a heap keyed by declaration rank: the order of networkx's
        ``lexicographical_topological_sort`` with that key, without importing networkx."""
        nodes = [i.name for i in self.inputs] + [p.name for p in self.populations]
        rank = {n: i for i, n in enumerate(nodes)}
        succ: dict[str, list[str]] = {n: [] for n in nodes}
        indeg = dict.fromkeys(nodes, 0)
        for proj in self.projections:
            if proj.min_delay == 0 and proj.target not in succ[proj.source]:
                succ[proj.source].append(proj.target)
                indeg[proj.target] += 1
        heap = [rank[n] for n in nodes if indeg[n] == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            u = nodes[heapq.heappop(heap)]
            order.append(u)
            for v in succ[u]:
                indeg[v] -= 1
                if indeg[v] == 0:
                    heapq.heappush(heap, rank[v])
        if len(order) == len(nodes):
            return order
        cycle = nx.find_cycle(self.dependency_graph())
        names = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        raise GraphError(
            f"cycle without delay: {names}", node=cycle[0][0], needed="delay >= 1 step on some edge",
            available=0, hint="add a Delay(1) to a projection on the cycle",
        )

    def layers(self) -> list[str]:
        """Populations in execution order."""
        return [n for n in self.topological_order() if n in self.population]

    # -- statistics ----------------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    def projection_csr(self, proj: Projection | str, structure: bool = False) -> sp.csr_matrix:
        """Neuron-level connectivity ``[n_source, n_target]`` of a whole chain (product of its operators).

        With ``structure=True`` every operator's entries count as 1, so the product keeps synapses whose weight
        is zero or cancels (scipy drops zero products): entry (i, j) is then the number of paths from i to j."""
        if isinstance(proj, str):
            proj = self.projection[proj]
        shapes = self.chain_shapes(proj)
        m: sp.csr_matrix | None = None
        for op, shp in zip(proj.ops, shapes):
            if isinstance(op, Delay):
                continue
            c = op.to_csr(shp)
            if structure:
                c = sp.csr_matrix((np.ones_like(c.data, dtype=np.int64), c.indices, c.indptr), shape=c.shape)
            m = c if m is None else (m @ c).tocsr()
        if m is None:
            m = sp.identity(math.prod(shapes[0]), format="csr")
        return m

    def projection_stats(self, proj: Projection) -> dict[str, Any]:
        """Synapse count and fan-in / fan-out (per neuron: max and mean) of a projection."""
        shapes = self.chain_shapes(proj)
        if len([o for o in proj.ops if not isinstance(o, Delay)]) <= 1:
            op = next((o for o in proj.ops if not isinstance(o, Delay)), None)
            if op is None:
                fi = np.ones(shapes[-1], dtype=np.int64)
                fo = np.ones(shapes[0], dtype=np.int64)
            else:
                i = proj.ops.index(op)
                fi, fo = op.fan_in(shapes[i]), op.fan_out(shapes[i])
        else:
            fast = _pooled_chain_fans(proj.ops, shapes)
            if fast is not None:
                fi, fo = fast
            else:
                m = self.projection_csr(proj, structure=True)
                fo = np.diff(m.indptr)
                fi = np.diff(m.tocsc().indptr)
        return {
            "synapses": int(fi.sum()),
            "fan_in_max": int(fi.max()), "fan_in_mean": float(fi.mean()),
            "fan_out_max": int(fo.max()), "fan_out_mean": float(fo.mean()),
        }

    def summary(self) -> dict[str, Any]:
        """Layers, neurons, synapses and per-layer fan-in / fan-out."""
        layers = []
        total_syn = 0
        for name in self.layers():
            pop = self.population[name]
            inc = [self.projection_stats(p) for p in self.incoming(name)]
            syn = sum(s["synapses"] for s in inc)
            total_syn += syn
            layers.append({
                "name": name, "kind": pop.neuron.kind, "shape": list(pop.shape), "neurons": pop.size,
                "synapses": syn, "fan_in_max": max((s["fan_in_max"] for s in inc), default=0),
                "fan_out_max": max((self.projection_stats(p)["fan_out_max"] for p in self.outgoing(name)),
                                   default=0),
                "sources": [p.source for p in self.incoming(name)],
            })
        return {"neurons": self.n_neurons, "synapses": total_syn, "layers": layers, "dt": self.dt,
                "inputs": {i.name: list(i.shape) for i in self.inputs},
                "outputs": {o.name: o.source for o in self.outputs}}

    @property
    def is_quantized(self) -> bool:
        """True when every population carries bit widths (integer semantics)."""
        return bool(self.populations) and all(p.neuron.state_bits is not None for p in self.populations)

    # -- editing -------------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Graph:
        return replace(self, **changes)

    def with_population(self, pop: Population) -> Graph:
        return self.replace(populations=tuple(pop if p.name == pop.name else p for p in self.populations))

    def with_projection(self, proj: Projection) -> Graph:
        return self.replace(projections=tuple(proj if p.name == proj.name else p for p in self.projections))

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        from spikemesh.ir.serialize import save_graph

        save_graph(self, path)

    @staticmethod
    def load(path: Any) -> Graph:
        from spikemesh.ir.serialize import load_graph

        return load_graph(path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.inputs == other.inputs and self.populations == other.populations
                and self.projections == other.projections and self.outputs == other.outputs
                and self.dt == other.dt and self.metadata == other.metadata)

    __hash__ = None  # type: ignore[assignment]


def _pooled_chain_fans(ops: tuple[Op, ...], shapes: list[Shape]) -> tuple[np.ndarray, np.ndarray] | None:
    """(fan-in, fan-out), flat, of a chain of non-overlapping pools (stride = kernel, no padding) followed by at
    most one other operator, with Reshape / Identity / Delay anywhere: the structure of ``projection_csr`` without
    a sparse product. The pools map each source neuron to at most one pooled neuron and every pooled neuron has
    the same number of sources, so fan-out = the operator's fan-out at the pooled neuron (0 if cropped) and
    fan-in = sources per pooled neuron × the operator's fan-in. None for any other chain."""
    from spikemesh.ir.operators import Reshape, SumPool2d

    src = np.arange(math.prod(shapes[0]), dtype=np.int64)  # source neuron -> current flat index, -1 if dropped
    last: tuple[Op, Shape] | None = None
    for op, shp in zip(ops, shapes):
        if isinstance(op, (Reshape, Delay)):  # Identity is a Reshape; neither moves a flat index
            continue
        if last is not None:
            return None
        if isinstance(op, SumPool2d) and op.stride == op.kernel and op.padding == (0, 0):
            c, h, w = shp
            (kh, kw), (_, ho, wo) = op.kernel, op.out_shape(shp)
            ok = src >= 0
            ch, rem = np.divmod(np.where(ok, src, 0), h * w)
            y, x = np.divmod(rem, w)
            ok &= (y // kh < ho) & (x // kw < wo)
            src = np.where(ok, (ch * ho + y // kh) * wo + x // kw, -1)
            continue
        last = (op, shp)
    kept = src[src >= 0]
    n_mid = math.prod(shapes[-1]) if last is None else math.prod(last[1])
    per = np.bincount(kept, minlength=n_mid)
    if per.size and np.any(per != per[0]):
        return None
    if last is None:
        return per.astype(np.int64), (src >= 0).astype(np.int64)
    op, shp = last
    fo_mid = np.asarray(op.fan_out(shp), dtype=np.int64).reshape(-1)
    fo = np.where(src >= 0, fo_mid[np.maximum(src, 0)], 0)
    fi = np.asarray(op.fan_in(shp), dtype=np.int64).reshape(-1) * (int(per[0]) if per.size else 0)
    return fi, fo
