"""``place``: logical cores onto physical cores. Placers: ``rowmajor``, ``zigzag``, ``neighbor`` (baselines),
``anneal``, ``cpsat`` (exact, small instances) and ``auto``: on one chip, annealing from the zigzag order; on
several, two candidates, the cheaper kept — (a) chips by the best of ``CHIP_RESTARTS`` chip-level annealing runs
(chips.py), then annealing within the assigned chips (region-constrained), and (b) annealing over
every slot from the zigzag order (the chip-level objective ignores hops inside a chip, so neither wins everywhere:
on snn2conv (a) wins on tianjic:2x2 and (b) on tianjic:3x3) — then CP-SAT windows around the costliest cores.
A CP-SAT chip-assignment model ended FEASIBLE at gap 0.9 after 70 s on snn2conv, worse than the chip
annealing's 0.3 s, so it is not used.

``time_limit`` is the place stage's share of the compile's budget (spikemesh.budget): annealing gets
``ANNEAL_SHARE`` of it as moves (at most its default moves), the windows what is left; every call is seeded and
its deterministic work charged to ``report["budget"]``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from spikemesh.budget import ANNEAL_MOVES_PER_SECOND, StageBudget, cpsat_charge, cpsat_seconds
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
#: up to this many cores × chips, ``auto`` tries both candidates of the module docstring and restarts the
#: chip-level annealing; above, one chip-level annealing run decides the chips (candidate (a) only)
CHIP_ASSIGN_MAX_VARS = 60_000
#: chip-level annealing restarts (seeds seed·1000 + r) and moves per core of each: on snn2conv 32 × 300 reached
#: 3,100-3,900 inter-chip copies where single runs spread over 3,100-7,700 (more moves per run did not help)
CHIP_RESTARTS = 32
CHIP_MOVES_PER_CORE = 300
#: share of the place stage's budget the chip-level annealing restarts may take
CHIP_SHARE = 0.15
#: share of the place stage's budget for the slot annealing (the CP-SAT windows get what it leaves)
ANNEAL_SHARE = 0.85
#: the windows' CP-SAT work, in deterministic seconds, is at most this
WINDOWS_MAX_DET = 2.0
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
    if budget <= 0:
        return slot, infos
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


def _anneal_moves(problem: Problem, budget: StageBudget, runs: int, reheats: int, max_moves: int) -> int:
    """Moves per annealing schedule: the default (``anneal``'s moves per core, at most ``max_moves``) unless the
    budget's annealing share, split over ``runs`` × (1 + ``reheats``) schedules, allows fewer."""
    default = min(max_moves, ANNEAL_DEFAULT_MOVES_PER_CORE * max(1, problem.n))
    afford = int(ANNEAL_MOVES_PER_SECOND * budget.share(ANNEAL_SHARE) / (runs * (1 + reheats)))
    return max(0, min(default, afford))


#: ``anneal``'s default moves per core (kept as the cap when the budget is larger)
ANNEAL_DEFAULT_MOVES_PER_CORE = 20_000


def _chips(problem: Problem, mesh: Mesh, start: np.ndarray, seed: int, restarts: int, moves_per_core: int,
           budget: StageBudget) -> tuple[np.ndarray, dict[str, Any]]:
    """The cheapest chip assignment of up to ``restarts`` chip-level annealing runs from ``start`` (first wins
    ties): as many as ``CHIP_SHARE`` of the budget affords, at least one."""
    afford = int(ANNEAL_MOVES_PER_SECOND * budget.share(CHIP_SHARE) / max(1, moves_per_core * problem.n))
    restarts = max(1, min(restarts, afford))
    best, cost = np.asarray(start, dtype=np.int64), chips.chip_cost(problem, mesh, start)
    start_cost = cost
    for r in range(restarts):
        c = chips.anneal_chips(problem, mesh, start, seed=seed * 1000 + r, moves_per_core=moves_per_core)
        got = chips.chip_cost(problem, mesh, c)
        if got < cost - 1e-9:
            best, cost = c, got
    moves = restarts * moves_per_core * problem.n
    budget.charge("chip-level annealing", moves / ANNEAL_MOVES_PER_SECOND, "limit", moves=moves)
    return best, {"status": "chip-level annealing", "restarts": restarts, "moves_per_core": moves_per_core,
                  "start_interchip": start_cost, "interchip": cost}


def place_slots(problem: Problem, mesh: Mesh, placer: str, seed: int, time_limit: float,
                budget: StageBudget | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Slot per logical core, plus solver details; solver work is charged to ``budget`` (a new one of
    ``time_limit`` seconds when None)."""
    budget = StageBudget(float(time_limit)) if budget is None else budget
    info: dict[str, Any] = {}
    if placer == "rowmajor":
        return baselines.rowmajor(problem, mesh), info
    if placer == "zigzag":
        return baselines.zigzag(problem, mesh), info
    if placer == "neighbor":
        return baselines.neighbor(problem, mesh), info
    if placer == "anneal":
        moves = _anneal_moves(problem, budget, 1, 0, 20_000_000)
        budget.charge("annealing", moves / ANNEAL_MOVES_PER_SECOND, "limit", moves=moves)
        return anneal(problem, mesh, baselines.zigzag(problem, mesh), seed=seed, max_moves=moves), info
    if placer == "cpsat":
        if problem.n > CPSAT_MAX_CORES:
            raise PlacementError("the exact CP-SAT placer takes small instances only", node="placer cpsat",
                                 needed=f"<= {CPSAT_MAX_CORES} cores", available=f"{problem.n} cores",
                                 hint="use --placer auto (annealing + CP-SAT windows) for large models")
        hint = best_of_anneals(problem, mesh, baselines.zigzag(problem, mesh), None, seed, runs=4)
        slot, info = cpsat.exact(problem, mesh, hint, time_limit, seed)
        work = (info.get("cut_search", {}).get("work", 0) / max(1, cpsat.CUT_WORK_PER_SECOND)
                + info.get("branch_and_bound", {}).get("nodes", 0) / max(1, cpsat.BNB_WORK_PER_SECOND)
                + info.get("cp_sat", {}).get("deterministic_time", 0.0))  # exact() grants CP-SAT budget seconds as-is
        budget.charge("exact placement", work, "optimal" if info["status"] == "OPTIMAL" else "limit",
                      prover=info.get("prover"))
        return slot, info
    # auto
    n_chips = mesh.chips_x * mesh.chips_y
    zz = baselines.zigzag(problem, mesh)
    reheats = AUTO_REHEATS
    if n_chips == 1:
        moves = _anneal_moves(problem, budget, 1, reheats, 20_000_000)
        slot = anneal(problem, mesh, zz, seed=seed, reheats=reheats, reheat_scale=0.1, max_moves=moves)
        budget.charge("annealing", moves * (1 + reheats) / ANNEAL_MOVES_PER_SECOND, "limit", moves=moves)
        region = None
    else:
        small = problem.n * n_chips <= CHIP_ASSIGN_MAX_VARS
        if small:
            chip, info["chip_assignment"] = _chips(problem, mesh, zz // mesh.per_chip, seed, CHIP_RESTARTS,
                                                   CHIP_MOVES_PER_CORE, budget)
        else:
            t0 = time.perf_counter()
            chip, info["chip_assignment"] = _chips(problem, mesh, zz // mesh.per_chip, seed, 1,
                                                   LARGE_CHIP_MOVES_PER_CORE, budget)
            info["chip_assignment"].update(
                why=f"{problem.n} cores x {n_chips} chips exceeds {CHIP_ASSIGN_MAX_VARS}: one run",
                seconds=round(time.perf_counter() - t0, 3))
        runs = 2 if small else 1
        moves = _anneal_moves(problem, budget, runs, reheats, 20_000_000 if small else LARGE_SLOT_MOVES)
        slot = anneal(problem, mesh, _within_chips(problem, mesh, chip), region=chip, seed=seed, reheats=reheats,
                      reheat_scale=0.1, max_moves=moves)
        region = chip
        if small:
            free = anneal(problem, mesh, zz, seed=seed, reheats=reheats, reheat_scale=0.1, max_moves=moves)
            a, b = evaluate(problem, slot, mesh)["cost"], evaluate(problem, free, mesh)["cost"]
            info["candidates"] = {"chips_then_slots": a, "all_slots": b, "chosen": "chips_then_slots" if a <= b
                                  else "all_slots"}
            if b < a:
                slot, region = free, None
        budget.charge("annealing", runs * moves * (1 + reheats) / ANNEAL_MOVES_PER_SECOND, "limit",
                      moves=runs * moves * (1 + reheats))
    det = min(WINDOWS_MAX_DET, cpsat_seconds(budget.left))
    slot, wins = _windows(problem, mesh, slot, region is not None, det, seed)
    if wins:
        budget.charge("CP-SAT windows", cpsat_charge(det), "optimal" if all(
            w.get("status") in ("OPTIMAL", "SKIPPED") for w in wins) else "limit", windows=len(wins))
    info["windows"] = {"solved": len(wins), "improved": sum(1 for w in wins if w.get("gain", 0) > 1e-9),
                       "gain": float(sum(max(0.0, w.get("gain", 0.0)) for w in wins)),
                       "optimal": sum(1 for w in wins if w.get("status") == "OPTIMAL")}
    return slot, info


def place(n_cores: int, traffic: np.ndarray, target: Target, placer: str = "auto", seed: int = 0,
          time_limit: float = 10.0) -> Placement:
    """Place ``n_cores`` logical cores with ``traffic`` [E, 3] (source, destination, copies per step; negative
    source = graph input entering at chip (0, 0) router (0, 0)) on ``target``; ``time_limit``: seconds of the
    budget (module docstring)."""
    t0 = time.perf_counter()
    if placer not in PLACERS:
        raise PlacementError(f"unknown placer {placer!r}", node="placer", needed=" | ".join(PLACERS),
                             available=placer)
    mesh = Mesh.of(target)
    if n_cores > mesh.n_slots:
        raise PlacementError("more logical cores than the target has", node=target.name, needed=n_cores,
                             available=mesh.n_slots, hint="use a larger chip grid, e.g. NAME:AxB")
    problem = Problem.of(n_cores, traffic)
    budget = StageBudget(float(time_limit))
    slot, info = place_slots(problem, mesh, placer, seed, time_limit, budget)
    if len(np.unique(slot)) != n_cores:
        raise PlacementError("placer put two cores on one slot", node=f"placer {placer}")
    coords = mesh.slot_coords()[slot]
    rep = {"placer": placer, **evaluate(problem, slot, mesh), "solver": info, "budget": budget.report(),
           "seconds": round(time.perf_counter() - t0, 6)}
    return Placement(coords=coords, placer=placer, report=rep)
