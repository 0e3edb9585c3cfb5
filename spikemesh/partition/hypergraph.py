"""``hypergraph``: neuron-level hypergraph partition minimising connectivity (KM1), the objective that equals "extra
cores a spike must reach" (mapping.md §6; §7 measured KM1 −20.5 % copies vs slicing on conv52k).

One hyperedge per source neuron = {the neuron (when it is a population neuron)} ∪ every neuron it synapses onto,
weighted by its expected rate (integer weights: rate scaled so the largest is 100, at least 1). Vertices are
population neurons (graph inputs come from the host and are not vertices), weight 1; block sizes are capped at
the core's neuron limit. Solver: **Mt-KaHyPar** (optional extra ``partition``:
``pip install spikemesh[partition]``) with the DETERMINISTIC preset and the given seed; when it is not
installed, **METIS** via pymetis (edge cut of the star expansion: source → each target, weight = rate), also
from the extra. With neither, a PartitionError says how to install them.

Other limits (axons, synapse memory) are checked exactly after partitioning and every block over a limit is
repaired by splitting it in two (C-order halves) until it fits. The hypergraph strategy holds whole neurons per
core; it does not make partial sums, so a neuron whose fan-in exceeds a core fails with the usual error.
Neuron-level hyperedges come from ``graph.projection_csr``; graphs with more than ``MAX_PINS`` pins are refused
(use ``groups``, which reasons at tile level).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph
from spikemesh.partition.build import Draft, core_sources
from spikemesh.partition.geometry import Box, ProjGeom, flat_range_boxes
from spikemesh.partition.plan import plan_piece
from spikemesh.partition.resources import LayerProblem, Limits

MAX_PINS = 30_000_000
#: Mt-KaHyPar preset and threads: only the DETERMINISTIC preset gives the same partition for the same seed (DEFAULT
#: differs run to run even on one thread, measured); it is slow — about 3 minutes on conv52k on this 2-core machine
PRESET = "DETERMINISTIC"
THREADS = 2
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


def _blocks_to_pieces(members: np.ndarray, offsets: dict[str, int], order: list[str], sizes: dict[str, int],
                      views: dict[str, tuple[int, int, int]]) -> list[tuple[str, Box]]:
    """Global vertex ids (sorted) → (layer, box) pieces: maximal C-order runs as boxes."""
    pieces: list[tuple[str, Box]] = []
    for layer in order:
        lo, hi = offsets[layer], offsets[layer] + sizes[layer]
        sel = members[(members >= lo) & (members < hi)] - lo
        if not len(sel):
            continue
        cut = np.flatnonzero(np.diff(sel) != 1) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [len(sel)]])
        for s, e in zip(starts, ends):
            pieces.extend((layer, b) for b in flat_range_boxes(int(sel[s]), int(sel[e - 1]) + 1, views[layer]))
    return pieces


def hypergraph_drafts(graph: Graph, layers: list[str], geoms: dict[str, list[ProjGeom]],
                      views: dict[str, tuple[int, int, int]], limits: Limits, mean_rate: dict[str, float],
                      rates: dict[str, np.ndarray], seed: int, time_limit: float
                      ) -> tuple[list[Draft], list[LayerProblem], dict[str, Any]]:
    t0 = time.perf_counter()
    solver = _solver()
    if not solver:
        raise PartitionError("the hypergraph strategy needs Mt-KaHyPar or pymetis", node="hypergraph",
                             hint="pip install 'spikemesh[partition]' (mtkahypar, pymetis), or use --strategy groups")
    # every single neuron must fit a core on its own (no partial sums here)
    problems = []
    for layer in layers:
        c, h, w = views[layer]
        for box in {(0, 1, 0, 1, 0, 1), (c - 1, c, h // 2, h // 2 + 1, w // 2, w // 2 + 1)}:
            got = plan_piece(layer, geoms[layer], [box], limits, mean_rate, allow_partial=False)
            if isinstance(got, LayerProblem):
                problems.append(LayerProblem(got.layer, got.resource, got.needed, got.available,
                                             "one neuron; the hypergraph strategy makes no partial sums"))
                break
    if problems:
        return [], problems, {}
    sizes = {p.name: p.size for p in graph.populations}
    offsets: dict[str, int] = {}
    n = 0
    for layer in layers:
        offsets[layer] = n
        n += sizes[layer]
    pins = sum(g.counts((0, g.dst_view[0], 0, g.dst_view[1], 0, g.dst_view[2]), 0, g.n_units)[0]
               for gs in geoms.values() for g in gs)
    if pins > MAX_PINS:
        raise PartitionError("graph too large for a neuron-level hypergraph", node="hypergraph", needed=f"{pins} pins",
                             available=f"<= {MAX_PINS}", hint="use --strategy groups (tile-level optimiser)")
    sources = [i.name for i in graph.inputs] + layers
    nets: list[sp.csr_matrix] = []
    net_w: list[np.ndarray] = []
    for src in sources:
        outs = graph.outgoing(src)
        if not outs:
            continue
        n_src = math.prod(graph.shape_of(src))
        m = sp.csr_matrix((n_src, n), dtype=np.int8)
        for proj in outs:
            c = graph.projection_csr(proj, structure=True).tocoo()
            m = m + sp.csr_matrix((np.ones(c.nnz, np.int8), (c.row, c.col + offsets[proj.target])), shape=(n_src, n))
        if src in offsets:
            m = m + sp.csr_matrix((np.ones(n_src, np.int8), (np.arange(n_src), np.arange(n_src) + offsets[src])),
                                  shape=(n_src, n))
        m = (m != 0).tocsr()
        m.sort_indices()
        nets.append(m)
        net_w.append(rates[src])
    H = sp.vstack(nets, format="csr") if nets else sp.csr_matrix((0, n))
    w = np.concatenate(net_w) if net_w else np.zeros(0)
    keep = np.diff(H.indptr) >= 2
    H = H[keep]
    w = w[keep]
    wmax = float(w.max()) if len(w) and w.max() > 0 else 1.0
    wi = np.maximum(1, np.round(w / wmax * 100)).astype(np.int64)
    k = max(1, math.ceil(n / limits.neurons))
    if solver == "mtkahypar":
        import mtkahypar

        global _INI
        mtkahypar.set_seed(int(seed))
        if _INI is None:  # Mt-KaHyPar may be initialised once per process
            _INI = mtkahypar.initialize(THREADS)
        ini = _INI
        ctx = ini.context_from_preset(getattr(mtkahypar.PresetType, PRESET))
        ctx.logging = False
        block = np.zeros(n, dtype=np.int64)
        if k > 1:
            ctx.set_partitioning_parameters(k, 0.03, mtkahypar.Objective.KM1)
            ctx.set_individual_target_block_weights([limits.neurons] * k)
            edges = np.split(H.indices.astype(np.int64), H.indptr[1:-1])
            hg = ini.create_hypergraph(ctx, n, len(edges), edges, [1] * n, wi.tolist())
            ph = hg.partition(ctx)
            block = np.array(ph.get_partition(), dtype=np.int64)
            objective = {"km1": int(ph.km1())}
        else:
            objective = {"km1": 0}
    else:
        import pymetis

        # star expansion: source vertex - each of its targets (inputs have no vertex; they are skipped)
        A = sp.coo_matrix((n, n))
        rows, cols, vals = [], [], []
        Hc = H.tocoo()
        first = H.indices[H.indptr[:-1]]
        rows.append(first[Hc.row])
        cols.append(Hc.col)
        vals.append(wi[Hc.row])
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        A = A + A.T
        A.setdiag(0)
        A.eliminate_zeros()
        opts = pymetis.Options(ufactor=1, seed=int(seed))
        _, membership = pymetis.part_graph(k, adjacency=pymetis.CSRAdjacency(A.indptr, A.indices),
                                           eweights=A.data.astype(np.int64), options=opts)
        block = np.asarray(membership, dtype=np.int64)
        objective = {}
    order = np.argsort(block, kind="stable")
    cuts = np.flatnonzero(np.diff(block[order])) + 1
    groups_of = np.split(order, cuts)
    # repair: split any block over a limit (neurons, axons, memory) in C-order halves until it fits
    drafts: list[Draft] = []
    repaired = 0
    stack = [np.sort(gm) for gm in groups_of if len(gm)]
    stack.reverse()
    while stack:
        mem = stack.pop()
        pieces = _blocks_to_pieces(mem, offsets, layers, sizes, views)
        if _fits(pieces, geoms, limits, mean_rate):
            drafts.append(Draft("neurons", pieces, None, None, len(drafts)))
            continue
        if len(mem) == 1:
            raise PartitionError("internal: one neuron does not fit a core", node=pieces[0][0])
        repaired += 1
        half = len(mem) // 2
        stack.append(mem[half:])
        stack.append(mem[:half])
    info = {"solver": {"partitioner": f"Mt-KaHyPar KM1 ({PRESET} preset, {THREADS} thread)" if solver == "mtkahypar"
                       else "METIS (pymetis) edge cut, star expansion",
                       "k": k, "hyperedges": int(H.shape[0]), "pins": int(H.nnz), "repaired_splits": repaired,
                       "partition_seconds": round(time.perf_counter() - t0, 3), **objective}}
    return drafts, [], info


def _fits(pieces: list[tuple[str, Box]], geoms: dict[str, list[ProjGeom]], limits: Limits,
          mean_rate: dict[str, float]) -> bool:
    """Exact check of one block against every limit."""
    vol = sum((b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]) for _, b in pieces)
    if vol > limits.neurons or (limits.neuron_entries is not None and vol > limits.neuron_entries):
        return False
    if limits.bias_entries is not None and sum(b[1] - b[0] for _, b in pieces) > limits.bias_entries:
        return False
    sets, _, bits, kern = core_sources(Draft("neurons", pieces), geoms, limits)
    if sum(len(v) for v in sets.values()) > limits.axons or bits > limits.synapse_bits:
        return False
    return limits.kernel_entries is None or kern <= limits.kernel_entries
