"""NIR import: a ``.nir`` file or a ``nir.NIRGraph`` → ``ir.Graph`` (``load``).

The graph is flattened (read.py); every neuron node becomes a ``Population`` and every path of operator nodes from
a source (an Input or a neuron) to a neuron or an Output one ``Projection`` whose chain holds those operators
(nodes.py converts each node and states the discretisation rules).
- Recurrence: NIR edges carry no delay, but a cycle through a neuron is meant to read the neuron's output of
  the previous step (snnTorch RLeaky/RSynaptic, nirtorch's stateful execution). Each cycle without an explicit
  Delay node gets ``Delay(1)`` on the edge that closes it in a depth-first walk from the inputs (placed first in
  the projection, so a recurrent bias is present from step 0). A cycle through operators only (no neuron) has
  no state to delay and is an error.
- ``nir.read`` returns nodes alphabetically: the execution order is derived from the edges.
Repairs (each with a FrontendWarning): a batch axis of 1 left in an Input; an Output shape that differs from its
source only by axes of length 1 (such files need ``nir.read(type_check=False)``); a Flatten whose start/end dims
count the batch axis.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import FrontendError, located
from spikemesh.frontend.common import unique_name, warn
from spikemesh.frontend.nir.nodes import flatten_shape, neuron_of, op_of, param_shape
from spikemesh.frontend.nir.read import NEURON_TYPES, OP_TYPES, RawNode, flatten_graph, from_nir_object, read_file
from spikemesh.ir.graph import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import Delay, Dense, Identity, Op, Reshape

DISCRETIZATIONS = ("euler", "exact")
IF_CONVENTIONS = ("auto", "step", "continuous")


class _Importer:
    def __init__(self, root: RawNode, dt: float, discretization: str, if_convention: str, implicit_delay: bool,
                 notes: list[str]) -> None:
        self.dt, self.exact, self.conv = dt, discretization == "exact", if_convention
        self.implicit_delay = implicit_delay
        self.notes = notes
        nodes, edges, ins, outs = flatten_graph(root, "")
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
        self.ops = {n: op_of(self.nodes[n], n, self.dt, self.notes) for n in used}
        order = self._shape_order(paths)
        shapes: dict[str, tuple[int, ...]] = {}
        for i in self.inputs:
            raw = self.nodes[i].params.get("shape")
            if raw is None:
                raise FrontendError("NIR Input node has no shape", node=i, hint="re-export the model")
            shp = checks.number_array(raw, "Input shape", i, FrontendError).reshape(-1)
            shapes[i] = checks.shape(tuple(shp.tolist()), "Input shape", i, FrontendError)
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
                shp = param_shape(node)
                if shp is None:
                    if not out_shapes:
                        raise FrontendError("cannot infer the layer shape (0-d parameters, no sized input)",
                                            node=n, hint="write per-neuron parameter arrays")
                    shp = out_shapes[0]
                shapes[n] = shp
                rep: dict[str, Any] = {"nir_type": node.type}
                neuron = neuron_of(node, n, shp, self.dt, self.exact, self.conv, self.notes, rep)
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
                target = unique_name(f"{n}_readout", names)
                pops.append(Population(target, shp, Neuron("LI", beta=0.0, reset="none")))
                pop_names.add(target)
                layer_report[target] = {"nir_type": "readout of Output (value of its input each step)"}
                outputs.append(Output(n, target))
            for src, ch, ops in chains[n]:
                base = "+".join(ch) if ch else f"{src}->{target}"
                pname = unique_name(base, names)
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
                    out = flatten_shape(cur, start, end)
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
            want = param_shape(self.nodes[sink])
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
    where = str(source) if isinstance(source, str | os.PathLike) else "NIR graph"
    if isinstance(source, (str, os.PathLike)):
        root = read_file(source)
    elif isinstance(source, RawNode):
        root = source
    else:
        with located(where, "malformed NIR graph", FrontendError, hint="check the nir objects"):
            root = from_nir_object(source, notes=notes)
        if root.type != "NIRGraph":
            raise FrontendError("load() needs a NIRGraph or a .nir path", node=type(source).__name__)
    with located(where, "malformed NIR graph", FrontendError, hint="re-export the model"):
        return _Importer(root, float(dt), discretization, if_convention, implicit_delay, notes).build()
