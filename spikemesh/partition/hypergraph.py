"""``hypergraph``: hypergraph partition minimising connectivity (KM1 = Σ over nets of (λ − 1) × weight, λ = blocks a
net touches; Mt-KaHyPar, Gottesbüren et al., ACM TALG 2024), which equals the extra cores a spike must reach.
benchmarks/partition.py compares it with slicing and groups on conv52k.

**Vertices** are *blocks* of a layer's (C, H, W) view — ``bc`` channels × ``bh`` rows × ``bw`` columns (last blocks
smaller), weight = neurons. Block size ``BLOCKS_PER_CORE``-th of a core at most, and neuron-level (1 × 1 × 1) when
the graph is small (at most ``MAX_VERTICES`` neurons); blocks keep the hypergraph small enough for a
seconds-scale Mt-KaHyPar run (conv52k: 49k neurons → 1.5k blocks of 32). Graph inputs come from the host and are not
vertices.

**Nets**: one per source neuron = {its own block (a population neuron)} ∪ every block it synapses onto, weight =
its expected rate (scaled so the largest rate is 100, at least 1). Pins are computed from layer geometry with
NumPy, never per synapse: for a conv, per axis the (input index, output block) pairs of ``o·s − p + t·d`` and per
channel the output-channel blocks of its group, combined as a product; element-wise → the same position's block;
dense → every block of the target; anything else → ``graph.projection_csr`` rows mapped to blocks. Identical nets
(e.g. the channels of one source pixel inside one block) are merged with their weights summed, which leaves KM1
unchanged.

**Layers the hypergraph cannot hold**: on a target with ``"partial_sums"``, a layer one of whose neurons alone
exceeds a core (fan-in over the axon or memory limit) gets the ``groups`` split search (tiles with partial-sum
trees, groups.py) instead — a partial-sum tree's cores are fixed by its tile, and a neuron split over several
cores is not a vertex of a KM1 model. Every other layer is partitioned by the hypergraph. Without partial sums such
a layer is reported as infeasible.

**Solver**: Mt-KaHyPar (optional extra ``partition``: ``pip install 'spikemesh[partition]'``) with the
DETERMINISTIC preset (the only one that gives the same partition for the same seed, measured), ``THREADS``
threads, ``k = ceil(neurons / core neurons)`` blocks each capped at a core's neurons (3 % imbalance allowed, then
repaired); when it is not installed, METIS via pymetis (edge cut of the star expansion: source block → each target
block, weight = rate). With neither, a PartitionError says how to install them.

**Repair**: other limits (axons, synapse memory, entries) are checked exactly per part (block boxes through the
same geometry as every strategy); a part over a limit is split into two halves of its blocks (C-order), a single
block into two halves along its longest axis, until every part fits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph
from spikemesh.partition.build import Draft, core_sources
from spikemesh.partition.geometry import Box, ProjGeom, box_volume
from spikemesh.partition.plan import plan_piece
from spikemesh.partition.resources import LayerProblem, Limits

#: Mt-KaHyPar preset and threads (DETERMINISTIC: same seed → same partition)
PRESET = "DETERMINISTIC"
THREADS = 1
#: a block holds at most this fraction of a core's neurons (room for Mt-KaHyPar to balance parts)
BLOCKS_PER_CORE = 8
#: up to this many neurons the hypergraph stays neuron-level; above, blocks grow so vertices stay near it
MAX_VERTICES = 1500
_INI: Any = None


def _solver() -> str:
    try:
        import mtkahypar  # noqa: F401

        return "mtkahypar"
    except ImportError:
        pass
    try:
        import pymetis  # noqa: F401

        return "pymetis"
    except ImportError:
        return ""


# ----------------------------------------------------------------------------------------------- blocks
def block_shape(view: tuple[int, int, int], size: int) -> tuple[int, int, int]:
    """A block of about ``size`` neurons: a 2x2 spatial patch (when it fits) times channels, grown spatially when
    the channels run out."""
    c, h, w = view
    if size <= 1:
        return (1, 1, 1)
    s = 2 if (h >= 2 and w >= 2 and size >= 8) else 1
    bc = max(1, min(c, size // (s * s)))
    bh = bw = s
    while bc == c and bh * 2 <= h and bw * 2 <= w and bc * bh * bw * 4 <= size:
        bh, bw = bh * 2, bw * 2
    if w == 1 and h > 1 and bc == c:
        bh = max(1, min(h, size // bc))
    return (bc, bh, bw)


class Blocks:
    """The block grid of one layer: id of block (i, j, l) = offset + (i · nh + j) · nw + l."""

    def __init__(self, view: tuple[int, int, int], shape: tuple[int, int, int], offset: int) -> None:
        self.view, self.shape, self.offset = view, shape, offset
        self.n = tuple(-(-view[i] // shape[i]) for i in range(3))
        self.count = self.n[0] * self.n[1] * self.n[2]

    def ids(self, cb: np.ndarray, rb: np.ndarray, wb: np.ndarray) -> np.ndarray:
        return self.offset + (cb * self.n[1] + rb) * self.n[2] + wb

    def of_flat(self, flat: np.ndarray) -> np.ndarray:
        _, h, w = self.view
        c, rem = np.divmod(flat, h * w)
        y, x = np.divmod(rem, w)
        return self.ids(c // self.shape[0], y // self.shape[1], x // self.shape[2])

    def box(self, local: int) -> Box:
        i, rem = divmod(local, self.n[1] * self.n[2])
        j, l_ = divmod(rem, self.n[2])
        c, h, w = self.view
        bc, bh, bw = self.shape
        return (i * bc, min(c, (i + 1) * bc), j * bh, min(h, (j + 1) * bh), l_ * bw, min(w, (l_ + 1) * bw))

    def weights(self) -> np.ndarray:
        out = np.empty(self.count, dtype=np.int64)
        for local in range(self.count):
            out[local] = box_volume(self.box(local))
        return out


def _axis_pairs(n_in: int, n_out: int, k: int, s: int, p: int, d: int, bsize: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (input index, output block) pairs of one conv axis."""
    o = np.arange(n_out, dtype=np.int64)[:, None]
    i = o * s - p + np.arange(k, dtype=np.int64)[None, :] * d
    ok = (i >= 0) & (i < n_in)
    ob = np.broadcast_to(o // bsize, i.shape)[ok]
    nb = -(-n_out // bsize)
    key = np.unique(i[ok] * nb + ob)
    return key // nb, key % nb


def projection_pins(graph: Graph, g: ProjGeom, blk: Blocks) -> tuple[np.ndarray, np.ndarray]:
    """(source flat index, target block id) pairs of projection ``g`` into a hypergraph layer (may repeat)."""
    sc, sh, sw = g.src_view
    if g.kind == "conv":
        conv = g.conv
        assert conv is not None
        pairs = []
        for a in range(2):
            n_in, n_out = g.src_view[1 + a], g.dst_view[1 + a]
            if a < conv.ndim:
                pairs.append(_axis_pairs(n_in, n_out, conv.kernel[a], conv.stride[a], conv.padding[a],
                                         conv.dilation[a], blk.shape[1 + a]))
            else:
                idx = np.arange(n_in, dtype=np.int64)
                pairs.append((idx, idx // blk.shape[1 + a]))
        ci = np.arange(sc, dtype=np.int64)
        grp = ci // g.cin_g
        lo = grp * g.cout_g // blk.shape[0]
        hi = ((grp + 1) * g.cout_g - 1) // blk.shape[0]
        reps = hi - lo + 1
        c_src = np.repeat(ci, reps)
        c_blk = np.repeat(lo, reps) + (np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps))
        (ry, rb), (xw, xb) = pairs
        src = ((c_src[:, None, None] * sh + ry[None, :, None]) * sw + xw[None, None, :]).reshape(-1)
        tgt = blk.ids(c_blk[:, None, None], rb[None, :, None], xb[None, None, :]).reshape(-1)
        return src, tgt
    if g.kind == "elementwise":
        flat = np.arange(sc * sh * sw, dtype=np.int64)
        return flat, blk.of_flat(flat)
    if g.kind == "dense":
        n_src = sc * sh * sw
        ids = blk.offset + np.arange(blk.count, dtype=np.int64)
        return np.repeat(np.arange(n_src, dtype=np.int64), blk.count), np.tile(ids, n_src)
    assert g.csc is not None
    coo = g.csc.tocoo()
    return coo.row.astype(np.int64), blk.of_flat(coo.col.astype(np.int64))


def _dedupe_rows(m: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge identical rows of a boolean CSR (sorted indices), summing their weights (exact for KM1)."""
    lens = np.diff(m.indptr)
    if not len(lens):
        return m, w
    width = int(lens.max())
    if width == 0 or len(lens) * (width + 1) > 60_000_000:
        return m, w
    pad = np.full((len(lens), width + 1), -1, dtype=np.int64)
    pad[:, 0] = lens
    rows = np.repeat(np.arange(len(lens)), lens)
    cols = np.arange(m.nnz) - np.repeat(m.indptr[:-1], lens)
    pad[rows, cols + 1] = m.indices
    uniq, first, inv = np.unique(pad, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # keep the first occurrence order (deterministic, readable)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    inv = rank[np.asarray(inv).reshape(-1)]
    ww = np.bincount(inv, weights=w, minlength=len(order))
    return m[first[order]], ww


# ----------------------------------------------------------------------------------------------- strategy
def hypergraph_drafts(graph: Graph, layers: list[str], geoms: dict[str, list[ProjGeom]],
                      views: dict[str, tuple[int, int, int]], limits: Limits, mean_rate: dict[str, float],
                      rates: dict[str, np.ndarray], seed: int, time_limit: float
                      ) -> tuple[list[Draft], list[LayerProblem], dict[str, Any]]:
    solver = _solver()
    if not solver:
        raise PartitionError("the hypergraph strategy needs Mt-KaHyPar or pymetis", node="hypergraph",
                             hint="pip install 'spikemesh[partition]' (mtkahypar, pymetis), or use --strategy groups")
    # layers with a neuron that fits no core alone: partial-sum trees (groups search) or a problem
    problems: list[LayerProblem] = []
    tree_layers: list[str] = []
    for layer in layers:
        c, h, w = views[layer]
        cands = {(ch, ch + 1, y, y + 1, x, x + 1) for ch in {0, c - 1}
                 for y, x in {(0, 0), (h // 2, w // 2), (h - 1, w - 1)}}
        for box in sorted(cands):
            got = plan_piece(layer, geoms[layer], [box], limits, mean_rate, allow_partial=False)
            if isinstance(got, LayerProblem):
                if limits.partial_sums:
                    tree_layers.append(layer)
                else:
                    problems.append(LayerProblem(got.layer, got.resource, got.needed, got.available,
                                                 "one neuron; no partial sums on this target"))
                break
    if problems:
        return [], problems, {}
    hg_layers = [ly for ly in layers if ly not in tree_layers]
    drafts: list[Draft] = []
    info: dict[str, Any] = {"tree_layers": tree_layers, "hypergraph_layers": hg_layers}
    if tree_layers:
        from spikemesh.partition.groups import EVALS_PER_SECOND, best_split, candidates
        from spikemesh.partition.tiles import GridPlan, grid_drafts

        budget = max(len(tree_layers), int(time_limit * EVALS_PER_SECOND))
        used = 0
        plans: dict[str, GridPlan] = {}
        order = sorted(tree_layers, key=lambda ly: (len(candidates(views[ly], limits.neurons)), layers.index(ly)))
        for li, layer in enumerate(order):  # as groups.py: few candidates first, remaining budget shared
            share = max(1, (budget - used) // (len(order) - li))
            got2, n_eval, _ = best_split(layer, geoms[layer], views[layer], limits, mean_rate, share)
            used += n_eval
            if isinstance(got2, GridPlan):
                plans[layer] = got2
            else:
                problems.append(got2)
        if problems:
            return [], sorted(problems, key=lambda p: layers.index(p.layer)), {}
        for layer in tree_layers:
            drafts.extend(grid_drafts(layer, geoms[layer], views[layer], plans[layer].split, limits, mean_rate,
                                      len(drafts), len(drafts)))
        info["tree_splits"] = {ly: list(plans[ly].split) for ly in tree_layers}
    if hg_layers:
        hd, hinfo = _hypergraph_part(graph, hg_layers, geoms, views, limits, rates, seed, solver, len(drafts))
        drafts.extend(hd)
        info.update(hinfo)
    return drafts, [], {"solver": info}


def _hypergraph_part(graph: Graph, layers: list[str], geoms: dict[str, list[ProjGeom]],
                     views: dict[str, tuple[int, int, int]], limits: Limits, rates: dict[str, np.ndarray],
                     seed: int, solver: str, start: int) -> tuple[list[Draft], dict[str, Any]]:
    sizes = {ly: math.prod(views[ly]) for ly in layers}
    n_neurons = sum(sizes.values())
    size = 1
    if n_neurons > MAX_VERTICES:
        size = max(1, min(limits.neurons // BLOCKS_PER_CORE, -(-n_neurons // MAX_VERTICES)))
        size = 1 << (size.bit_length() - 1)  # a power of two: blocks pack cores of 2^k neurons evenly
    blocks: dict[str, Blocks] = {}
    nv = 0
    for ly in layers:
        blocks[ly] = Blocks(views[ly], block_shape(views[ly], size), nv)
        nv += blocks[ly].count
    vweights = np.concatenate([blocks[ly].weights() for ly in layers])
    # nets: per source node, rows = source neurons, columns = blocks
    sources = [i.name for i in graph.inputs] + [p.name for p in graph.populations]
    mats: list[sp.csr_matrix] = []
    ws: list[np.ndarray] = []
    rmax = max((float(rates[s].max()) for s in sources if len(rates[s])), default=1.0) or 1.0
    inset = set(layers)
    for src in sources:
        outs = [geo for ly in layers for geo in geoms[ly] if geo.source == src]
        if not outs:
            continue
        n_src = math.prod(graph.shape_of(src))
        rows, cols = [], []
        for geo in outs:
            r_, c_ = projection_pins(graph, geo, blocks[geo.target])
            rows.append(r_)
            cols.append(c_)
        if src in inset:
            flat = np.arange(n_src, dtype=np.int64)
            rows.append(flat)
            cols.append(blocks[src].of_flat(flat))
        rr, cc = np.concatenate(rows), np.concatenate(cols)
        m = sp.csr_matrix((np.ones(len(rr), dtype=np.int8), (rr, cc)), shape=(n_src, nv))
        m.sum_duplicates()
        m.sort_indices()
        w = rates[src] / rmax * 100.0
        keep = (np.diff(m.indptr) >= 2) & (w > 0)
        m, w = _dedupe_rows(m[np.flatnonzero(keep)], w[keep])
        mats.append(m)
        ws.append(w)
    H = sp.vstack(mats, format="csr") if mats else sp.csr_matrix((0, nv))
    w = np.concatenate(ws) if ws else np.zeros(0)
    wi = np.maximum(1, np.round(w)).astype(np.int64)
    k = max(1, math.ceil(n_neurons / limits.neurons))
    objective: dict[str, Any] = {}
    part = np.zeros(nv, dtype=np.int64)
    if k > 1 and solver == "mtkahypar":
        import mtkahypar

        global _INI
        mtkahypar.set_seed(int(seed))
        if _INI is None:  # Mt-KaHyPar may be initialised once per process
            _INI = mtkahypar.initialize(THREADS)
        ctx = _INI.context_from_preset(getattr(mtkahypar.PresetType, PRESET))
        ctx.logging = False
        ctx.set_partitioning_parameters(k, 0.03, mtkahypar.Objective.KM1)
        ctx.set_individual_target_block_weights([limits.neurons] * k)
        edges = np.split(H.indices.astype(np.int64), H.indptr[1:-1]) if H.shape[0] else []
        hg = _INI.create_hypergraph(ctx, nv, len(edges), edges, vweights.tolist(), wi.tolist())
        ph = hg.partition(ctx)
        part = np.array(ph.get_partition(), dtype=np.int64)
        objective = {"km1": int(ph.km1())}
    elif k > 1:
        import pymetis

        # star expansion: the net's first pin (the source's own block, or its first target) - every other pin
        Hc = H.tocoo()
        first = H.indices[H.indptr[:-1]]
        A = sp.csr_matrix((wi[Hc.row], (first[Hc.row], Hc.col)), shape=(nv, nv))
        A = A + A.T
        A.setdiag(0)
        A.eliminate_zeros()
        opts = pymetis.Options(ufactor=30, seed=int(seed))
        _, membership = pymetis.part_graph(k, adjacency=pymetis.CSRAdjacency(A.indptr, A.indices),
                                           vweights=vweights.tolist(), eweights=A.data.astype(np.int64),
                                           options=opts)
        part = np.asarray(membership, dtype=np.int64)
    # parts → pieces; repair every part over a limit
    owner = np.concatenate([np.full(blocks[ly].count, i) for i, ly in enumerate(layers)])
    order = np.argsort(part, kind="stable")
    cuts = np.flatnonzero(np.diff(part[order])) + 1
    drafts: list[Draft] = []
    repaired = 0

    def pieces_of(items: list[tuple[int, Box]]) -> list[tuple[str, Box]]:
        return [(layers[li], b) for li, b in items]

    stack: list[list[tuple[int, Box]]] = []
    for grp in reversed(np.split(order, cuts)):
        if len(grp):
            stack.append([(int(owner[v]), blocks[layers[owner[v]]].box(int(v) - blocks[layers[owner[v]]].offset))
                          for v in sorted(grp.tolist())])
    while stack:
        items = stack.pop()
        pieces = pieces_of(items)
        if _fits(pieces, geoms, limits):
            drafts.append(Draft("neurons", pieces, None, None, start + len(drafts)))
            continue
        repaired += 1
        if len(items) > 1:
            half = len(items) // 2
            stack.append(items[half:])
            stack.append(items[:half])
            continue
        li, b = items[0]
        if box_volume(b) == 1:
            raise PartitionError("internal: one neuron does not fit a core", node=layers[li])
        ax = int(np.argmax([b[1] - b[0], b[3] - b[2], b[5] - b[4]]))
        mid = (b[2 * ax] + b[2 * ax + 1]) // 2
        lo_b, hi_b = list(b), list(b)
        lo_b[2 * ax + 1] = mid
        hi_b[2 * ax] = mid
        stack.append([(li, tuple(hi_b))])  # type: ignore[list-item]
        stack.append([(li, tuple(lo_b))])  # type: ignore[list-item]
    info = {"partitioner": f"Mt-KaHyPar KM1 ({PRESET} preset, {THREADS} thread)" if solver == "mtkahypar"
            else "METIS (pymetis) edge cut, star expansion",
            "k": k, "vertices": int(nv), "block_neurons": int(size),
            "blocks": {ly: list(blocks[ly].shape) for ly in layers},
            "hyperedges": int(H.shape[0]), "pins": int(H.nnz), "repaired_splits": repaired,
            **objective}
    return drafts, info


def _fits(pieces: list[tuple[str, Box]], geoms: dict[str, list[ProjGeom]], limits: Limits) -> bool:
    """Exact check of one part against every limit."""
    vol = sum(box_volume(b) for _, b in pieces)
    if vol > limits.neurons or (limits.neuron_entries is not None and vol > limits.neuron_entries):
        return False
    if limits.bias_entries is not None and sum(b[1] - b[0] for _, b in pieces) > limits.bias_entries:
        return False
    sets, _, bits, kern = core_sources(Draft("neurons", pieces), geoms, limits)
    if sum(len(v) for v in sets.values()) > limits.axons or bits > limits.synapse_bits:
        return False
    return limits.kernel_entries is None or kern <= limits.kernel_entries
