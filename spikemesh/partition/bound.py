"""The partition report's ``trees`` lower bound: neurons and axons counted together, per neuron, with the fewest
sources any core or partial-sum tree holding it can have (derivation in docs/report.md, "Partition lower bound").

A tree T of k cores holds its m_T neurons on every node (artifact.py) and receives U_T distinct sources: its cores
carry at least U_T + (k − 1)·m_T axons and exactly k·m_T neuron units, and k ≥ c(U_T, m_T) = 1 when U_T ≤ A, else
ceil((U_T − m_T) / (A − m_T)) (A axons, N neurons per core). With g_v(m) ≤ the distinct sources of any m neurons
of v's layer containing v (per source population P; s_v sums g_{v,P}(m) / r_P over the r_P layers reading P) and
m the neurons of v's layer in T, v is charged ``a_v = s_v(m)/m + k − 1`` axons and ``k`` units, where
k ≥ max(2, c(g_v(m), m)) in a multi-core tree and k = 1 (g_v(m) ≤ A) on a single core. A multi-core tree has
k ≥ λ·axons/A + (1 − λ)·units/N for any λ; the single cores together number at least
μ·Σ axons/A + (1 − μ)·Σ units/N over their neurons for any μ. So for every (λ, μ)

    cores ≥ Σ_v min(min_m [λ·a_v/A + (1 − λ)·k/N] over multi-core trees, min_m [μ·a_v/A + (1 − μ)/N] alone)

and the bound is the best of a grid of (λ, μ). For a conv without groups g_v(m) = C_in × (fewest input
positions of any ceil(m / C_out) output positions containing v's), bounded below by ``field_bound``.
"""

from __future__ import annotations

import math

import numpy as np

from spikemesh.ir.graph import Graph
from spikemesh.partition.bound_kernels import rows_dp, union_1d
from spikemesh.partition.geometry import ProjGeom
from spikemesh.partition.resources import Limits

#: output positions per set up to which the receptive-field bound is computed (sets containing a given output, on
#: layers some of whose neurons need partial sums; any set elsewhere); larger sets reuse its value at this size
#: (the bound is monotone in the set size, so that stays valid)
P_CONTAIN = 16
P_ANY = 32
#: weights of axons (vs neuron units) tried for multi-core trees and for single cores (any pair gives a valid bound)
LAMBDAS = tuple(i / 20 for i in range(21))
MUS = (0.0, 0.25, 0.5, 0.75, 1.0)


def fan_in(g: ProjGeom) -> np.ndarray:
    """Distinct sources of each target neuron through projection ``g``, over the target's (C, H, W) view (int64)."""
    c, h, w = g.dst_view
    if g.kind == "conv":
        assert g.conv is not None
        ty = np.array([len(g.axis(0, y, y + 1)[0]) for y in range(h)], dtype=np.int64)
        tx = np.array([len(g.axis(1, x, x + 1)[0]) for x in range(w)], dtype=np.int64)
        return np.broadcast_to(g.cin_g * ty[None, :, None] * tx[None, None, :], (c, h, w))
    if g.kind == "elementwise":
        return np.ones((c, h, w), dtype=np.int64)
    if g.kind == "dense":
        return np.full((c, h, w), g.n_units, dtype=np.int64)
    assert g.csc is not None
    return np.diff(g.csc.indptr).astype(np.int64).reshape(c, h, w)


def axis_intervals(g: ProjGeom, a: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Conv axis ``a`` (0 rows, 1 columns): the input interval [lo, hi) each output index reads (clipped), or None
    when the receptive fields are not intervals (dilation > 1)."""
    assert g.conv is not None
    n_out, n_in = g.dst_view[1 + a], g.src_view[1 + a]
    o = np.arange(n_out, dtype=np.int64)
    if a >= g.conv.ndim:
        return o, o + 1
    k, s, p, d = g.conv.kernel[a], g.conv.stride[a], g.conv.padding[a], g.conv.dilation[a]
    if d != 1 and k > 1:
        return None
    lo = np.clip(o * s - p, 0, n_in)
    hi = np.clip(o * s - p + k, 0, n_in)
    return lo, np.maximum(lo, hi)


def _reading_counts(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``cnt[y, l]``: input indices whose last reading output is y, read by l = min(3, readers) outputs up to y
    (an input index holds at least the max over any of its readers, so keeping the last three is valid)."""
    n_out = len(lo)
    cnt = np.zeros((n_out, 4), dtype=np.int64)
    for i in range(int(hi.max()) if n_out else 0):
        rows = np.nonzero((lo <= i) & (i < hi))[0]
        if len(rows):
            cnt[int(rows[-1]), min(3, len(rows))] += 1
    return cnt


def _axis_tables(lo: np.ndarray, hi: np.ndarray, qmax: int, contain: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fewest inputs of any q outputs of the axis, the distinct tables of sets containing a given output, the
    table index of each output)."""
    glob = union_1d(lo, hi, qmax, -1)
    if not contain or len(lo) > 256:  # long 1-D axes: the global table (valid, weaker)
        return glob, glob[None, :], np.zeros(len(lo), dtype=np.int64)
    spec = np.stack([union_1d(lo, hi, qmax, o) for o in range(len(lo))])
    uniq, inv = np.unique(spec, axis=0, return_inverse=True)
    return glob, uniq, inv.reshape(-1).astype(np.int64)


def field_bound(g: ProjGeom, pmax: int, contain: bool = True) -> np.ndarray | None:
    """``out[y, x, p]`` ≤ the input positions any p output positions read, the set including (y, x) when
    ``contain`` (else any set); p = 0..pmax, a running maximum, so non-decreasing in p. None for dilated convs.

    Rows: input row i is read by a run of output rows; the positions of row i in the union are at least the
    columns of the largest of its reading rows' sets, and a row's q positions read at least ``union_1d`` columns
    (a row holding (y, x): those of sets including x) — ``rows_dp`` minimises that sum over the per-row counts.
    The same with rows and columns swapped, and the output's own field, are lower bounds too: the max of the
    three is kept."""
    iy, ix = axis_intervals(g, 0), axis_intervals(g, 1)
    if iy is None or ix is None:
        return None
    _, h, w = g.dst_view
    own = ((iy[1] - iy[0])[:, None] * (ix[1] - ix[0])[None, :]).astype(np.int64)
    gx, sx, inv_x = _axis_tables(ix[0], ix[1], min(w, pmax), contain)
    gy, sy, inv_y = _axis_tables(iy[0], iy[1], min(h, pmax), contain)
    by_rows = rows_dp(_reading_counts(iy[0], iy[1]), gx, sx, pmax, contain)  # [y or 0, x class, p]
    by_cols = rows_dp(_reading_counts(ix[0], ix[1]), gy, sy, pmax, contain)  # [x or 0, y class, p]
    ys = np.arange(h) if contain else np.zeros(h, dtype=np.int64)
    xs = np.arange(w) if contain else np.zeros(w, dtype=np.int64)
    r = by_rows[ys[:, None], inv_x[None, :]]  # [y, x, p]
    c = by_cols[xs[None, :], inv_y[:, None]]
    out = np.maximum(r, c)
    if contain:
        out = np.maximum(out, own[:, :, None])
    out[:, :, 0] = 0
    return np.maximum.accumulate(out, axis=2)


def _sources(g: ProjGeom, m: np.ndarray, contain: bool) -> np.ndarray:
    """g_v(m) through projection ``g``: an array broadcastable to (C, H, W, len(m)) (``contain``: sets that
    include v; else any set, which is smaller, so also valid)."""
    if g.kind == "elementwise":
        return m[None, None, None, :].astype(np.float64)
    if g.kind == "dense":
        return np.full((1, 1, 1, 1), float(g.n_units))
    if g.kind == "conv":
        assert g.conv is not None
        cap = P_CONTAIN if contain else P_ANY
        pmax = int(min(cap, -(-int(m[-1]) // g.dst_view[0])))
        fb = field_bound(g, pmax, contain) if g.conv.groups == 1 else None
        if fb is not None:
            p = np.minimum(-(-m // g.dst_view[0]), pmax)
            return (g.cin_g * fb[:, :, p])[None].astype(np.float64)
        return fan_in(g)[:1, :, :, None].astype(np.float64)
    return fan_in(g)[:, :, :, None].astype(np.float64)


def _distinct_rows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of the pair (``a``, ``b``) (same row count) and how often each occurs: grouped by a
    random projection, then checked exactly (all rows when the check fails)."""
    r = np.random.default_rng(0).random(a.shape[1])
    h = a @ r + b @ r[::-1]
    _, first, inv, counts = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
    if len(first) == len(a):
        return a, b, counts
    rep = first[inv.reshape(-1)]
    if np.array_equal(a, a[rep]) and np.array_equal(b, b[rep]):
        return a[first], b[first], counts
    return a, b, np.ones(len(a), dtype=np.int64)


def trees_bound(graph: Graph, limits: Limits, geoms: dict[str, list[ProjGeom]]) -> int:
    """The ``trees`` lower bound on the cores of any partition (module docstring)."""
    a_cap, n_cap = limits.axons, limits.neurons
    readers: dict[str, int] = {}
    for gs in geoms.values():
        for src in {g.source for g in gs}:
            readers[src] = readers.get(src, 0) + 1
    mu = np.asarray(MUS)[None, :]
    totals = np.zeros((len(LAMBDAS), len(MUS)))
    for layer, gs in geoms.items():
        n = int(math.prod(graph.shape_of(layer)))
        if not gs:  # no sources: one neuron unit each, alone on single cores at best
            totals += n * (1 - mu) / n_cap
            continue
        m = np.arange(1, min(n_cap, n) + 1, dtype=np.int64)
        contain = limits.partial_sums and int(sum(fan_in(g).max() for g in gs)) > a_cap
        per_src: dict[str, np.ndarray] = {}
        for g in gs:
            got = _sources(g, m, contain)
            per_src[g.source] = got if g.source not in per_src else np.maximum(per_src[g.source], got)
        big = sum(per_src.values())
        scaled = sum(v / readers[k] for k, v in per_src.items())
        assert isinstance(big, np.ndarray) and isinstance(scaled, np.ndarray)
        mm = m.astype(np.float64)
        # neurons with equal charges (e.g. every interior position of a conv) are summed once, with a count
        shape = np.broadcast_shapes(big.shape, scaled.shape, (1, 1, 1, len(m)))
        src_all = np.broadcast_to(scaled / mm, shape).reshape(-1, shape[3])
        src_per, g_v, counts = _distinct_rows(src_all, np.broadcast_to(big, shape).reshape(-1, shape[3]))
        # alone on single cores (the m neurons and their sources fit one core)
        fits = g_v <= a_cap
        if not limits.partial_sums:
            fits[:, 0] = True  # (a layer no core can hold is reported by the strategies; count it as fitting)
        single = np.where(fits, src_per, np.inf).min(axis=1)[:, None]  # axons per neuron
        single_charge = np.where(np.isfinite(single), mu * np.where(np.isfinite(single), single, 0.0) / a_cap
                                 + (1 - mu) / n_cap, np.inf)  # [rows, MUS]
        if limits.partial_sums:
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.where(mm < a_cap, np.maximum(2.0, np.ceil((g_v - mm) / (a_cap - mm))), np.inf)
            ok = np.isfinite(c)
            ax = np.where(ok, src_per + c - 1, 0.0)
            cc = np.where(ok, c, 0.0)
            multi_charge = np.stack([np.where(ok, lm * ax / a_cap + (1 - lm) * cc / n_cap, np.inf).min(axis=1)
                                     for lm in LAMBDAS], axis=1)  # [rows, LAMBDAS]
        else:
            multi_charge = np.full((len(g_v), len(LAMBDAS)), np.inf)
        both = np.minimum(multi_charge[:, :, None], single_charge[:, None, :])  # [rows, LAMBDAS, MUS]
        totals += np.einsum("r,rlm->lm", counts.astype(np.float64), both) * (n / len(src_all))
    finite = totals[np.isfinite(totals)]
    return int(math.ceil(float(finite.max()) - 1e-9)) if len(finite) else 0
