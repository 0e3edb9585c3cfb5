"""Implicit (weight-shared) connectivity for the ``fast`` engine: a projection chain as a short list of *stages*
applied at delivery time, so memory grows with weights, not synapses.

Which chains take which path (``is_explicit``, ``build_chain``):

- **explicit** — no convolution, at least one Dense or Sparse op, pooling windows (if any) of at most
  ``EXPLICIT_POOL`` = 4 elements, any Reshape / Flatten / Identity / Scale / BatchNorm / Delay around them: the
  chain's synapses go into the source-major CSR of ``arrays.FlatGraph`` (their count is the matrix's weight count,
  times the pooling window at most; e.g. snn2conv's and cnn_sinabs.nir's SumPool2d(2) ∘ Flatten ∘ Dense).
- **implicit** — every other chain (any Conv, larger pooling, pure element-wise chains such as residual
  identities): a list of stages, each one of

  - ``CONV``: an N-d convolution (1-d and 2-d run as 3-d with unit axes; pools are depthwise convolutions of ones,
    or of 1/(kh·kw) for AvgPool2d), stride, padding, dilation and groups as in ``ir.operators.Conv``; a pooling
    that tiles its input (kernel = stride, no padding) followed by a convolution is composed into one
    convolution (``_pool_then_conv``, exact);
  - ``DIAG``: element-wise weights (Scale, BatchNorm's scale, or 1), one value per element or one for all;
  - ``CSR``: a Dense / Sparse matrix inside an implicit chain (e.g. AvgPool2d(4) ∘ Flatten ∘ Dense), stored over
    its own input (weights only);

  Reshape / Flatten / Identity are index-preserving in C order and vanish; a uniform Delay becomes the projection's
  delay, a per-element Delay a map over the elements between stages (``d_pos`` stages precede it).

Delivery (step kernels in ``deliver.py``): a single CONV stage without per-element delays is delivered either
event-driven (each active source scatters through the kernel taps it touches) or densely (one gather convolution
over the source's activity), chosen per step from the source's activity; every other implicit chain is delivered
event-driven, propagating each event's sparse vector stage by stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.errors import GraphError
from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import AvgPool2d, BatchNorm, Conv, Delay, Dense, Reshape, Scale, Sparse, SumPool2d
from spikemesh.ir.reference import require_int

CONV, DIAG, CSR = 0, 1, 2
#: int parameters per stage; deliver.py's KIND, W0, WG, PTR, IDX, TAB columns follow from 21 on
#: (CONV: cin, zi, yi, xi, cout, zo, yo, xo, kz, ky, kx, sz, sy, sx, pz, py, px, dz, dy,
#: dx, groups; DIAG: n, uniform; CSR: n_in, n_out)
NPAR = 24


@dataclass
class Stage:
    kind: int
    par: np.ndarray  # int64 [NPAR]
    weight: np.ndarray  # CONV: [cout, cin_g, kz, ky, kx]; DIAG: [n] or [1]; CSR: data
    indptr: np.ndarray | None = None  # CSR stage
    indices: np.ndarray | None = None
    n_in: int = 0
    n_out: int = 0


@dataclass
class Chain:
    """A projection as implicit stages; ``delay`` the uniform delay, ``dmap`` per-element delays after ``d_pos``
    stages (None: uniform)."""

    stages: list[Stage]
    delay: int = 0
    dmap: np.ndarray | None = None
    d_pos: int = 0
    n_src: int = 0
    n_tgt: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def dense_ok(self) -> bool:
        """Dense (gather) delivery applies: one CONV stage and no per-element delay."""
        return len(self.stages) == 1 and self.stages[0].kind == CONV and self.dmap is None


#: pooling windows of at most this many elements may precede an explicit Dense / Sparse op (its synapses then
#: number at most this many times its weights)
EXPLICIT_POOL = 4


def is_explicit(pr: Projection) -> bool:
    """The chain keeps an explicit CSR: no convolution, at least one Dense or Sparse op, and pooling windows (if
    any) of at most ``EXPLICIT_POOL`` elements."""
    return (not any(isinstance(op, Conv) for op in pr.ops)
            and all(op.kernel[0] * op.kernel[1] <= EXPLICIT_POOL for op in pr.ops if isinstance(op, SumPool2d))
            and any(isinstance(op, Dense | Sparse) for op in pr.ops))


def _tiling_pool(st: Stage) -> bool:
    """A CONV stage that is a non-overlapping pooling tiling its input exactly: depthwise, one weight value,
    kernel = stride, no padding or dilation, every input dimension a multiple of the stride."""
    cin, zi, yi, xi, cout = (int(v) for v in st.par[:5])
    k, s_, p_, d_ = st.par[8:11], st.par[11:14], st.par[14:17], st.par[17:20]
    w = np.asarray(st.weight)
    return (st.kind == CONV and int(st.par[20]) == cin == cout and bool(np.all(k == s_)) and not np.any(p_)
            and bool(np.all(d_ == 1)) and bool(np.all(w == w.flat[0]))
            and all(n % int(v) == 0 for n, v in zip((zi, yi, xi), s_)))


def _pool_then_conv(a: Stage, b: Stage) -> Stage:
    """One convolution equal to tiling pooling ``a`` followed by convolution ``b``: tap u of b (dilation d) reads
    pooled position o·s - p + u·d, i.e. inputs (o·s - p + u·d)·t + r for r < t (t the pool's stride), so the
    composite has stride s·t, padding p·t, taps u·d·t + r (weight w_b · w_pool) and dilation 1. Exact because
    the pooling tiles its input: a pooled position outside the map covers only inputs outside the input."""
    t = [int(v) for v in a.par[11:14]]
    kb, sb, pb, db = ([int(v) for v in b.par[i:i + 3]] for i in (8, 11, 14, 17))
    k = [((kb[i] - 1) * db[i] + 1) * t[i] for i in range(3)]
    wb = np.asarray(b.weight)
    w = np.zeros((*wb.shape[:2], *k), dtype=np.result_type(wb, np.asarray(a.weight)))
    for uz in range(kb[0]):
        for uy in range(kb[1]):
            for ux in range(kb[2]):
                z0, y0, x0 = uz * db[0] * t[0], uy * db[1] * t[1], ux * db[2] * t[2]
                w[:, :, z0:z0 + t[0], y0:y0 + t[1], x0:x0 + t[2]] = wb[:, :, uz, uy, ux, None, None, None]
    w = w * np.asarray(a.weight).flat[0]
    par = b.par.copy()
    par[1:4] = a.par[1:4]
    par[8:11] = k
    par[11:14] = [sb[i] * t[i] for i in range(3)]
    par[14:17] = [pb[i] * t[i] for i in range(3)]
    par[17:20] = 1
    return Stage(CONV, par, w, n_in=a.n_in, n_out=b.n_out)


def _as3(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    c, *sp_ = shape
    sp3 = [1] * (3 - len(sp_)) + list(sp_)
    return c, sp3[0], sp3[1], sp3[2]


def _pad3(v: tuple[int, ...], fill: int) -> list[int]:
    return [fill] * (3 - len(v)) + list(v)


def _conv_stage(op: Conv, shape: tuple[int, ...], out: tuple[int, ...]) -> Stage:
    c, zi, yi, xi = _as3(shape)
    co, zo, yo, xo = _as3(out)
    k = _pad3(op.kernel, 1)
    par = np.zeros(NPAR, dtype=np.int64)
    par[:21] = [c, zi, yi, xi, co, zo, yo, xo, *k, *_pad3(op.stride, 1), *_pad3(op.padding, 0),
                *_pad3(op.dilation, 1), op.groups]
    w = np.asarray(op.weight).reshape(op.weight.shape[0], op.weight.shape[1], *k)
    return Stage(CONV, par, w, n_in=math.prod(shape), n_out=math.prod(out))


def _diag_stage(w: np.ndarray, n: int) -> Stage:
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    uniform = bool(w.size == 1 or np.all(w == w[0]))
    par = np.zeros(NPAR, dtype=np.int64)
    par[0], par[1] = n, int(uniform)
    return Stage(DIAG, par, w[:1].copy() if uniform else w, n_in=n, n_out=n)


def build_chain(graph: Graph, pr: Projection, integer: bool) -> Chain:
    """The implicit stages of ``pr`` (see the module docstring); int mode requires integer weights (GraphError)."""
    shapes = graph.chain_shapes(pr)
    stages: list[Stage] = []
    ch = Chain(stages, n_src=math.prod(shapes[0]), n_tgt=math.prod(shapes[-1]))
    for op, shp, out in zip(pr.ops, shapes[:-1], shapes[1:]):
        n = math.prod(shp)
        if isinstance(op, Delay):
            d = np.broadcast_to(op.steps, shp).reshape(-1)
            if d.size and np.all(d == d[0]):
                ch.delay = int(d[0])
            else:
                ch.dmap, ch.d_pos = d.astype(np.int32), len(stages)
        elif isinstance(op, Reshape):  # Reshape, Flatten, Identity: C-order indices unchanged
            continue
        elif isinstance(op, Scale | BatchNorm):
            if isinstance(op, Scale):
                w = np.broadcast_to(op.factor, shp).reshape(-1)
            else:
                w = np.broadcast_to(op.scale_shift()[0].reshape((-1,) + (1,) * (len(shp) - 1)), shp).reshape(-1)
            # adjacent element-wise stages merge into one (their product), never across a per-element Delay
            if stages and stages[-1].kind == DIAG and not (ch.dmap is not None and ch.d_pos == len(stages)):
                w = np.broadcast_to(stages.pop().weight, (n,)) * w
            stages.append(_diag_stage(w, n))
        elif isinstance(op, SumPool2d):
            st = _conv_stage(op._conv(shp[0]), shp, out)
            if isinstance(op, AvgPool2d):
                st.weight = st.weight / (op.kernel[0] * op.kernel[1])
            stages.append(st)
        elif isinstance(op, Conv):
            stages.append(_conv_stage(op, shp, out))
        elif isinstance(op, Dense | Sparse):
            m = op.to_csr(shp)
            m.sort_indices()
            par = np.zeros(NPAR, dtype=np.int64)
            par[0], par[1] = m.shape
            stages.append(Stage(CSR, par, m.data, m.indptr.astype(np.int64), m.indices.astype(np.int64),
                                n_in=m.shape[0], n_out=m.shape[1]))
        else:
            raise GraphError(f"the fast engine has no implicit form of {type(op).__name__}", node=pr.name,
                             hint="use Conv, pooling, Dense, Sparse, Scale, Reshape, Identity or Delay ops")
    if not stages:  # identity chain
        stages.append(_diag_stage(np.ones(1), ch.n_src))
    i = 0
    while i + 1 < len(stages):  # a tiling pooling then a convolution: one convolution (fewer, cheaper stages)
        if (_tiling_pool(stages[i]) and stages[i + 1].kind == CONV
                and not (ch.dmap is not None and ch.d_pos == i + 1)):
            stages[i:i + 2] = [_pool_then_conv(stages[i], stages[i + 1])]
            if ch.dmap is not None and ch.d_pos > i:
                ch.d_pos -= 1
            continue
        i += 1
    if integer:
        for st in stages:
            st.weight = require_int(np.asarray(st.weight), "synaptic weight", pr.name)
    return ch


def _axis_valid(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """[n_in, k] bool: input position y reaches some output through tap k (o*s - p + k*d = y, 0 <= o < n_out)."""
    y = np.arange(n_in)[:, None]
    num = y + p - np.arange(k)[None, :] * d
    return (num >= 0) & (num % s == 0) & (num // s < n_out)


def conv_out_degree(st: Stage) -> np.ndarray:
    """Non-zero-weight synapses of each input element of a CONV stage (int64 [n_in]): for input (c, z, y, x), the
    output channels of c's group times the taps that land inside the output, counting only non-zero weights."""
    cin, zi, yi, xi, cout, zo, yo, xo, kz, ky, kx, sz, sy, sx, pz, py, px, dz, dy, dx, g = (int(v) for v in st.par[:21])
    cin_g, cout_g = cin // g, cout // g
    nz = (np.asarray(st.weight) != 0).reshape(g, cout_g, cin_g, kz, ky, kx).sum(axis=1)  # [g, cin_g, kz, ky, kx]
    nz = nz.reshape(cin, kz, ky, kx).astype(np.int64)
    vz = _axis_valid(zi, zo, kz, sz, pz, dz).astype(np.int64)
    vy = _axis_valid(yi, yo, ky, sy, py, dy).astype(np.int64)
    vx = _axis_valid(xi, xo, kx, sx, px, dx).astype(np.int64)
    return np.einsum("cuvw,zu,yv,xw->czyx", nz, vz, vy, vx, optimize=True).reshape(-1)


def stage_out_degree(st: Stage) -> np.ndarray | None:
    """Out-degree per input element of a lone stage (None for a CSR stage: use its matrix)."""
    if st.kind == CONV:
        return conv_out_degree(st)
    if st.kind == DIAG:
        return np.broadcast_to((np.asarray(st.weight) != 0).astype(np.int64), (st.n_in,))
    assert st.indptr is not None
    cum = np.concatenate([[0], np.cumsum(np.asarray(st.weight) != 0)])
    return (cum[st.indptr[1:]] - cum[st.indptr[:-1]]).astype(np.int64)


def chain_synapses(ch: Chain) -> int:
    """Structural size of the chain's first stage (a dense-delivery cost estimate: multiply-adds per step)."""
    st = ch.stages[0]
    if st.kind == CONV:
        cin, *_r = st.par[:21]
        k = int(st.par[8] * st.par[9] * st.par[10])
        return int(st.n_out * (cin // st.par[20]) * k)
    return st.n_in


#: dense (gather) delivery of a lone convolution when more than this fraction of its sources is active in a step
DENSE_FRAC = 0.5


def _fanout_bound(st: Stage) -> int:
    if st.kind == CONV:
        return int(st.par[4] // st.par[20] * st.par[8] * st.par[9] * st.par[10])
    if st.kind == DIAG:
        return 1
    assert st.indptr is not None
    return int(np.diff(st.indptr).max()) if st.n_in else 0


def pack(flat: Any, dense_frac: float = DENSE_FRAC) -> tuple[Any, ...]:
    """The delivery plan of ``flat``'s implicit projections as flat arrays (deliver.py's module docstring):
    ``(node_ptr, pj, st, wev, wga, iptr, iidx, dpool, act, dense_frac, buffers, tab)``; cached on ``flat``."""
    hit = flat._cache.get("plan")
    if hit is not None:
        return hit[:9] + (dense_frac,) + hit[10:]
    from spikemesh.simulator.deliver import (
        DENSE,
        DLY,
        DOFF,
        DPOS,
        IDX,
        KIND,
        PTR,
        Q0,
        ST0,
        ST1,
        TAB,
        W0,
        WG,
        spatial_table,
    )

    dtype = np.int64 if flat.integer else np.float64
    graph = flat.graph
    node_of = {n: k for k, n in enumerate(flat.order)}
    chains = sorted(flat.chains, key=lambda c: (node_of[graph.projections[c[0]].source], c[0]))
    node_ptr = np.zeros(len(flat.order) + 1, dtype=np.int64)
    for pi, _ in chains:
        node_ptr[node_of[graph.projections[pi].source] + 1] += 1
    node_ptr = np.cumsum(node_ptr)
    pj = np.zeros((len(chains), 8), dtype=np.int64)
    rows: list[np.ndarray] = []
    wev: list[np.ndarray] = []
    wga: list[np.ndarray] = []
    iptr: list[np.ndarray] = []
    iidx: list[np.ndarray] = []
    dpool: list[np.ndarray] = []
    tabs: list[np.ndarray] = []
    sizes = {"wev": 0, "wga": 0, "iptr": 0, "iidx": 0, "dpool": 0, "tab": 0}
    cap = 1
    for j, (pi, ch) in enumerate(chains):
        pj[j, Q0] = flat.layout[2][pi]
        pj[j, ST0], pj[j, ST1] = len(rows), len(rows) + len(ch.stages)
        pj[j, DLY] = ch.delay
        pj[j, DPOS] = -1 if ch.dmap is None else ch.d_pos
        pj[j, DENSE] = int(ch.dense_ok)
        if ch.dmap is not None:
            pj[j, DOFF] = sizes["dpool"]
            dpool.append(ch.dmap)
            sizes["dpool"] += len(ch.dmap)
        if len(ch.stages) > 1 or ch.dmap is not None:
            cap = max(cap, math.prod(_fanout_bound(s) for s in ch.stages))
        for s in ch.stages:
            row = np.zeros(NPAR + 6, dtype=np.int64)
            row[:NPAR] = s.par
            row[KIND] = s.kind
            row[W0] = sizes["wev"]
            w = np.asarray(s.weight)
            if s.kind == CONV:
                g = int(s.par[20])
                co, cin_g = w.shape[0], w.shape[1]
                ev = w.reshape(g, co // g, cin_g, -1).transpose(0, 2, 3, 1).reshape(-1)
                row[WG] = sizes["wga"]
                wga.append(w.reshape(-1))
                sizes["wga"] += w.size
                row[TAB] = sizes["tab"]
                tabs.append(spatial_table(row))
                sizes["tab"] += len(tabs[-1])
            else:
                ev = w.reshape(-1)
            wev.append(ev)
            sizes["wev"] += ev.size
            if s.kind == CSR:
                assert s.indptr is not None and s.indices is not None
                row[PTR], row[IDX] = sizes["iptr"], sizes["iidx"]
                iptr.append(s.indptr)
                iidx.append(s.indices)
                sizes["iptr"] += len(s.indptr)
                sizes["iidx"] += len(s.indices)
            rows.append(row)

    def cat(xs: list[np.ndarray], dt: Any) -> np.ndarray:
        return np.concatenate(xs).astype(dt) if xs else np.zeros(1, dtype=dt)

    st = np.stack(rows) if rows else np.zeros((1, NPAR + 6), dtype=np.int64)
    act = np.zeros(max(int(flat.node_size.max(initial=1)), 1), dtype=np.int64)  # any node's active list
    buf = (np.zeros(cap, np.int64), np.zeros(cap, dtype), np.zeros(cap, np.int64),
           np.zeros(cap, np.int64), np.zeros(cap, dtype), np.zeros(cap, np.int64))
    plan = (node_ptr, pj, st, cat(wev, dtype), cat(wga, dtype), cat(iptr, np.int64), cat(iidx, np.int64),
            cat(dpool, np.int64), act, dense_frac, buf, cat(tabs, np.int64))
    flat._cache["plan"] = plan
    flat._cache["plan_proj"] = tuple(pi for pi, _ in chains)
    return plan


def _pooled_index(st: Stage) -> np.ndarray:
    """Output index of each input element of a tiling pooling stage."""
    c, zi, yi, xi, _, zo, yo, xo = (int(v) for v in st.par[:8])
    sz, sy, sx = (int(v) for v in st.par[11:14])
    cc, z, y, x = np.meshgrid(np.arange(c), np.arange(zi) // sz, np.arange(yi) // sy, np.arange(xi) // sx,
                              indexing="ij")
    return (((cc * zo + z) * yo + y) * xo + x).reshape(-1)


def chain_degrees(flat: Any) -> list[tuple[int, np.ndarray]]:
    """Out-degree per source element of every implicit projection, ``[(projection index, int64 [n_src])]``, with
    the explicit CSR's meaning: non-zero weights of the chain's matrix (per distinct delay)."""
    from spikemesh.simulator.deliver import chain_degree

    hit = flat._cache.get("chain_degrees")
    if hit is not None:
        return hit
    out = []
    plan = None
    for pi, ch in flat.chains:
        if len(ch.stages) == 1 and ch.stages[0].kind != CSR:
            od = np.array(stage_out_degree(ch.stages[0]), dtype=np.int64)
        elif len(ch.stages) == 2 and _tiling_pool(ch.stages[0]) and ch.dmap is None and np.any(ch.stages[0].weight):
            # one path per (source, target): the pooled element's out-degree in the second stage
            deg = stage_out_degree(ch.stages[1])
            od = np.array(deg[_pooled_index(ch.stages[0])], dtype=np.int64)
        else:
            if plan is None:
                plan = pack(flat)
            j = flat._cache["plan_proj"].index(pi)
            od = np.zeros(ch.n_src, dtype=np.int64)
            node_ptr, pj, st, wev, wga, iptr, iidx, dpool, act, _, buf, _ = plan
            one = np.ones(1, dtype=wev.dtype)[0]
            chain_degree(j, ch.n_src, ch.n_tgt, one, pj, st, wev, iptr, iidx, dpool, buf, od)
        out.append((pi, od))
    flat._cache["chain_degrees"] = out
    return out
