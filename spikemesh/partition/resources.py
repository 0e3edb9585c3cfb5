"""Per-core resource accounting against a Target's limits.

Resources of a core (``LogicalCore.use``):

- ``neurons``: neurons whose state the core holds; a partial-sum core counts its accumulators (one per target
  neuron it sums for), which occupy neuron units on a Tianjic-like core.
- ``axons``: distinct presynaptic sources delivered to the core — distinct source neurons over all incoming
  projections (a source feeding the core through two projections counts once), not the synapse count (a Tianjic
  core's fan-in of 256 counts input rows: Pei et al., Nature 572:106, 2019). A merge core's axons are the partial
  sums it receives (one per neuron per partial-sum core).
- ``synapse_bits``: stored weights × ``weight_bits``. **Storage rule** (a target property): by default a core
  stores one weight per synapse — a conv layer's kernel is expanded to per-synapse weights, as Tianjic's crossbar
  does ("unfolded mapping converts all topologies to FC without data reuse", Pei et al. 2019, Extended Data
  Fig. 3). A target that stores each kernel once per core (Speck/DYNAP-CNN style: 16Ki to 64Ki kernel entries per
  core, sinabs ``DynapcnnConfigBuilder.get_constraints``) says so with the feature ``"shared_kernels"`` (or
  ``extra["partition"]["shared_kernels"] = true``); then a conv's bits are (output channels × input channels ×
  kernel taps) of the slice the core holds. Dense, sparse and element-wise synapses are always stored one weight
  each. A merge core stores one unit weight per partial-sum input.
- ``kernel_entries`` / ``neuron_entries`` / ``bias_entries`` are accounted only on cores whose spec sets them.

Heterogeneous targets: designs are checked against the component-wise minimum of the target's distinct core
specs, so every logical core fits every physical core; ``LogicalCore.spec`` then names the first spec index
whose limits it fits (None on homogeneous targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikemesh.errors import PartitionError
from spikemesh.partition.geometry import AX, BITS, KERN, N_COST, SYN, ProjGeom
from spikemesh.target.model import CoreSpec, Target

BIG = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class Limits:
    """Per-core limits the partition designs for (see module docstring)."""

    neurons: int
    axons: int
    synapse_bits: int
    weight_bits: int
    kernel_entries: int | None = None
    neuron_entries: int | None = None
    bias_entries: int | None = None
    shared_kernels: bool = False
    partial_sums: bool = False

    @property
    def cap(self) -> np.ndarray:
        """Caps of the per-unit cost vector (axons, synapse bits, kernel entries, synapses)."""
        c = np.full(N_COST, BIG, dtype=np.int64)
        c[AX] = self.axons
        c[BITS] = self.synapse_bits
        if self.kernel_entries is not None:
            c[KERN] = self.kernel_entries
        return c

    def as_dict(self) -> dict[str, int]:
        return limit_dict(self)


def limit_dict(x: Limits | CoreSpec) -> dict[str, int]:
    """The per-core limits of ``x`` by resource: neurons, axons, synapse bits and the entry counts it sets."""
    d = {"neurons": x.neurons, "axons": x.axons, "synapse_bits": x.synapse_bits}
    for k in ("kernel_entries", "neuron_entries", "bias_entries"):
        v = getattr(x, k)
        if v is not None:
            d[k] = v
    return d


def shared_kernels(target: Target) -> bool:
    return target.supports("shared_kernels") or bool(target.extra.get("partition", {}).get("shared_kernels"))


def _min_opt(vals: list[int | None]) -> int | None:
    got = [v for v in vals if v is not None]
    return min(got) if got else None


def distinct_specs(target: Target) -> list[CoreSpec]:
    if target.cores is None:
        return [target.core]
    out: list[CoreSpec] = []
    for s in target.cores:
        if s not in out:
            out.append(s)
    return out


def limits_for(target: Target) -> Limits:
    specs = distinct_specs(target)
    return Limits(
        neurons=min(s.neurons for s in specs), axons=min(s.axons for s in specs),
        synapse_bits=min(s.synapse_bits for s in specs), weight_bits=max(s.weight_bits for s in specs),
        kernel_entries=_min_opt([s.kernel_entries for s in specs]),
        neuron_entries=_min_opt([s.neuron_entries for s in specs]),
        bias_entries=_min_opt([s.bias_entries for s in specs]),
        shared_kernels=shared_kernels(target), partial_sums=target.supports("partial_sums"),
    )


def spec_index(target: Target, use: dict[str, int]) -> int | None:
    """First per-chip core index whose spec fits ``use`` (None on homogeneous targets)."""
    if target.cores is None:
        return None
    for i, s in enumerate(target.cores):
        if not violations(use, limit_dict(s)):
            return i
    return None


def violations(use: dict[str, int], limits: dict[str, int]) -> list[tuple[str, int, int]]:
    """(resource, used, limit) for every resource over its limit."""
    return [(k, int(use.get(k, 0)), int(v)) for k, v in limits.items() if use.get(k, 0) > v]


# --------------------------------------------------------------------------------------- partial-sum chunks
@dataclass(frozen=True)
class Chunks:
    """Input units of one tile cut into consecutive chunks (greedy, each within the caps).
    ``ranges[j]`` = per projection index, the absolute unit range (u0, u1) of chunk j; ``sums[j]`` its costs."""

    ranges: tuple[dict[int, tuple[int, int]], ...]
    sums: np.ndarray  # [k, N_COST]
    total: np.ndarray  # [N_COST] over all chunks, per projection summed
    per_proj_axons: np.ndarray  # [n_proj]

    @property
    def k(self) -> int:
        return len(self.ranges)


def unit_table(geoms: list[ProjGeom], boxes: list[tuple[int, int, int, int, int, int]], weight_bits: int,
               shared: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated per-unit costs of ``boxes`` (of one layer) over all incoming projections: (costs [U, 4],
    projection index [U], absolute unit [U], increasing per projection, units without a source left out); costs
    of several boxes add (an upper bound of their union)."""
    costs, pidx, units = [], [], []
    for i, g in enumerate(geoms):
        if g.fine:  # single source neurons: only the boxes' sources, not the span between them
            src, cst = _fine_units(g, boxes, weight_bits)
            costs.append(cst)
            pidx.append(np.full(len(src), i, dtype=np.int64))
            units.append(src)
            continue
        parts = [g.unit_costs(b, weight_bits, shared) for b in boxes]
        lo = min(p[0] for p in parts)
        hi = max(p[0] + len(p[1]) for p in parts)
        c = np.zeros((hi - lo, N_COST), dtype=np.int64)
        for start, arr in parts:
            c[start - lo:start - lo + len(arr)] += arr
        keep = np.nonzero(c[:, AX])[0]  # units delivering no source (fine / csr gaps) are left out
        costs.append(c[keep])
        pidx.append(np.full(len(keep), i, dtype=np.int64))
        units.append(lo + keep)
    if not costs:
        return np.zeros((0, N_COST), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(costs), np.concatenate(pidx), np.concatenate(units)


def _fine_units(g: ProjGeom, boxes: list[tuple[int, int, int, int, int, int]], weight_bits: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """A fine projection's units of ``boxes``: the distinct source neurons (sorted) and their summed costs."""
    got = [g.fine_sources(b) for b in boxes]
    src = np.concatenate([s for s, _ in got]) if got else np.zeros(0, np.int64)
    syn = np.concatenate([n for _, n in got]) if got else np.zeros(0, np.int64)
    if len(got) > 1:
        src, inv = np.unique(src, return_inverse=True)
        syn = np.bincount(inv.reshape(-1), weights=syn, minlength=len(src)).astype(np.int64)
    out = np.empty((len(src), N_COST), dtype=np.int64)
    out[:, AX] = 1
    out[:, SYN] = syn
    out[:, KERN] = syn
    out[:, BITS] = syn * weight_bits
    return src.astype(np.int64), out


def chunk(costs: np.ndarray, pidx: np.ndarray, units: np.ndarray, cap: np.ndarray,
          n_proj: int) -> Chunks | None:
    """Greedy consecutive chunks of units within ``cap``; None when one unit alone exceeds a cap."""
    n = len(costs)
    total = costs.sum(axis=0) if n else np.zeros(N_COST, np.int64)
    per_proj = np.bincount(pidx, weights=costs[:, AX], minlength=n_proj) if n else np.zeros(n_proj)
    if n == 0 or np.all(total <= cap):
        seg = np.searchsorted(pidx, np.arange(n_proj + 1))
        return Chunks((_unit_ranges(seg, units, 0, n, n_proj),), total[None, :], total, per_proj)
    cs = np.zeros((n + 1, N_COST), dtype=np.int64)
    np.cumsum(costs, axis=0, out=cs[1:])
    active = [r for r in range(N_COST) if cap[r] < BIG]
    cols = [cs[:, r] for r in active]
    ends: list[int] = []
    start = 0
    while start < n:
        end = n
        for r, col in zip(active, cols):
            e = int(col.searchsorted(cs[start, r] + cap[r], side="right")) - 1
            if e < end:
                end = e
        if end <= start:
            return None
        ends.append(end)
        start = end
    return chunks_from_ends(cs, pidx, units, ends, total, per_proj, n_proj)


def greedy_ends(cs: np.ndarray, caps: np.ndarray, active: list[int]) -> list[int] | None:
    """End unit (exclusive) of each greedy chunk, chunk ``j`` within ``caps[j]``, over the cumulative costs ``cs``
    ([n + 1, N_COST]); None when the chunks do not cover every unit."""
    n = len(cs) - 1
    cols = [cs[:, r] for r in active]
    ends: list[int] = []
    start = 0
    for j in range(len(caps)):
        end = n
        if start < n:
            for r, col in zip(active, cols):
                e = int(col.searchsorted(col[start] + caps[j, r], side="right")) - 1
                if e < end:
                    end = e
            if end < start:
                end = start
        ends.append(end)
        start = end
    return ends if start >= n else None


def _unit_ranges(seg: np.ndarray, units: np.ndarray, start: int, end: int, n_proj: int) -> dict[int, tuple[int, int]]:
    """Per projection p (units ``seg[p] .. seg[p + 1] - 1``): the absolute unit range of its units among
    ``start .. end - 1``, for the projections that have any."""
    rng: dict[int, tuple[int, int]] = {}
    for p in range(n_proj):
        lo, hi = max(start, int(seg[p])), min(end, int(seg[p + 1]))
        if lo < hi:
            rng[p] = (int(units[lo]), int(units[hi - 1]) + 1)
    return rng


def chunks_from_ends(cs: np.ndarray, pidx: np.ndarray, units: np.ndarray, ends: list[int], total: np.ndarray,
                     per_proj: np.ndarray, n_proj: int) -> Chunks:
    """The chunks ending (exclusive) at ``ends`` over the cumulative costs ``cs`` ([n + 1, N_COST])."""
    seg = np.searchsorted(pidx, np.arange(n_proj + 1))  # projection p occupies [seg[p], seg[p+1])
    ranges: list[dict[int, tuple[int, int]]] = []
    sums = np.zeros((len(ends), N_COST), dtype=np.int64)
    start = 0
    for j, end in enumerate(ends):
        ranges.append(_unit_ranges(seg, units, start, end, n_proj))
        sums[j] = cs[end] - cs[start]
        start = end
    return Chunks(tuple(ranges), sums, total, per_proj)


# --------------------------------------------------------------------------------------- infeasibility
@dataclass(frozen=True)
class LayerProblem:
    """Why one layer fits no legal split: the smallest piece (one neuron, or one input unit) needs more of
    ``resource`` than a core has."""

    layer: str
    resource: str
    needed: int
    available: int
    detail: str = ""


class PartitionInfeasible(PartitionError):
    """The graph does not fit. ``problems`` lists every layer that fits no legal split; ``min_cores`` /
    ``min_chips`` / ``min_grid`` say how many cores / chips the model needs when the only problem is the size of
    the target (else None)."""

    def __init__(self, message: str, *, problems: list[LayerProblem] | None = None, min_cores: int | None = None,
                 min_chips: int | None = None, min_grid: tuple[int, int] | None = None,
                 node: str | None = None, needed: object = None, available: object = None,
                 hint: str | None = None) -> None:
        self.problems = list(problems or [])
        self.min_cores = min_cores
        self.min_chips = min_chips
        self.min_grid = min_grid
        super().__init__(message, node=node, needed=needed, available=available, hint=hint)


def raise_layer_problems(problems: list[LayerProblem], limits: Limits) -> None:
    if not problems:
        return
    first = problems[0]
    listing = "; ".join(f"{p.layer}: {p.resource} needed {p.needed} per core, available {p.available}"
                        + (f" ({p.detail})" if p.detail else "") for p in problems)
    hint = ("the target has no 'partial_sums' feature, so a layer's fan-in must fit one core's axons"
            if not limits.partial_sums else "use a target with larger cores or reduce the layer's fan-in")
    raise PartitionInfeasible(
        f"{len(problems)} layer(s) fit no legal split: {listing}", problems=problems, node=first.layer,
        needed=f"{first.resource} {first.needed} per core", available=first.available, hint=hint)


def require_capacity(n_cores: int, target: Target) -> None:
    """Raise when the partition needs more cores than the target has, naming the minimum chips and grid."""
    if n_cores <= target.n_cores:
        return
    chips = math.ceil(n_cores / target.cores_per_chip)
    side = math.ceil(math.sqrt(chips))
    base = target.name.split(":")[0]
    raise PartitionInfeasible(
        f"the model needs {n_cores} cores = {chips} chips of {target.cores_per_chip} cores",
        min_cores=n_cores, min_chips=chips, min_grid=(side, side), node=target.name,
        needed=f"{n_cores} cores ({chips} chips)", available=f"{target.n_cores} cores ({target.n_chips} chips)",
        hint=f"use --target {base}:{side}x{side} or larger")
