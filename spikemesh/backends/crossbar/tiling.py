"""Tiling each projection's weighted operator onto crossbar arrays (bit-sliced, row / column tiled as in NeuroSim
and ISAAC: partial sums of row tiles added digitally, bit slices shift-added).

One weighted op per projection goes on the crossbar: ``Dense`` ([n_in, n_out] as rows x columns), ``Sparse`` (its
dense [n_in, n_out] matrix) or ``Conv`` through im2col (rows = C_in/groups · prod(kernel), columns = C_out/groups,
one matrix per group, read once per output position). Every other op (pooling, reshape, Scale, bias, Delay) runs
in the digital periphery. A matrix of R_w x C_w integer weights becomes
``row_tiles = ceil(R_w / rows)`` x ``col_tiles = ceil(C_w / weight_cols)`` x ``slices`` arrays, where the weight
magnitude (differential) or the offset code w + 2**(bits-1) (offset scheme) is cut into ``slices`` pieces of
``cell_bits`` bits; row tiles give partial sums added digitally, slices are shift-added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikemesh.backends.crossbar.target import CrossbarConfig
from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import Conv, Dense, Sparse

CROSSBAR_OPS = (Dense, Sparse, Conv)


@dataclass(frozen=True)
class MappedMatrix:
    """One weight matrix on arrays. ``weight`` int64 [R_w, C_w] (rows = inputs); ``mag_bits``: bits of the
    encoded magnitude; ``slices``; ``levels`` [slices, 2, R_w, C_w] int64 cell levels (0 .. 2**cell_bits - 1):
    index 1 = G+ / G- for differential, (code, unused) for offset. ``offset``: the code offset removed digitally."""

    weight: np.ndarray
    mag_bits: int
    slices: int
    levels: np.ndarray
    offset: int

    @property
    def rows(self) -> int:
        return self.weight.shape[0]

    @property
    def cols(self) -> int:
        return self.weight.shape[1]


@dataclass(frozen=True)
class MappedLayer:
    """A projection's crossbar mapping: ``op_index`` of the crossbar op in the chain, ``kind`` ("dense", "sparse",
    "conv"), one MappedMatrix per conv group (one for dense/sparse), and array bookkeeping."""

    projection: str
    op_index: int
    kind: str
    matrices: tuple[MappedMatrix, ...]
    row_tiles: int
    col_tiles: int
    slices: int
    arrays: int
    utilisation: np.ndarray  # per array: used cells / (rows · cols)
    positions: int  # array reads per sample step (conv output positions; 1 for dense)

    def summary(self) -> dict[str, object]:
        return {"kind": self.kind, "groups": len(self.matrices), "rows": self.matrices[0].rows,
                "cols": self.matrices[0].cols, "row_tiles": self.row_tiles, "col_tiles": self.col_tiles,
                "slices": self.slices, "arrays": self.arrays, "reads_per_step": self.positions,
                "utilisation_mean": float(self.utilisation.mean()) if self.utilisation.size else 0.0}


def _int_weights(w: np.ndarray, where: str) -> np.ndarray:
    if not np.all(w == np.round(w)):
        raise SimulationError("crossbar weights must be integers", node=where,
                              hint="quantize() the graph (spikemesh.quantize or compile for a crossbar target)")
    return w.astype(np.int64)


def encode(weight: np.ndarray, cfg: CrossbarConfig, where: str) -> MappedMatrix:
    """Bit-slice an integer matrix [R_w, C_w] into cell levels for the config's signed-weight scheme."""
    w = _int_weights(np.asarray(weight), where)
    cb = cfg.cell_bits
    mask = (1 << cb) - 1
    if cfg.scheme == "differential":
        mag = int(np.abs(w).max()) if w.size else 0
        mag_bits = max(1, math.ceil(math.log2(mag + 1)))
        if mag_bits > cfg.weight_bits:
            raise SimulationError("weights exceed the crossbar's weight width", node=where,
                                  needed=f"|w| < 2**{cfg.weight_bits}", available=mag,
                                  hint="quantize() to the target's weight_bits")
        slices = -(-mag_bits // cb)
        pos, neg = np.maximum(w, 0), np.maximum(-w, 0)
        lv = np.stack([np.stack([(pos >> (k * cb)) & mask, (neg >> (k * cb)) & mask]) for k in range(slices)])
        return MappedMatrix(w, mag_bits, slices, lv, 0)
    bits = cfg.weight_bits
    off = 1 << (bits - 1)
    if w.size and (w.min() < -off or w.max() > off - 1):
        raise SimulationError("weights exceed the offset scheme's signed range", node=where,
                              needed=f"[{-off}, {off - 1}]", available=(int(w.min()), int(w.max())),
                              hint="quantize() to the target's weight_bits")
    code = w + off
    slices = -(-bits // cb)
    lv = np.stack([np.stack([(code >> (k * cb)) & mask, np.zeros_like(code)]) for k in range(slices)])
    return MappedMatrix(w, bits, slices, lv, off)


def crossbar_op(graph: Graph, proj: Projection) -> int | None:
    """Index of the projection's crossbar op (None: a purely digital chain). More than one is an error."""
    idx = [i for i, o in enumerate(proj.ops) if isinstance(o, CROSSBAR_OPS)]
    if len(idx) > 1:
        raise SimulationError("a projection may hold one weighted Dense/Sparse/Conv op on the crossbar",
                              node=proj.name, needed=1, available=len(idx), hint="split the projection")
    return idx[0] if idx else None


def map_projection(graph: Graph, proj: Projection, cfg: CrossbarConfig) -> MappedLayer | None:
    """Tile ``proj``'s crossbar op onto arrays (None when the chain has no weighted op)."""
    k = crossbar_op(graph, proj)
    if k is None:
        return None
    op = proj.ops[k]
    shapes = graph.chain_shapes(proj)
    if isinstance(op, Dense):
        mats = [op.weight.T]
        kind, positions = "dense", 1
    elif isinstance(op, Sparse):
        mats = [op.to_csr(shapes[k]).toarray()]
        kind, positions = "sparse", 1
    else:
        g = op.groups
        cout_g = op.weight.shape[0] // g
        mats = [op.weight[gi * cout_g:(gi + 1) * cout_g].reshape(cout_g, -1).T for gi in range(g)]
        kind, positions = "conv", math.prod(shapes[k + 1][1:]) * g
    mm = tuple(encode(m, cfg, proj.name) for m in mats)
    rt = -(-mm[0].rows // cfg.rows)
    ct = -(-mm[0].cols // cfg.weight_cols)
    slices = mm[0].slices
    util = []
    per_col = 2 if cfg.scheme == "differential" else 1
    for m in mm:
        for r in range(rt):
            nr = min(cfg.rows, m.rows - r * cfg.rows)
            for c in range(ct):
                nc = min(cfg.weight_cols, m.cols - c * cfg.weight_cols)
                used = nr * (nc * per_col + (1 if cfg.scheme == "offset" else 0))
                util.extend([used / (cfg.rows * cfg.cols)] * slices)
    return MappedLayer(proj.name, k, kind, mm, rt, ct, slices, len(mm) * rt * ct * slices, np.asarray(util),
                       positions)


def map_graph(graph: Graph, cfg: CrossbarConfig) -> dict[str, MappedLayer]:
    """Every projection with a weighted op, by projection name."""
    out = {}
    for proj in graph.projections:
        m = map_projection(graph, proj, cfg)
        if m is not None:
            out[proj.name] = m
    return out


def im2col(op: Conv, x: np.ndarray) -> np.ndarray:
    """Conv input ``x`` [B, C, *spatial] → patches [groups, B, P, cin_g·prod(kernel)] (P output positions), rows
    ordered as the weight's [cin_g, *kernel] flattening."""
    patches = op._patches(x)  # [B, C, *out_sp, *k]
    nd = op.ndim
    b, c = patches.shape[:2]
    out_sp = patches.shape[2:2 + nd]
    p = math.prod(out_sp)
    kk = math.prod(op.kernel)
    g = op.groups
    cin_g = c // g
    # -> [B, g, cin_g, P, K] -> [g, B, P, cin_g, K]
    arr = patches.reshape(b, g, cin_g, p, kk).transpose(1, 0, 3, 2, 4)
    return arr.reshape(g, b, p, cin_g * kk)
