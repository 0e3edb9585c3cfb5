"""``place``: logical cores onto physical cores. Placers: ``rowmajor``, ``zigzag``, ``neighbor`` (baselines),
``anneal``, ``cpsat`` (exact, small instances) and ``auto`` (chip assignment by CP-SAT → annealing within the
assigned chips → CP-SAT windows around the costliest cores). Every solver call is seeded and time-limited."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from spikemesh.errors import PlacementError
from spikemesh.placement import baselines, chips, cpsat
from spikemesh.placement.anneal import anneal
from spikemesh.placement.problem import Problem, evaluate, slot_arrays
from spikemesh.target.model import Target
from spikemesh.target.topology import Mesh

PLACERS = ("auto", "anneal", "cpsat", "rowmajor", "zigzag", "neighbor")
#: largest instance the exact CP-SAT placer takes (a Manhattan QAP model of a full placement neither improves on
#: annealing nor proves a useful bound within minutes)
CPSAT_MAX_CORES = 30
#: chip assignment by CP-SAT while cores × chips stays below this many booleans; above, chip-level annealing
#: (chips.py: the same objective, capacity kept by construction) decides chips
CHIP_ASSIGN_MAX_VARS = 60_000
#: beyond the CP-SAT chip model: chip-level annealing moves per core, and a cap on the region-constrained slot
#: annealing within chips (measured on ResNet-18, 80,034 cores on 23x23 chips: benchmarks/placement.py --case b)
LARGE_CHIP_MOVES_PER_CORE = 50
LARGE_SLOT_MOVES = 1_000_000
#: ``auto`` anneals once from the start temperature, then reheats from its best placement at 0.1 x that
#: temperature (on conv52k, 4 seeds: mean hop-weighted 284.0k -> 281.2k for twice the moves)
AUTO_REHEATS = 1


@dataclass(frozen=True, eq=False)
class Placement:
    """``coords`` int32 [n_cores, 4] = (chip_x, chip_y, x, y) per logical core; ``report`` is report.json →
    ``placement``."""

    section_type: ClassVar[str] = "placement"  # its registered name in program.json (spikemesh.program)

    coords: np.ndarray
    placer: str
    report: dict[str, Any] = field(default_factory=dict)

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        rep = {k: v for k, v in self.report.items() if k != "seconds"}
        return {"placer": self.placer, "report": rep}, {"coords": np.asarray(self.coords, dtype=np.int32)}

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Placement:
        return cls(np.asarray(arrays["coords"], dtype=np.int32).reshape(-1, 4), str(meta["placer"]),
                   dict(meta.get("report", {})))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Placement) and self.placer == other.placer and np.array_equal(self.coords,
                                                                                               other.coords)

    __hash__ = None  # type: ignore[assignment]


def _within_chips(problem: Problem, mesh: Mesh, chip: np.ndarray) -> np.ndarray:
    """Slots for cores grouped by chip: each chip's cores in index order along the chip's snake."""
    order = baselines.zigzag_order(mesh)
    per_chip: dict[int, list[int]] = {}
    for s in order:
        per_chip.setdefault(int(s) // mesh.per_chip, []).append(int(s))
    slot = np.empty(problem.n, dtype=np.int64)
    used = {q: 0 for q in per_chip}
    for c in range(problem.n):
        q = int(chip[c])
        slot[c] = per_chip[q][used[q]]
        used[q] += 1
    return slot


def _windows(problem: Problem, mesh: Mesh, slot: np.ndarray, keep_chips: bool, budget: float, seed: int,
             count: int = 8, side: int = 3) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """CP-SAT on 3x3 windows around the ``count`` cores with the largest cost share (``budget`` deterministic
    seconds shared between them); keeps strict improvements."""
    gx, gy, cx, cy = slot_arrays(mesh)
    iw = mesh.interchip_weight
    s_i = slot[problem.pairs[:, 0].astype(np.int64)]
    s_j = slot[problem.pairs[:, 1].astype(np.int64)]
    edge = problem.pairs[:, 2] * (np.abs(gx[s_i] - gx[s_j]) + np.abs(gy[s_i] - gy[s_j])
                                  + (iw - 1.0) * (np.abs(cx[s_i] - cx[s_j]) + np.abs(cy[s_i] - cy[s_j])))
    share = np.bincount(problem.pairs[:, 0].astype(np.int64), weights=edge, minlength=problem.n)
    share += np.bincount(problem.pairs[:, 1].astype(np.int64), weights=edge, minlength=problem.n)
    infos: list[dict[str, Any]] = []
    for c in np.argsort(-share, kind="stable")[:count]:
        s0 = slot[c]
        x0 = min(max(0, int(gx[s0]) - (side - 1) // 2), max(0, mesh.width - side))
        y0 = min(max(0, int(gy[s0]) - (side - 1) // 2), max(0, mesh.height - side))
        near = (gx >= x0) & (gx < x0 + side) & (gy >= y0) & (gy < y0 + side)
        if keep_chips:
            near &= (np.arange(mesh.n_slots) // mesh.per_chip) == s0 // mesh.per_chip
        before = evaluate(problem, slot, mesh)["cost"]
        new, info = cpsat.window(problem, mesh, slot, np.flatnonzero(near), budget / count, seed)
        after = evaluate(problem, new, mesh)["cost"]
        info = {"core": int(c), **info, "gain": before - after}
        if after < before - 1e-9:
            slot = new
        infos.append(info)
    return slot, infos


def best_of_anneals(problem: Problem, mesh: Mesh, start: np.ndarray, region: np.ndarray | None, seed: int,
                    runs: int, **kw: Any) -> np.ndarray:
    """The cheapest of ``runs`` annealing runs from ``start`` with seeds seed, seed + 1, ... (first wins ties)."""
    best, cost = start, np.inf
    for r in range(runs):
        s = anneal(problem, mesh, start, region=region, seed=seed + r, **kw)
        c = evaluate(problem, s, mesh)["cost"]
        if c < cost - 1e-9:
            best, cost = s, c
    return best


def place_slots(problem: Problem, mesh: Mesh, placer: str, seed: int, time_limit: float) -> tuple[np.ndarray,
                                                                                                 dict[str, Any]]:
    """Slot per logical core, plus solver details."""
    info: dict[str, Any] = {}
    if placer == "rowmajor":
        return baselines.rowmajor(problem, mesh), info
    if placer == "zigzag":
        return baselines.zigzag(problem, mesh), info
    if placer == "neighbor":
        return baselines.neighbor(problem, mesh), info
    if placer == "anneal":
        return anneal(problem, mesh, baselines.zigzag(problem, mesh), seed=seed), info
    if placer == "cpsat":
        if problem.n > CPSAT_MAX_CORES:
            raise PlacementError("the exact CP-SAT placer takes small instances only", node="placer cpsat",
                                 needed=f"<= {CPSAT_MAX_CORES} cores", available=problem.n,
                                 hint="use --placer auto (annealing + CP-SAT windows) for large models")
        hint = best_of_anneals(problem, mesh, baselines.zigzag(problem, mesh), None, seed, runs=4)
        return cpsat.exact(problem, mesh, hint, time_limit, seed)
    # auto
    n_chips = mesh.chips_x * mesh.chips_y
    zz = baselines.zigzag(problem, mesh)
    region: np.ndarray | None = None
    moves: dict[str, int] = {}
    if n_chips > 1:
        hint_chip = zz // mesh.per_chip
        if problem.n * n_chips <= CHIP_ASSIGN_MAX_VARS:
            chip, info["chip_assignment"] = cpsat.chip_assignment(problem, mesh, hint_chip, time_limit, seed)
            region = chip
            start = _within_chips(problem, mesh, chip)
        else:
            t0 = time.perf_counter()
            chip = chips.anneal_chips(problem, mesh, hint_chip, seed=seed, moves_per_core=LARGE_CHIP_MOVES_PER_CORE)
            info["chip_assignment"] = {
                "status": "chip-level annealing", "why": f"{problem.n} cores x {n_chips} chips exceeds "
                f"{CHIP_ASSIGN_MAX_VARS} CP-SAT booleans", "start_interchip": chips.chip_cost(problem, mesh, hint_chip),
                "interchip": chips.chip_cost(problem, mesh, chip), "seconds": round(time.perf_counter() - t0, 3)}
            region = chip
            start = _within_chips(problem, mesh, chip)
            moves["max_moves"] = LARGE_SLOT_MOVES
    else:
        start = zz
    slot = anneal(problem, mesh, start, region=region, seed=seed, reheats=AUTO_REHEATS, reheat_scale=0.1, **moves)
    slot, wins = _windows(problem, mesh, slot, region is not None, min(time_limit, 2.0), seed)
    info["windows"] = {"solved": len(wins), "improved": sum(1 for w in wins if w.get("gain", 0) > 1e-9),
                       "gain": float(sum(max(0.0, w.get("gain", 0.0)) for w in wins)),
                       "optimal": sum(1 for w in wins if w.get("status") == "OPTIMAL")}
    return slot, info


def place(n_cores: int, traffic: np.ndarray, target: Target, placer: str = "auto", seed: int = 0,
          time_limit: float = 10.0) -> Placement:
    """Place ``n_cores`` logical cores with ``traffic`` [E, 3] (source, destination, copies per step; negative
    source = graph input entering at chip (0, 0) router (0, 0)) on ``target``."""
    t0 = time.perf_counter()
    if placer not in PLACERS:
        raise PlacementError(f"unknown placer {placer!r}", node="placer", needed=" | ".join(PLACERS),
                             available=placer)
    mesh = Mesh.of(target)
    if n_cores > mesh.n_slots:
        raise PlacementError("more logical cores than the target has", node=target.name, needed=n_cores,
                             available=mesh.n_slots, hint="use a larger chip grid, e.g. NAME:AxB")
    problem = Problem.of(n_cores, traffic)
    slot, info = place_slots(problem, mesh, placer, seed, time_limit)
    if len(np.unique(slot)) != n_cores:
        raise PlacementError("placer put two cores on one slot", node=f"placer {placer}")
    coords = mesh.slot_coords()[slot]
    rep = {"placer": placer, **evaluate(problem, slot, mesh), "solver": info,
           "seconds": round(time.perf_counter() - t0, 6)}
    return Placement(coords=coords, placer=placer, report=rep)
