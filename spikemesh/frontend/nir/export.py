"""NIR export: an ``ir.Graph`` → ``nir.NIRGraph`` (``to_nir``) or a ``.nir`` file (``save_nir``).

Neurons are written with the inverse of the import's forward-Euler rules (nodes.py), every parameter a
per-neuron array: nir's type inference gives a 0-d parameter the shape ``[]`` and ``nir.write`` cannot compress
0-d arrays. What NIR cannot express is written without it and named in a FrontendWarning.
"""

from __future__ import annotations

import keyword
import os
from typing import Any

import numpy as np

from spikemesh.errors import FrontendError
from spikemesh.frontend.common import unique_name, warn
from spikemesh.ir.graph import Graph, Population, Projection
from spikemesh.ir.operators import AvgPool2d, Conv, Delay, Dense, Identity, Op, Reshape, Scale, SumPool2d


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
            name = unique_name(pr.name if len(nir_ops) == 1 else f"{pr.name}.{k}", taken)
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
