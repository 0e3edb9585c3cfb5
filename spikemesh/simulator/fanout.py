"""Synapse counts per (source neuron, performing core), computed per projection from the partition's geometry —
never from a list of every synapse, so memory grows with neurons, cores and the pairs between them (the cycle
engine's compute load and the energy model's synaptic ops read these counts).

A synapse is a non-zero entry of a projection's matrix (``Graph.projection_csr``; per delay value when a Delay
varies per element, as the fast engine stores them). The core that *performs* it is the core holding the target
neuron, except inside a partial-sum tree (partition/plan.py): there the tree node whose input unit range
(``LogicalCore.inputs``) covers the synapse's source unit (``ProjGeom.unit_of``) stores the weight and integrates the
event (the last such node in partition order; none: the tree's neurons core). Cores without boxes (crossbar array
groups) keep the neuron core.

Per projection and target box (output channels [o0, o1) x rows [r0, r1) x columns [c0, c1) of the ``(C, H, W)``
view) a conv-like projection (``ProjGeom.kind == "conv"``: one conv or pool, or a pool composed with a conv into one
equivalent conv) has ``Σ_{o in box, ky, kx} [w[o, c, ky, kx] != 0] · A_y[ky, y] · A_x[kx, x]`` synapses from source
``(c, y, x)``, with ``A[k, i] = 1`` when an output row of the box reads input row ``i`` through tap ``k``
(``o·s − p + k·d = i``): a contraction of the kernel's non-zero count per (channel, tap) with two 0/1 axis
matrices. Element-wise projections give one synapse per element. Anything else (dense, sparse, flatten → dense,
element-wise factors with zeros, populations whose neuron cores are not boxes) expands that one projection's
matrix: peak memory is one such projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.ir.graph import Graph, Input, Projection
from spikemesh.ir.operators import BatchNorm, Scale
from spikemesh.partition.geometry import ProjGeom, box_flat, box_volume, classify, view_shape
from spikemesh.simulator.arrays import GlobalIndex


@dataclass(frozen=True)
class Layout(GlobalIndex):
    """The global index space of a graph (as ``arrays.FlatGraph`` lays it out): its inputs and populations in
    ``Graph.topological_order()``, each a contiguous range in C order of its shape; ``pop_node``: the node index of
    each population in that order."""

    graph: Graph
    order: tuple[str, ...]
    node_off: np.ndarray
    node_size: np.ndarray
    node_is_input: np.ndarray
    pop_node: np.ndarray

    @staticmethod
    def of(graph: Graph) -> Layout:
        order = tuple(graph.topological_order())
        sizes = np.array([math.prod(graph.shape_of(n)) for n in order], dtype=np.int64)
        offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        is_input = np.array([isinstance(graph.nodes[n], Input) for n in order], dtype=bool)
        pop_node = np.array([i for i, n in enumerate(order) if n in graph.population], dtype=np.int64)
        return Layout(graph, order, offs, sizes, is_input, pop_node)



@dataclass(frozen=True)
class Fanout:
    """Synapse counts (float64 sparse, exact integers). ``into`` [N, n_cores + 1]: from each global source index
    into each performing core, column ``n_cores`` for targets without a core; ``layer`` [N, n_nodes]: into each
    target node (index into the layout's ``order``); ``expanded``: the projections whose matrix was listed (not
    counted from geometry)."""

    into: sp.csr_matrix
    layer: sp.csr_matrix
    expanded: tuple[str, ...] = ()

    @property
    def n_cores(self) -> int:
        return self.into.shape[1] - 1

    @property
    def performed(self) -> sp.csr_matrix:
        """[N, n_cores]: synapses each core performs, per source."""
        return self.into[:, :self.n_cores]

    def out_degree(self) -> np.ndarray:
        """Synapses of each global source index (int64 [N])."""
        return np.asarray(self.layer.sum(axis=1)).ravel().round().astype(np.int64)


def neuron_cores(layout: Any, partition: Any) -> np.ndarray:
    """Core of every global index from a Partition's ``neuron_core`` (-1 for graph inputs streamed from the host;
    with the target feature "input_cores" the inputs have source cores and are in ``neuron_core``)."""
    core = np.full(layout.n, -1, dtype=np.int64)
    for name, arr in partition.neuron_core.items():
        a, b = layout.node_range(name)
        core[a:b] = np.asarray(arr, dtype=np.int64).reshape(-1)
    return core


def explicit_synapses(graph: Graph, pr: Projection) -> tuple[np.ndarray, np.ndarray]:
    """(local source, local target) of every synapse of one projection: its matrix's non-zero entries, one block
    per delay value when a Delay varies per element (a pair reached at two delays counts twice)."""
    d_op = pr.delay_op
    steps = None if d_op is None else np.unique(d_op.steps)
    if steps is None or len(steps) <= 1:
        m = graph.projection_csr(pr).tocoo()
        keep = m.data != 0
        return m.row[keep].astype(np.int64), m.col[keep].astype(np.int64)
    k = pr.ops.index(d_op)
    shapes = graph.chain_shapes(pr)

    def chain(ops: tuple[Any, ...], shape: tuple[int, ...]) -> sp.csr_matrix:
        m = sp.identity(math.prod(shape), format="csr")
        for op in ops:
            m = (m @ op.to_csr(shape)).tocsr()
            shape = op.out_shape(shape)
        return m

    P, Q = chain(pr.ops[:k], shapes[0]), chain(pr.ops[k + 1:], shapes[k])
    d = np.broadcast_to(d_op.steps, shapes[k]).reshape(-1)
    rows, cols = [], []
    for dv in steps:
        m = (P @ sp.diags((d == dv).astype(np.float64)) @ Q).tocoo()
        keep = m.data != 0
        rows.append(m.row[keep].astype(np.int64))
        cols.append(m.col[keep].astype(np.int64))
    return np.concatenate(rows), np.concatenate(cols)


def _factors_nonzero(pr: Projection) -> bool:
    """Every element-wise factor of the chain is non-zero (so the synapses are the conv's non-zero taps)."""
    for op in pr.ops:
        if isinstance(op, Scale) and np.any(np.asarray(op.factor) == 0):
            return False
        if isinstance(op, BatchNorm) and np.any(op.scale_shift()[0] == 0):
            return False
    return True


def _tiled(layer: str, view: tuple[int, int, int], nc: np.ndarray, roots: list[Any]) -> bool:
    """The neurons cores' boxes of ``layer`` tile it exactly as ``neuron_core`` assigns it."""
    if sum(box_volume(b) for c in roots for b in c.boxes[layer]) != nc.size:
        return False
    return all(np.all(nc[box_flat(b, view)] == c.index) for c in roots for b in c.boxes[layer])


class _ConvCounter:
    """Per-box synapse counts of one conv-like projection (see module docstring)."""

    def __init__(self, geo: ProjGeom) -> None:
        conv = geo.conv
        assert conv is not None
        self.geo = geo
        w = np.asarray(conv.weight) != 0
        if w.ndim == 3:  # 1-D conv: the W axis of the view has size 1
            w = w[..., None]
        self.kx = w.shape[3]
        # cumulative non-zero count over output channels: [Cout + 1, cin_g, KY * KX]
        self.cum = np.concatenate([np.zeros((1, *w.shape[1:2], w.shape[2] * w.shape[3]), np.int64),
                                   np.cumsum(w.reshape(w.shape[0], w.shape[1], -1), axis=0, dtype=np.int64)])
        self.axes: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def axis(self, a: int, o0: int, o1: int) -> tuple[np.ndarray, np.ndarray]:
        """Axis ``a``: (distinct input indices read by outputs [o0, o1), 0/1 matrix [taps, indices])."""
        key = (a, o0, o1)
        got = self.axes.get(key)
        if got is None:
            geo, conv = self.geo, self.geo.conv
            assert conv is not None
            idx = geo.axis_counts(a, o0, o1)[0]
            if a >= conv.ndim:
                got = (idx, np.ones((1, len(idx)), dtype=np.float64))
            else:
                k, s, p, d = conv.kernel[a], conv.stride[a], conv.padding[a], conv.dilation[a]
                i = np.arange(o0, o1, dtype=np.int64)[:, None] * s - p + np.arange(k, dtype=np.int64)[None, :] * d
                ok = (i >= 0) & (i < geo.src_view[1 + a])
                mat = np.zeros((k, len(idx)), dtype=np.float64)
                tap = np.broadcast_to(np.arange(k)[None, :], i.shape)[ok]
                np.add.at(mat, (tap, np.searchsorted(idx, i[ok])), 1.0)
                got = (idx, mat)
            self.axes[key] = got
        return got

    def counts(self, b: tuple[int, ...], u0: int, u1: int) -> tuple[np.ndarray, np.ndarray]:
        """(source flat indices, synapses of each into box ``b``) for sources whose unit lies in [u0, u1)."""
        geo = self.geo
        _, sh, sw = geo.src_view
        ca, cb = geo.conv_channels(b)
        if not geo.fine:
            ca, cb = max(ca, u0), min(cb, u1)
        if ca >= cb:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        c = np.arange(ca, cb, dtype=np.int64)
        cin_g, cout_g = geo.cin_g, geo.cout_g
        g = c // cin_g
        lo = np.clip(g * cout_g, b[0], b[1])
        hi = np.clip((g + 1) * cout_g, b[0], b[1])
        n = (self.cum[hi, c % cin_g] - self.cum[lo, c % cin_g]).astype(np.float64)  # [channels, taps]
        rows, ay = self.axis(0, b[2], b[3])
        cols, ax = self.axis(1, b[4], b[5])
        n = n.reshape(len(c), -1, self.kx)
        cnt = np.matmul(ay.T, np.matmul(n, ax))  # [channels, rows, cols]
        src = ((c[:, None, None] * sh + rows[None, :, None]) * sw + cols[None, None, :]).reshape(-1)
        cnt = cnt.reshape(-1)
        keep = cnt > 0
        if geo.fine:
            keep &= (src >= u0) & (src < u1)
        return src[keep], cnt[keep]


def _owners(root: int, nodes: list[Any], proj: str, n_units: int) -> list[tuple[int, int, int]]:
    """Disjoint (u0, u1, performing core) covering [0, n_units): the last tree node whose ``inputs[proj]`` covers a
    unit, else the tree's neurons core ``root``."""
    spans = [(0, n_units, root)] + [(*node.inputs[proj], node.index) for node in nodes if proj in node.inputs]
    cuts = sorted({0, n_units, *(min(max(v, 0), n_units) for s in spans[1:] for v in s[:2])})
    out: list[tuple[int, int, int]] = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if a >= b:
            continue
        owner = next(s[2] for s in reversed(spans) if s[0] <= a and b <= s[1])
        if out and out[-1][2] == owner and out[-1][1] == a:
            out[-1] = (out[-1][0], b, owner)
        else:
            out.append((a, b, owner))
    return out


def _trees(partition: Any) -> dict[int, list[Any]]:
    """Neurons core → the partial-sum cores (with boxes) of its tree, in partition order."""
    by_index = {c.index: c for c in partition.cores}
    out: dict[int, list[Any]] = {}
    for c in partition.cores:
        if c.role != "partial_sum" or not c.boxes:
            continue
        root, seen = c, {c.index}
        while root.role == "partial_sum" and root.merge_into is not None and root.merge_into not in seen:
            seen.add(root.merge_into)
            root = by_index[root.merge_into]
        out.setdefault(root.index, []).append(c)
    return out


def fanout(graph: Graph, layout: Any, partition: Any = None, partial_sums: bool = True) -> Fanout:
    """The synapse counts of ``graph`` over ``layout`` (a ``Layout`` or ``arrays.FlatGraph``). ``partition``: the
    Program's Partition (None: every synapse on core 0). ``partial_sums=False`` charges every synapse to its
    target's neuron core (ignoring partial-sum trees)."""
    n_cores = 1 if partition is None else len(partition.cores)
    index = {n: i for i, n in enumerate(layout.order)}
    trees = _trees(partition) if partition is not None and partial_sums else {}
    roots: dict[str, list[Any]] = {}
    if partition is not None:
        for c in partition.cores:
            if c.role == "neurons":
                for ly, bs in c.boxes.items():
                    if bs:
                        roots.setdefault(ly, []).append(c)
    tiled: dict[str, bool] = {}
    s_l: list[np.ndarray] = []  # (global source, core, synapses)
    c_l: list[np.ndarray] = []
    v_l: list[np.ndarray] = []
    ls_l: list[np.ndarray] = []  # (global source, target node, synapses)
    ln_l: list[np.ndarray] = []
    lv_l: list[np.ndarray] = []
    expanded: list[str] = []
    for pr in graph.projections:
        s0 = layout.node_range(pr.source)[0]
        geo = classify(graph, pr)
        tgt_view = view_shape(graph.shape_of(pr.target))
        whole = (0, tgt_view[0], 0, tgt_view[1], 0, tgt_view[2])
        if partition is None:
            blocks = [(whole, [(0, geo.n_units, 0)])]
        else:
            if pr.target not in tiled:
                nc = np.asarray(partition.neuron_core[pr.target]).reshape(-1)
                tiled[pr.target] = _tiled(pr.target, tgt_view, nc, roots.get(pr.target, []))
            blocks = [] if not tiled[pr.target] else [
                (b, _owners(r.index, trees.get(r.index, []), pr.name, geo.n_units) if r.index in trees
                 else [(0, geo.n_units, r.index)]) for r in roots.get(pr.target, []) for b in r.boxes[pr.target]]
        geometric = tiled.get(pr.target, True) and _factors_nonzero(pr) and (
            geo.kind == "conv" or (geo.kind == "elementwise" and geo.src_view == geo.dst_view))
        srcs, cores, vals = [], [], []
        if geometric and geo.kind == "conv":
            counter = _ConvCounter(geo)
            for b, owners in blocks:
                if geo.fine:
                    full = counter.counts(b, 0, geo.n_units)
                for u0, u1, owner in owners:
                    if geo.fine:
                        m = (full[0] >= u0) & (full[0] < u1)
                        s, v = full[0][m], full[1][m]
                    else:
                        s, v = counter.counts(b, u0, u1)
                    srcs.append(s)
                    vals.append(v)
                    cores.append(np.full(len(s), owner, np.int64))
        elif geometric:  # element-wise: one synapse per element of the box, units are channels
            for b, owners in blocks:
                for u0, u1, owner in owners:
                    lo, hi = max(b[0], u0), min(b[1], u1)
                    if lo < hi:
                        s = box_flat((lo, hi, *b[2:]), geo.src_view)
                        srcs.append(s)
                        vals.append(np.ones(len(s)))
                        cores.append(np.full(len(s), owner, np.int64))
        else:
            row, col = explicit_synapses(graph, pr)
            expanded.append(pr.name)
            srcs.append(row)
            vals.append(np.ones(len(row)))
            cores.append(_explicit_cores(partition, trees, pr, geo, row, col, n_cores))
        n_src = int(math.prod(geo.src_view))
        s = np.concatenate(srcs) if srcs else np.zeros(0, np.int64)
        v = np.concatenate(vals) if vals else np.zeros(0)
        # one entry per (source, core) pair before the next projection (an expanded one lists every synapse)
        pairs = sp.coo_matrix((v, (s, np.concatenate(cores) if cores else s)), shape=(n_src, n_cores + 1))
        pairs.sum_duplicates()
        s_l.append(pairs.row.astype(np.int64) + s0)
        c_l.append(pairs.col.astype(np.int32))
        v_l.append(pairs.data)
        deg = np.bincount(s, weights=v, minlength=n_src)
        del s, v, srcs, cores, vals, pairs
        nz = np.flatnonzero(deg)
        ls_l.append(nz + s0)
        ln_l.append(np.full(len(nz), index[pr.target], np.int64))
        lv_l.append(deg[nz])
    N = layout.n
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))  # noqa: E731
    into = sp.csr_matrix((cat(v_l, np.float64), (cat(s_l, np.int64), cat(c_l, np.int64))), shape=(N, n_cores + 1))
    layer = sp.csr_matrix((cat(lv_l, np.float64), (cat(ls_l, np.int64), cat(ln_l, np.int64))),
                          shape=(N, len(layout.order)))
    return Fanout(into=into, layer=layer, expanded=tuple(expanded))


def _explicit_cores(partition: Any, trees: dict[int, list[Any]], pr: Projection, geo: ProjGeom, row: np.ndarray,
                    col: np.ndarray, n_cores: int) -> np.ndarray:
    """Performing core of each explicit synapse (local source ``row``, local target ``col``); ``n_cores`` for a
    target without a core."""
    if partition is None:
        return np.zeros(len(row), np.int64)
    rt = np.asarray(partition.neuron_core[pr.target], dtype=np.int64).reshape(-1)[col]
    out = np.where(rt >= 0, rt, n_cores)
    if not trees:
        return out
    unit = geo.unit_of(row)
    for r, nodes in trees.items():
        at = np.flatnonzero(rt == r)
        if not len(at):
            continue
        for u0, u1, owner in _owners(r, nodes, pr.name, geo.n_units):
            out[at[(unit[at] >= u0) & (unit[at] < u1)]] = owner
    return out


def out_degree(graph: Graph, layout: Any) -> np.ndarray:
    """Synapses of each global source index (int64 [N])."""
    return fanout(graph, layout).out_degree()
