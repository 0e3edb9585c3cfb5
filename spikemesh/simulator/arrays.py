"""(Slightly over 400 lines: the flat layout and its builder, with the explicit synapse table built on demand.)

Flatten a Graph once into flat arrays for the Numba engines: one global neuron index space, parameters per
population, the explicit synapses of Dense / Sparse projections as a CSR over source neurons, and every other
projection (convolution, pooling, element-wise) as implicit stages (implicit.py), so memory grows with weights.

Global index space: the graph's inputs and populations in ``Graph.topological_order()``, each a contiguous
range ``[offset, offset + size)`` in C order of its shape. A projection chain is affine (docs/semantics.md §4):
its linear part is ``Graph.projection_csr`` (split at the Delay op when delays vary per element) and its constant
part (biases) is the chain applied to zeros; a bias computed before the Delay only switches on at step ``d``,
so constants are stored as a ramp ``bias[s]`` for ``s = min(t, D)`` with ``D`` the largest delay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.errors import GraphError
from spikemesh.ir.graph import Graph, Input, Projection
from spikemesh.ir.neurons import DECAY_SHIFT
from spikemesh.ir.operators import Op, Shape
from spikemesh.ir.reference import apply_ops, decay_q, require_int
from spikemesh.simulator.implicit import Chain, build_chain, chain_degrees, is_explicit

#: neuron parameters stored per input slot (the others per neuron), and the dtypes that do not follow the mode
SLOT_PARAMS = ("alpha", "alpha_k", "syn_gain")
PAR_DTYPES = {"beta": np.float64, "alpha": np.float64, "beta_k": np.int64, "alpha_k": np.int64}
RESET_CODES = {"zero": 0, "subtract": 1, "none": 2}
#: stand-in for an absent integer bound (the int64 state never reaches it)
INT_BIG = np.int64(2**62)


class GlobalIndex:
    """The global index space of a graph's nodes (``order``, ``node_off``, ``node_size``, ``pop_node``): its size,
    a node's range, the populations in execution order. Shared by ``FlatGraph`` and ``fanout.Layout``."""

    order: tuple[str, ...]
    node_off: np.ndarray
    node_size: np.ndarray
    pop_node: np.ndarray

    @property
    def n(self) -> int:
        return int(self.node_off[-1] + self.node_size[-1]) if len(self.node_off) else 0

    def node_range(self, name: str) -> tuple[int, int]:
        k = self.order.index(name)
        return int(self.node_off[k]), int(self.node_off[k] + self.node_size[k])

    @property
    def populations(self) -> list[str]:
        return [self.order[k] for k in self.pop_node]


@dataclass(frozen=True)
class FlatGraph(GlobalIndex):
    """A Graph as flat arrays. ``integer`` selects int64 (int mode) or float64 values.

    Nodes (index = position in ``order``): ``node_off``/``node_size`` ranges, ``node_is_input``.
    Populations (index into the ``pop_*`` arrays, in execution order): node id, flags ``spiking``,
    ``has_current``, ``reset`` (0 zero, 1 subtract, 2 none), ``after`` (reset_timing after_decay), ``strict``
    (comparison ">"), ``refractory`` (steps), ``lo``/``hi`` state bounds.
    Parameters (``par``: ``beta``/``alpha`` float, ``beta_k``/``alpha_k`` int with β = k / 2**12, ``gain``,
    ``syn_gain``, ``leak``, ``threshold``, ``v_reset``) per population: a uniform population (``pop_uniform``)
    stores one value (one per port for the slot parameters alpha, alpha_k, syn_gain), the others one per neuron
    (per port and neuron), from ``pop_par`` (neuron parameters) / ``pop_spar`` (slot parameters); ``beta`` ...
    ``v_reset`` expand them per neuron (per slot) on demand.
    Synapses: explicit projections (``explicit``, implicit.is_explicit) as a CSR over global source neurons
    ``ex_indptr`` [N + 1], ``ex_slot`` (input slot), ``ex_weight``, ``ex_delay`` (steps); implicit ones as
    ``chains`` (projection index, implicit.Chain). ``indptr``/``target``/``slot``/``weight``/``delay``/``proj``
    give every synapse of every projection (built on first use; the fast engine never builds them) and
    ``out_degree`` the synapses per source without building them. ``bias`` [D + 1, n_slots] constant input per
    step ``min(t, D)`` (zero columns when no projection has a bias).

    Input slots (multi-port neurons, ``Neuron.ports`` > 1): a synapse delivers into ``slot`` (the kernels' index
    into the pending-input ring and the synaptic currents, ``n_slots`` long). Port 0 of neuron g is slot g; port
    k >= 1 of local neuron l of population p is slot ``pop_port_off[p] + (k - 1) * size + l`` (after the N neuron
    slots). Without multi-port populations ``n_slots == N`` and ``slot`` is ``target``. ``pop_ports`` [P] holds
    the port counts.
    """

    graph: Graph
    integer: bool
    order: tuple[str, ...]
    node_off: np.ndarray
    node_size: np.ndarray
    node_is_input: np.ndarray
    pop_node: np.ndarray
    pop_spiking: np.ndarray
    pop_current: np.ndarray
    pop_reset: np.ndarray
    pop_after: np.ndarray
    pop_strict: np.ndarray
    pop_refractory: np.ndarray
    pop_lo: np.ndarray
    pop_hi: np.ndarray
    pop_par: np.ndarray
    pop_spar: np.ndarray
    pop_uniform: np.ndarray
    par: dict[str, np.ndarray]
    ex_indptr: np.ndarray
    ex_slot: np.ndarray
    ex_weight: np.ndarray
    ex_delay: np.ndarray
    explicit: tuple[int, ...]
    chains: tuple[tuple[int, Chain], ...]
    proj_names: tuple[str, ...]
    bias: np.ndarray
    has_bias: bool
    max_delay: int
    pop_ports: np.ndarray
    pop_port_off: np.ndarray
    n_slots: int
    layout: tuple[Any, ...] = field(repr=False, default=())
    _cache: dict[str, Any] = field(repr=False, default_factory=dict)

    def _full(self) -> tuple[np.ndarray, ...]:
        hit = self._cache.get("csr")
        if hit is None:
            hit = _synapse_csr(self.graph, tuple(range(len(self.graph.projections))), self.layout)
            self._cache["csr"] = hit
        return hit

    @property
    def indptr(self) -> np.ndarray:
        """Every synapse as a CSR over global sources (built on first use; the fast engine does not use it)."""
        return self._full()[0]

    @property
    def target(self) -> np.ndarray:
        return self._full()[1]

    @property
    def slot(self) -> np.ndarray:
        return self._full()[2]

    @property
    def weight(self) -> np.ndarray:
        return self._full()[3]

    @property
    def delay(self) -> np.ndarray:
        return self._full()[4]

    @property
    def proj(self) -> np.ndarray:
        return self._full()[5]

    def expanded(self, key: str) -> np.ndarray:
        """Parameter ``key`` of ``par`` per neuron [N] (per input slot [n_slots] for alpha, alpha_k, syn_gain)."""
        src = self.par[key]
        slot = key in SLOT_PARAMS
        out = np.zeros(self.n_slots if slot else self.n, dtype=src.dtype)
        for p, node in enumerate(self.pop_node):
            a, n, uni = int(self.node_off[node]), int(self.node_size[node]), bool(self.pop_uniform[p])
            if not slot:
                b0 = int(self.pop_par[p])
                out[a:a + n] = src[b0] if uni else src[b0:b0 + n]
                continue
            for port in range(int(self.pop_ports[p])):
                s0 = a if port == 0 else int(self.pop_port_off[p]) + (port - 1) * n
                b0 = int(self.pop_spar[p]) + port * (1 if uni else n)
                out[s0:s0 + n] = src[b0] if uni else src[b0:b0 + n]
        return out

    beta = property(lambda self: self.expanded("beta"))
    alpha = property(lambda self: self.expanded("alpha"))
    beta_k = property(lambda self: self.expanded("beta_k"))
    alpha_k = property(lambda self: self.expanded("alpha_k"))
    gain = property(lambda self: self.expanded("gain"))
    syn_gain = property(lambda self: self.expanded("syn_gain"))
    leak = property(lambda self: self.expanded("leak"))
    threshold = property(lambda self: self.expanded("threshold"))
    v_reset = property(lambda self: self.expanded("v_reset"))

    @property
    def out_degree(self) -> np.ndarray:
        """Synapses (non-zero weights) per global source index, int64 [N], without building the full CSR."""
        hit = self._cache.get("out_degree")
        if hit is None:
            hit = np.diff(self.ex_indptr)
            for pi, od in chain_degrees(self):
                a = int(self.node_off[self.order.index(self.graph.projections[pi].source)])
                hit[a:a + len(od)] += od
            self._cache["out_degree"] = hit
        return hit

    @property
    def dtype(self) -> type:
        return np.int64 if self.integer else np.float64


def _chain_csr(ops: tuple[Op, ...], shape: Shape) -> tuple[sp.csr_matrix, Shape]:
    """Linear part of a delay-free op chain as a CSR ``[n_in, n_out]`` and the output shape."""
    m: sp.csr_matrix | None = None
    for op in ops:
        c = op.to_csr(shape)
        m = c if m is None else (m @ c).tocsr()
        shape = op.out_shape(shape)
    if m is None:
        m = sp.identity(math.prod(shape), format="csr")
    return sp.csr_matrix(m), shape


def _bias_ramp(graph: Graph, pr: Projection, integer: bool, max_delay: int) -> np.ndarray:
    """The chain's constant part per step ``min(t, max_delay)``: ``[max_delay + 1, n_tgt]`` (a bias computed before
    a Delay switches on once the delay has elapsed, element by element)."""
    src_shape = graph.shape_of(pr.source)
    n_tgt = graph.population[pr.target].size
    dtype = np.int64 if integer else np.float64
    zero = np.zeros((1, *src_shape), dtype=dtype)
    d_op = pr.delay_op
    if d_op is None:
        const = apply_ops(pr.ops, zero).reshape(-1)
        return np.array(np.broadcast_to(const, (max_delay + 1, n_tgt)))
    k = pr.ops.index(d_op)
    pre, post = pr.ops[:k], pr.ops[k + 1:]
    pre_bias = apply_ops(pre, zero)
    mid_shape = pre_bias.shape[1:]
    pre_bias = pre_bias.reshape(-1)
    d = np.broadcast_to(d_op.steps, mid_shape).reshape(-1)
    ramp = np.empty((max_delay + 1, n_tgt), dtype=dtype)
    for s in range(max_delay + 1):
        mid = np.where(d <= s, pre_bias, 0).astype(dtype).reshape((1, *mid_shape))
        ramp[s] = apply_ops(post, mid).reshape(-1)
    return ramp


def _projection_parts(graph: Graph, pr: Projection, integer: bool, max_delay: int
                      ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], np.ndarray]:
    """Synapse blocks ``(src, tgt, weight, delay)`` (local indices) and the bias ramp ``[max_delay + 1, n_tgt]``."""
    src_shape = graph.shape_of(pr.source)
    d_op = pr.delay_op
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []
    ramp = _bias_ramp(graph, pr, integer, max_delay)
    if d_op is None:
        coo = graph.projection_csr(pr).tocoo()
        blocks.append((coo.row, coo.col, coo.data, 0))
        return blocks, ramp
    k = pr.ops.index(d_op)
    pre, post = pr.ops[:k], pr.ops[k + 1:]
    P, mid_shape = _chain_csr(pre, src_shape)
    d = np.broadcast_to(d_op.steps, mid_shape).reshape(-1)
    Q, _ = _chain_csr(post, mid_shape)
    uniq = np.unique(d)
    if len(uniq) == 1:  # one delay for every element: no masking (saves two sparse copies on big graphs)
        m = (P if not post else P @ Q).tocoo()
        blocks.append((m.row, m.col, m.data, int(uniq[0])))
    for dv in (uniq if len(uniq) > 1 else ()):
        mask = (d == dv).astype(np.float64)
        m = (P @ sp.diags(mask) @ Q).tocoo()
        blocks.append((m.row, m.col, m.data, int(dv)))
    return blocks, ramp


#: public name of ``_projection_parts`` (read by the mesh configuration's emitter and verifier)
projection_parts = _projection_parts


def _cat(xs: list[np.ndarray], dt: type) -> np.ndarray:
    return np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt)


def flatten(graph: Graph, integer: bool) -> FlatGraph:
    """Build the flat arrays of ``graph`` (vectorised; no per-synapse Python loop). Int mode checks that
    weights, biases and neuron parameters are integers and decays lie on the k/2**12 grid (GraphError)."""
    order = tuple(graph.topological_order())
    sizes = np.array([math.prod(graph.shape_of(n)) for n in order], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    N = int(sizes.sum())
    is_input = np.array([isinstance(graph.nodes[n], Input) for n in order], dtype=np.bool_)
    index = {n: i for i, n in enumerate(order)}
    dtype = np.int64 if integer else np.float64
    pnames = [n for n in order if n in graph.population]
    P = len(pnames)
    pop_node = np.array([index[n] for n in pnames], dtype=np.int64)
    f = {k: np.zeros(P, dtype=np.int64) for k in ("spiking", "current", "reset", "after", "strict", "refractory")}
    lo = np.zeros(P, dtype=dtype)
    hi = np.zeros(P, dtype=dtype)
    ports = np.array([graph.population[n].neuron.ports for n in pnames], dtype=np.int64)
    extra = ports - 1
    extra *= np.array([graph.population[n].size for n in pnames], dtype=np.int64)
    port_off = N + np.concatenate([[0], np.cumsum(extra)[:-1]]).astype(np.int64) if P else np.zeros(0, np.int64)
    n_slots = N + int(extra.sum())
    # parameters per population: one value (uniform population) or one per neuron (per slot for alpha/syn_gain)
    npar: dict[str, list[np.ndarray]] = {k: [] for k in ("beta", "gain", "leak", "threshold", "v_reset", "beta_k")}
    spar: dict[str, list[np.ndarray]] = {k: [] for k in ("alpha", "syn_gain", "alpha_k")}
    pop_par = np.zeros(P, dtype=np.int64)
    pop_spar = np.zeros(P, dtype=np.int64)
    pop_uniform = np.zeros(P, dtype=np.int64)
    n_np = n_sp = 0
    for p, name in enumerate(pnames):
        pop = graph.population[name]
        nrn = pop.neuron
        f["spiking"][p] = nrn.spiking
        f["current"][p] = nrn.has_current
        f["reset"][p] = RESET_CODES[nrn.reset]
        f["after"][p] = nrn.reset_timing == "after_decay"
        f["strict"][p] = nrn.comparison == ">"
        f["refractory"][p] = nrn.refractory
        views = {k: [nrn.port_param(k, pop.shape, port) for port in range(nrn.ports if k in spar else 1)]
                 for k in ("beta", "alpha", "gain", "syn_gain", "leak", "threshold", "v_reset")}
        uni = all(bool(np.all(v == v.flat[0])) for vs in views.values() for v in vs)
        pop_uniform[p], pop_par[p], pop_spar[p] = uni, n_np, n_sp
        for k, vs in views.items():
            arrs = [np.array(v.flat[0:1] if uni else v.reshape(-1), dtype=np.float64) for v in vs]
            if integer and k not in ("beta", "alpha"):
                arrs = [require_int(x, f"neuron parameter {k}", name) for x in arrs]
            (spar if k in spar else npar)[k].extend(arrs)
            if integer and k == "beta":
                npar["beta_k"].append(decay_q(arrs[0], name))
            elif k == "beta":
                npar["beta_k"].append(np.zeros(len(arrs[0]), dtype=np.int64))
            if k == "alpha":
                spar["alpha_k"].extend(decay_q(x, name) if integer and nrn.has_current else
                                       np.zeros(len(x), dtype=np.int64) for x in arrs)
        n_np += 1 if uni else pop.size
        n_sp += nrn.ports * (1 if uni else pop.size)
        l_, h_ = nrn.state_bounds()
        if integer:
            lo[p] = -INT_BIG if l_ == -np.inf else math.ceil(l_)
            hi[p] = INT_BIG if h_ == np.inf else math.floor(h_)
        else:
            lo[p], hi[p] = l_, h_
    max_delay = max((pr.max_delay for pr in graph.projections), default=0)
    bias = np.zeros((max_delay + 1, n_slots), dtype=dtype)
    pop_index = {n: p for p, n in enumerate(pnames)}
    first_slot = {}
    chains = []
    for pi, pr in enumerate(graph.projections):
        t0 = int(offs[index[pr.target]])
        # first input slot of the projection's port (port 0: the target neurons themselves)
        first_slot[pi] = t0 if pr.port == 0 else (int(port_off[pop_index[pr.target]])
                                                   + (pr.port - 1) * int(sizes[index[pr.target]]))
        try:
            ramp = _bias_ramp(graph, pr, integer, max_delay)
            if integer:
                ramp = require_int(np.asarray(ramp), "bias", pr.name)
            if not is_explicit(pr):
                chains.append((pi, build_chain(graph, pr, integer)))
        except GraphError as e:
            if e.node is not None:
                raise
            raise GraphError(str(e), node=pr.name) from None
        q0 = first_slot[pi]
        bias[:, q0:q0 + ramp.shape[1]] += ramp
    explicit = tuple(pi for pi, pr in enumerate(graph.projections) if is_explicit(pr))
    layout = (offs, index, first_slot, N, n_slots, integer)
    ex = _synapse_csr(graph, explicit, layout)
    has_bias = bool(np.any(bias != 0))
    return FlatGraph(
        graph=graph, integer=integer, order=order, node_off=offs, node_size=sizes, node_is_input=is_input,
        pop_node=pop_node, pop_spiking=f["spiking"], pop_current=f["current"], pop_reset=f["reset"],
        pop_after=f["after"], pop_strict=f["strict"], pop_refractory=f["refractory"], pop_lo=lo, pop_hi=hi,
        pop_par=pop_par, pop_spar=pop_spar, pop_uniform=pop_uniform,
        par={k: np.concatenate(v).astype(PAR_DTYPES.get(k, dtype)) if v else np.zeros(1, PAR_DTYPES.get(k, dtype))
             for k, v in {**npar, **spar}.items()},
        ex_indptr=ex[0], ex_slot=ex[2], ex_weight=ex[3], ex_delay=ex[4], explicit=explicit,
        chains=tuple(chains), proj_names=tuple(pr.name for pr in graph.projections),
        bias=bias if has_bias else np.zeros((max_delay + 1, 0), dtype=dtype), has_bias=has_bias,
        max_delay=max_delay, pop_ports=ports, pop_port_off=port_off, n_slots=n_slots, layout=layout,
    )


def _synapse_csr(graph: Graph, projections: tuple[int, ...], layout: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
    """The source-major CSR ``(indptr, target, slot, weight, delay, proj)`` of the given projections' synapses
    (global indices; zero weights dropped). Int mode requires integer weights (GraphError)."""
    offs, index, first_slot, N, n_slots, integer = layout
    dtype = np.int64 if integer else np.float64
    max_delay = max((pr.max_delay for pr in graph.projections), default=0)
    srcs, tgts, slots, ws, ds, pis = [], [], [], [], [], []
    proj_dtype = np.int16 if len(graph.projections) < 2**15 else np.int32
    for pi in projections:
        pr = graph.projections[pi]
        try:
            blocks, _ = _projection_parts(graph, pr, integer, max_delay)
        except GraphError as e:
            if e.node is not None:
                raise
            raise GraphError(str(e), node=pr.name) from None
        s0, t0, q0 = int(offs[index[pr.source]]), int(offs[index[pr.target]]), first_slot[pi]
        for r, c, w, dv in blocks:
            keep = w != 0
            w = w[keep]
            if integer:
                w = require_int(w, "synaptic weight", pr.name)
            c = c[keep].astype(np.int32)
            srcs.append(r[keep].astype(np.int32) + np.int32(s0))
            tgts.append(c + np.int32(t0))
            if n_slots != N:
                slots.append(c + np.int32(q0))
            ws.append(w.astype(dtype))
            ds.append(np.full(int(keep.sum()), dv, dtype=np.int32))
            pis.append(np.full(int(keep.sum()), pi, dtype=proj_dtype))
    src = _cat(srcs, np.int32)
    del srcs
    perm = np.argsort(src, kind="stable")
    indptr = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=N), out=indptr[1:])
    target = _cat(tgts, np.int32)[perm]
    slot = target if n_slots == N else _cat(slots, np.int32)[perm]
    return indptr, target, slot, _cat(ws, dtype)[perm], _cat(ds, np.int32)[perm], _cat(pis, proj_dtype)[perm]


assert DECAY_SHIFT == 12  # the kernels divide by 4096 (docs/semantics.md §3)
