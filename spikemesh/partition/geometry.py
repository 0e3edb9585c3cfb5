"""Layer and tile geometry: which sources a box of a layer's neurons needs, computed arithmetically per axis.

Every population (and input) is viewed as ``(C, H, W)``: 1-D ``(N,)`` → ``(N, 1, 1)``; 2-D ``(C, L)`` →
``(C, L, 1)``; 3-D as is; higher → ``(C, prod(rest), 1)``. The C-order flat index is unchanged by the view.
A *box* ``(c0, c1, h0, h1, w0, w1)`` is a half-open block of that view.

Projections are classified once (``ProjGeom.kind``):

- ``"conv"``: one Conv (1-D/2-D, any groups) or SumPool2d/AvgPool2d (a depthwise conv), possibly with Delay /
  Identity / Scale / BatchNorm around it. Per spatial axis the input indices an output block touches are
  ``o·s − p + t·d`` (o in the block, t < k) clipped to the input — a receptive field with its halo, computed
  arithmetically; a box's source set is (input channels of its groups) × (row set) × (column set).
- ``"elementwise"``: only Delay / Identity / Scale / BatchNorm: source set = the same box of the source.
- ``"dense"``: Reshape/Flatten then Dense: every source neuron feeds every target neuron.
- ``"csr"``: anything else (e.g. pool → flatten → dense): neuron-level CSR from ``graph.projection_csr`` —
  used only for such chains, which are small in practice.

A box's sources are cut into *units* (the granularity of input-channel / partial-sum splits): source channels for
conv and elementwise projections, single source neurons for dense and csr ones (csr: the box's distinct sources
in increasing index order). ``runs`` gives per-unit costs run-length encoded (a conv box has one run per group),
so resource estimates never touch individual synapses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import (
    AvgPool2d,
    BatchNorm,
    Conv,
    Delay,
    Dense,
    Identity,
    Reshape,
    Scale,
    SumPool2d,
)

Box = tuple[int, int, int, int, int, int]
View = tuple[int, int, int]

#: indices of the per-unit cost vector
AX, BITS, KERN, SYN = 0, 1, 2, 3
N_COST = 4


def view_shape(shape: tuple[int, ...]) -> View:
    """The (C, H, W) view of a shape (module docstring)."""
    if len(shape) == 1:
        return (int(shape[0]), 1, 1)
    if len(shape) == 2:
        return (int(shape[0]), int(shape[1]), 1)
    if len(shape) == 3:
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    return (int(shape[0]), int(math.prod(shape[1:])), 1)


def box_volume(b: Box) -> int:
    return (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4])


def box_flat(b: Box, view: View) -> np.ndarray:
    """C-order flat indices of a box (sorted)."""
    _, h, w = view
    c = np.arange(b[0], b[1], dtype=np.int64)[:, None, None]
    y = np.arange(b[2], b[3], dtype=np.int64)[None, :, None]
    x = np.arange(b[4], b[5], dtype=np.int64)[None, None, :]
    return ((c * h + y) * w + x).reshape(-1)


def box_span(b: Box, view: View) -> tuple[int, int] | None:
    """(smallest, largest + 1) C-order flat index of a box, without listing it; None for an empty box."""
    if box_volume(b) == 0:
        return None
    _, h, w = view
    return (b[0] * h + b[2]) * w + b[4], ((b[1] - 1) * h + b[3] - 1) * w + b[5]


def flat_range_boxes(start: int, stop: int, view: View) -> list[Box]:
    """A C-order flat range [start, stop) as at most five disjoint boxes."""
    _, h, w = view
    out: list[Box] = []
    row = w
    plane = h * w

    def rows_to_boxes(a: int, b: int) -> None:  # a, b multiples of w
        if a >= b:
            return
        ca, cb = a // plane, b // plane
        ra, rb = (a % plane) // row, (b % plane) // row
        if ca == cb:
            out.append((ca, ca + 1, ra, rb, 0, w))
            return
        if ra:
            out.append((ca, ca + 1, ra, h, 0, w))
            ca += 1
        if cb > ca:
            out.append((ca, cb, 0, h, 0, w))
        if rb:
            out.append((cb, cb + 1, 0, rb, 0, w))

    a, b = start, stop
    if a >= b:
        return out
    head_end = min(b, -(-a // row) * row)
    if a % row:
        c, r = a // plane, (a % plane) // row
        out.append((c, c + 1, r, r + 1, a % row, a % row + (head_end - a)))
        a = head_end
    tail_start = max(a, (b // row) * row)
    rows_to_boxes(a, tail_start)
    if tail_start < b:
        c, r = tail_start // plane, (tail_start % plane) // row
        out.append((c, c + 1, r, r + 1, 0, b - tail_start))
    return out


@dataclass(eq=False)
class ProjGeom:
    """Geometry of one projection (see module docstring)."""

    name: str
    source: str
    target: str
    kind: str
    src_view: View
    dst_view: View
    is_input: bool
    conv: Conv | None = None
    csc: sp.csc_matrix | None = None
    #: units are single source neurons, as for csr (a pool composed into ``conv``, ``_pool_conv``)
    fine: bool = False
    _axis_cache: dict[tuple[int, int, int], tuple[np.ndarray, int, np.ndarray]] = field(default_factory=dict)

    # -- conv helpers ----------------------------------------------------------------------------
    @property
    def cin_g(self) -> int:
        assert self.conv is not None
        return int(self.conv.weight.shape[1])

    @property
    def cout_g(self) -> int:
        assert self.conv is not None
        return int(self.conv.weight.shape[0] // self.conv.groups)

    @property
    def kernel_taps(self) -> int:
        assert self.conv is not None
        return int(math.prod(self.conv.kernel))

    def axis(self, a: int, o0: int, o1: int) -> tuple[np.ndarray, int]:
        """Axis ``a`` (0 = rows, 1 = columns) of a conv: (sorted distinct input indices touched by outputs
        [o0, o1), number of valid (output, tap) pairs)."""
        idx, n, _ = self.axis_counts(a, o0, o1)
        return idx, n

    def axis_counts(self, a: int, o0: int, o1: int) -> tuple[np.ndarray, int, np.ndarray]:
        """``axis`` plus the (output, tap) pairs of each input index."""
        key = (a, o0, o1)
        got = self._axis_cache.get(key)
        if got is not None:
            return got
        conv = self.conv
        assert conv is not None
        n_in = self.src_view[1 + a]
        if a >= conv.ndim:
            got = (np.arange(o0, o1, dtype=np.int64), o1 - o0, np.ones(o1 - o0, dtype=np.int64))
        else:
            k, s, p, d = conv.kernel[a], conv.stride[a], conv.padding[a], conv.dilation[a]
            idx = np.arange(o0, o1, dtype=np.int64)[:, None] * s - p + np.arange(k, dtype=np.int64)[None, :] * d
            ok = (idx >= 0) & (idx < n_in)
            u, c = np.unique(idx[ok], return_counts=True)
            got = (u, int(ok.sum()), c.astype(np.int64))
        self._axis_cache[key] = got
        return got

    def fine_sources(self, b: Box) -> tuple[np.ndarray, np.ndarray]:
        """Fine conv: the distinct source neurons of box ``b`` (sorted flat indices) and the synapses of each."""
        _, sh, sw = self.src_view
        ca, cb = self.conv_channels(b)
        c = np.arange(ca, cb, dtype=np.int64)
        nco = self.n_co(b, c)
        c, nco = c[nco > 0], nco[nco > 0]
        rows, _, ry = self.axis_counts(0, b[2], b[3])
        cols, _, rx = self.axis_counts(1, b[4], b[5])
        src = ((c[:, None, None] * sh + rows[None, :, None]) * sw + cols[None, None, :]).reshape(-1)
        syn = (nco[:, None, None] * ry[None, :, None] * rx[None, None, :]).reshape(-1)
        return src, syn

    def conv_channels(self, b: Box) -> tuple[int, int]:
        """Source channel range [ca, cb) the output channels of box ``b`` read."""
        g0, g1 = b[0] // self.cout_g, (b[1] - 1) // self.cout_g
        return g0 * self.cin_g, (g1 + 1) * self.cin_g

    def n_co(self, b: Box, ci: np.ndarray) -> np.ndarray:
        """Output channels of box ``b`` connected to each source channel in ``ci``."""
        assert self.conv is not None
        if self.conv.groups == 1:
            return np.full(len(ci), b[1] - b[0], dtype=np.int64)
        g = ci // self.cin_g
        lo = np.maximum(b[0], g * self.cout_g)
        hi = np.minimum(b[1], (g + 1) * self.cout_g)
        return np.maximum(hi - lo, 0)

    # -- units (absolute: source channel for conv/elementwise, source flat index for dense/csr) -----------
    @property
    def n_units(self) -> int:
        if self.kind in ("conv", "elementwise") and not self.fine:
            return self.src_view[0]
        return int(math.prod(self.src_view))

    def unit_of(self, src: np.ndarray) -> np.ndarray:
        """The absolute unit of each source neuron (flat index): its channel for conv / element-wise projections,
        the index itself otherwise (dense, csr, and a pool composed into a conv, ``fine``)."""
        if self.kind in ("conv", "elementwise") and not self.fine:
            return src // (self.src_view[1] * self.src_view[2])
        return src

    def csr_rows(self, b: Box) -> tuple[np.ndarray, np.ndarray]:
        """csr kind: the box's distinct source rows (sorted) and the synapse count of each."""
        assert self.csc is not None
        sub = self.csc[:, box_flat(b, self.dst_view)]
        rows, counts = np.unique(sub.indices, return_counts=True)
        return rows.astype(np.int64), counts.astype(np.int64)

    def unit_costs(self, b: Box, weight_bits: int, shared_kernels: bool) -> tuple[int, np.ndarray]:
        """Per-unit costs of box ``b`` over its active unit range: (first unit, int64 [n, 4] of axons, synapse bits,
        kernel entries, synapses)."""
        if self.fine:
            src, syn = self.fine_sources(b)
            if not len(src):
                return 0, np.zeros((0, N_COST), dtype=np.int64)
            out = np.zeros((int(src[-1]) + 1 - int(src[0]), N_COST), dtype=np.int64)
            at = src - src[0]
            out[at, AX] = 1
            out[at, SYN] = syn
            out[at, KERN] = syn
            out[at, BITS] = syn * weight_bits
            return int(src[0]), out
        if self.kind == "conv":
            rows, th = self.axis(0, b[2], b[3])
            cols, tw = self.axis(1, b[4], b[5])
            ca, cb = self.conv_channels(b)
            n_co = self.n_co(b, np.arange(ca, cb, dtype=np.int64))
            out = np.empty((cb - ca, N_COST), dtype=np.int64)
            out[:, AX] = len(rows) * len(cols)
            out[:, SYN] = n_co * th * tw
            out[:, KERN] = n_co * self.kernel_taps
            out[:, BITS] = (out[:, KERN] if shared_kernels else out[:, SYN]) * weight_bits
            return ca, out
        if self.kind == "elementwise":
            area = (b[3] - b[2]) * (b[5] - b[4])
            out = np.empty((b[1] - b[0], N_COST), dtype=np.int64)
            out[:] = (area, area * weight_bits, area, area)
            return b[0], out
        if self.kind == "dense":
            vol = box_volume(b)
            out = np.empty((self.n_units, N_COST), dtype=np.int64)
            out[:] = (1, vol * weight_bits, vol, vol)
            return 0, out
        rows, counts = self.csr_rows(b)
        out = np.zeros((self.n_units, N_COST), dtype=np.int64)
        out[rows, AX] = 1
        out[rows, SYN] = counts
        out[rows, KERN] = counts
        out[rows, BITS] = counts * weight_bits
        return 0, out

    def total_costs(self, b: Box, weight_bits: int, shared_kernels: bool) -> np.ndarray:
        """``unit_costs(b, ...)[1].sum(axis=0)`` computed arithmetically (conv, element-wise, dense)."""
        out = np.zeros(N_COST, dtype=np.int64)
        if self.fine:
            ca, cb = self.conv_channels(b)
            nco = self.n_co(b, np.arange(ca, cb, dtype=np.int64))
            rows, th = self.axis(0, b[2], b[3])
            cols, tw = self.axis(1, b[4], b[5])
            syn = int(nco.sum()) * th * tw
            out[:] = (int((nco > 0).sum()) * len(rows) * len(cols), syn * weight_bits, syn, syn)
        elif self.kind == "conv":
            rows, th = self.axis(0, b[2], b[3])
            cols, tw = self.axis(1, b[4], b[5])
            ca, cb = self.conv_channels(b)
            n_co = int(self.n_co(b, np.arange(ca, cb, dtype=np.int64)).sum())
            out[AX] = (cb - ca) * len(rows) * len(cols)
            out[SYN] = n_co * th * tw
            out[KERN] = n_co * self.kernel_taps
            out[BITS] = (out[KERN] if shared_kernels else out[SYN]) * weight_bits
        elif self.kind == "elementwise":
            s = (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4])
            out[:] = (s, s * weight_bits, s, s)
        elif self.kind == "dense":
            n, vol = self.n_units, box_volume(b)
            out[:] = (n, n * vol * weight_bits, n * vol, n * vol)
        else:
            out[:] = self.unit_costs(b, weight_bits, shared_kernels)[1].sum(axis=0)
        return out

    # -- exact sets and counts --------------------------------------------------------------------
    def source_flat(self, b: Box, u0: int, u1: int) -> np.ndarray:
        """Flat indices of the distinct sources that units [u0, u1) of box ``b`` deliver (sorted)."""
        _, sh, sw = self.src_view
        if self.fine:
            src = self.fine_sources(b)[0]
            return src[(src >= u0) & (src < u1)]
        if self.kind == "conv":
            ca, cb = self.conv_channels(b)
            lo, hi = max(ca, u0), min(cb, u1)
            if lo >= hi:
                return np.zeros(0, dtype=np.int64)
            rows, _ = self.axis(0, b[2], b[3])
            cols, _ = self.axis(1, b[4], b[5])
            c = np.arange(lo, hi, dtype=np.int64)
            # channels of a group whose out channels miss the box are not sources (grouped conv)
            c = c[self.n_co(b, c) > 0]
            return ((c[:, None, None] * sh + rows[None, :, None]) * sw + cols[None, None, :]).reshape(-1)
        if self.kind == "elementwise":
            lo, hi = max(b[0], u0), min(b[1], u1)
            if lo >= hi:
                return np.zeros(0, dtype=np.int64)
            return box_flat((lo, hi, b[2], b[3], b[4], b[5]), self.src_view)
        if self.kind == "dense":
            return np.arange(u0, u1, dtype=np.int64)
        rows = self.csr_rows(b)[0]
        return rows[(rows >= u0) & (rows < u1)]

    def counts(self, b: Box, u0: int, u1: int) -> tuple[int, int]:
        """Exact (synapses, kernel entries) of units [u0, u1) of box ``b``."""
        if self.fine:
            src, syn = self.fine_sources(b)
            s = int(syn[(src >= u0) & (src < u1)].sum())
            return s, s
        if self.kind == "conv":
            ca, cb = self.conv_channels(b)
            lo, hi = max(ca, u0), min(cb, u1)
            if lo >= hi:
                return 0, 0
            _, th = self.axis(0, b[2], b[3])
            _, tw = self.axis(1, b[4], b[5])
            n_co = int(self.n_co(b, np.arange(lo, hi, dtype=np.int64)).sum())
            return n_co * th * tw, n_co * self.kernel_taps
        if self.kind == "elementwise":
            s = max(0, min(b[1], u1) - max(b[0], u0)) * (b[3] - b[2]) * (b[5] - b[4])
            return s, s
        if self.kind == "dense":
            s = max(0, min(u1, self.n_units) - u0) * box_volume(b)
            return s, s
        rows, counts = self.csr_rows(b)
        s = int(counts[(rows >= u0) & (rows < u1)].sum())
        return s, s


_ELEMENTWISE = (Delay, Identity, Scale, BatchNorm)


def classify(graph: Graph, proj: Projection) -> ProjGeom:
    """Build the ProjGeom of ``proj``."""
    src_shape = graph.shape_of(proj.source)
    dst_shape = graph.shape_of(proj.target)
    core = [op for op in proj.ops if not isinstance(op, _ELEMENTWISE)]
    is_input = proj.source not in graph.population
    base: dict[str, Any] = dict(name=proj.name, source=proj.source, target=proj.target,
                                src_view=view_shape(src_shape), dst_view=view_shape(dst_shape), is_input=is_input)
    shape_ok = all(isinstance(op, _ELEMENTWISE) or op is core[0] for op in proj.ops) if core else True
    if not core and tuple(src_shape) == tuple(dst_shape):
        return ProjGeom(kind="elementwise", **base)
    if len(core) == 1 and shape_ok and isinstance(core[0], Conv | SumPool2d) and len(src_shape) in (2, 3):
        op = core[0]
        conv = op._conv(src_shape[0]) if isinstance(op, SumPool2d | AvgPool2d) else op
        if conv.ndim == len(src_shape) - 1:
            return ProjGeom(kind="conv", conv=conv, **base)
    pooled = _pool_conv(core, tuple(src_shape))
    if pooled is not None:  # other ops are element-wise (shape-preserving)
        return ProjGeom(kind="conv", conv=pooled, fine=True, **base)
    if core and isinstance(core[-1], Dense) and all(isinstance(op, Reshape) and not isinstance(op, Identity)
                                                   for op in core[:-1]):
        return ProjGeom(kind="dense", **base)
    m = graph.projection_csr(proj, structure=True)
    if m.nnz == m.shape[0] * m.shape[1]:  # e.g. pool -> flatten -> dense: every source feeds every target
        return ProjGeom(kind="dense", **base)
    return ProjGeom(kind="csr", csc=m.tocsc(), **base)


def _pool_conv(core: list[Any], src_shape: tuple[int, ...]) -> Conv | None:
    """A non-overlapping 2-D pool (stride = kernel, no padding, dividing the input) then an undilated 2-D conv, as
    one conv on the pool's input with the same synapses: per axis the conv's output ``o`` reads pooled rows
    ``o·s − p + t`` (t < k), i.e. input rows ``kp·(o·s − p + t) + u`` (u < kp) = ``o·(s·kp) − p·kp + j`` for
    j < k·kp: kernel ``k·kp``, stride ``s·kp``, padding ``p·kp`` (a pooled row out of range maps to input rows out
    of range because the pool tiles the input). Its units are single source neurons (``ProjGeom.fine``): a unit per
    source channel would make partial-sum chunks whole channels of a receptive field several times larger than the
    conv's own. None when the ops are not of that form."""
    if len(core) != 2 or not isinstance(core[0], SumPool2d) or not isinstance(core[1], Conv) or len(src_shape) != 3:
        return None
    pool, conv = core
    if (conv.ndim != 2 or tuple(pool.stride) != tuple(pool.kernel) or any(pool.padding)
            or any(d != 1 for d in conv.dilation) or any(n % k for n, k in zip(src_shape[1:], pool.kernel))):
        return None
    kp = tuple(int(k) for k in pool.kernel)
    scale = 1.0 / math.prod(kp) if isinstance(pool, AvgPool2d) else 1.0
    w = np.kron(np.asarray(conv.weight, dtype=np.float64), np.full((1, 1, *kp), scale))  # w'[.., t·kp + u] = w[.., t]
    return Conv(w, None, tuple(s * k for s, k in zip(conv.stride, kp)), tuple(p * k for p, k in zip(conv.padding, kp)),
                (1, 1), conv.groups)


def geometry(graph: Graph) -> dict[str, list[ProjGeom]]:
    """Population name → the ProjGeom of each incoming projection (declaration order)."""
    out: dict[str, list[ProjGeom]] = {p.name: [] for p in graph.populations}
    for proj in graph.projections:
        out[proj.target].append(classify(graph, proj))
    return out
