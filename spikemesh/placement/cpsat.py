"""CP-SAT models for placement (OR-Tools): exact placement of small instances and large-neighbourhood windows.
Every call has a time limit and a seed and reports status, objective and bound.

Exact placement (``exact``): on meshes of at most ``cutsearch.MAX_SLOTS`` slots the search over column and row
cuts of ``cutsearch`` first, then the branch and bound of ``bnb`` (each with a deterministic work budget); when
neither finishes, a CP-SAT model reports the best placement and a bound: a boolean per (core, slot), per-axis
coordinates channelled from them, |Δ| per axis only for pairs with traffic (domains 0..length-1), a
Gilmore–Lawler row per core (bounds.gilmore_lawler), each axis at least its exact 1-D optimum
(bounds.axis_bound), the mesh symmetries broken on the heaviest cores and twin cores on increasing slots.
Objective Σ copies × (|ΔX| + |ΔY| + (iw − 1)(|ΔCX| + |ΔCY|)) plus host inputs from router (0, 0); coefficients are
copies scaled to integers (``SCALE``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from spikemesh.budget import cpsat_solver, solve
from spikemesh.placement import bnb, bounds, cutsearch
from spikemesh.placement.problem import Problem, evaluate, slot_arrays
from spikemesh.target.topology import Mesh

SCALE = 1000
#: wall-clock cap of a CP-SAT call, in multiples of its deterministic limit (at load 10 on 2 cores one
#: deterministic second can take ~4 wall seconds; a cap that close makes answers load-dependent)
WALL_GUARD = 10.0
#: branch-and-bound work units (bnb.solve) per second of time limit: a deterministic budget, set from ~60e6
#: units/s measured on 16-core instances at load ~9 on 2 cores (faster on a quiet machine)
BNB_WORK_PER_SECOND = 60_000_000
#: share of the time limit given to branch and bound; CP-SAT gets the rest when the search does not finish
BNB_SHARE = 0.8
#: cut-search work units (cutsearch.solve: column subsets and row-DP steps) per second of time limit, set from
#: 35-55e6 units/s measured on the 16-core instances of benchmarks/placement.py (c) on a quiet machine, cut for load
CUT_WORK_PER_SECOND = 18_000_000
#: share of the time limit given to the cut search where it applies; the branch and bound then CP-SAT share the rest
CUT_SHARE = 0.5


def solver(time_limit: float, seed: int, workers: int = 2) -> cp_model.CpSolver:
    """A seeded, reproducible CP-SAT solver: the limit is deterministic time (OR-Tools' machine-independent work
    measure, about seconds), with a wall-clock cap (``WALL_GUARD`` x) only as a guard against a stuck run;
    ``workers`` interleaved (deterministic), or one. A run stopped by the guard is marked ``"wall_capped": True``
    in its info (then, and only then, the answer may depend on the machine's load)."""
    s = cpsat_solver(seed, workers)
    s.parameters.max_deterministic_time = float(time_limit)
    s.parameters.max_time_in_seconds = WALL_GUARD * float(time_limit)
    # interleaved workers check the deterministic limit only between batches: on the exact model 0.4
    # deterministic s overran to the wall guard (a load-dependent answer), so small models take one worker
    s.parameters.interleave_search = workers > 1
    return s


def _status(sol: cp_model.CpSolver, code: int, scale: float) -> dict[str, Any]:
    name = sol.status_name(code)
    capped = sol.wall_time >= 0.99 * sol.parameters.max_time_in_seconds
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {"status": name, "wall_capped": capped}
    obj, bound = sol.objective_value / scale, sol.best_objective_bound / scale
    gap = 0.0 if obj <= 0 else max(0.0, (obj - bound) / obj)
    return {"status": name, "objective": obj, "bound": bound, "gap": gap,
            "deterministic_time": round(sol.deterministic_time, 3), "wall_capped": capped}


def _abs_diff(m: cp_model.CpModel, a: Any, b: Any, ub: int, record: list[tuple[Any, Any, Any]] | None = None) -> Any:
    d = m.new_int_var(0, ub, "")
    m.add_abs_equality(d, a - b)
    if record is not None:
        record.append((d, a, b))
    return d


def _symmetry_cuts(m: cp_model.CpModel, x: list[list[Any]], problem: Problem, mesh: Mesh,
                   hint: np.ndarray | None) -> tuple[int, np.ndarray | None]:
    """Break the symmetries that keep the cost. Twin cores (bnb.twins) sit on increasing slots. Among cores
    without twins, the heaviest sits on the least slot of its orbit under the mesh symmetries, and when that slot
    is fixed by some of them, the next heaviest on the least slot of its orbit under those. Returns (number of
    mesh symmetries, the hint mapped into the cut region)."""
    n, S = problem.n, mesh.n_slots
    cls = bnb.twins(problem)
    for c in range(n):
        if cls[c] != c:  # twin of an earlier core: a later slot
            prev = max(d for d in range(c) if cls[d] == cls[c])
            m.add(sum(s * x[c][s] for s in range(S)) > sum(s * x[prev][s] for s in range(S)))
    group = bounds.symmetries(mesh, host=bool(problem.host_w.any()))
    size = np.bincount(cls, minlength=n)
    load = np.bincount(problem.pairs[:, 0].astype(np.int64), weights=problem.pairs[:, 2], minlength=n)
    load += np.bincount(problem.pairs[:, 1].astype(np.int64), weights=problem.pairs[:, 2], minlength=n)
    single = [int(c) for c in np.argsort(-load, kind="stable") if size[cls[c]] == 1]
    G = np.stack(group)  # [g, S]
    allowed: dict[int, np.ndarray] = {}
    if len(group) > 1 and single:
        p, q = single[0], (single[1] if len(single) > 1 else None)
        for s in range(S):
            if G[:, s].min() < s:
                m.add(x[p][s] == 0)
                continue
            stab = G[G[:, s] == s]
            if len(stab) > 1 and q is not None:
                for t in range(S):
                    if stab[:, t].min() < t:
                        m.add_implication(x[p][s], x[q][t].negated())
            allowed[s] = stab
        if hint is not None:
            for g in G:
                h = g[hint]
                if int(h[p]) in allowed and (q is None or allowed[int(h[p])][:, int(h[q])].min() == int(h[q])):
                    hint = h
                    break
    if hint is not None:
        hint = np.asarray(hint).copy()
        for k in np.unique(cls[size[cls] > 1]):
            members = np.flatnonzero(cls == k)
            hint[members] = np.sort(hint[members])
    return len(group), hint


def exact(problem: Problem, mesh: Mesh, hint: np.ndarray, time_limit: float, seed: int
          ) -> tuple[np.ndarray, dict[str, Any]]:
    """Optimal placement of all cores, or the best found with a bound: on small meshes the cut search with
    ``CUT_WORK_PER_SECOND × CUT_SHARE × time_limit`` work units, then branch and bound with
    ``BNB_WORK_PER_SECOND × BNB_SHARE`` × the rest (each proves the optimum when it finishes), else CP-SAT for what
    remains (deterministic seconds). ``hint``: a placement (upper bound). Returns (slot per core, info)."""
    best = hint
    obj = evaluate(problem, best, mesh)["cost"]
    info: dict[str, Any] = {}
    bounds_found = [0.0]
    if cutsearch.applies(problem, mesh):
        rc = cutsearch.solve(problem, mesh, obj, max_work=int(CUT_WORK_PER_SECOND * CUT_SHARE * time_limit))
        info["cut_search"] = {"work": rc.work, "finished": rc.proven, "root_bound": rc.root_bound}
        bounds_found.append(rc.root_bound)
        if rc.slot is not None:
            best, obj = rc.slot, evaluate(problem, rc.slot, mesh)["cost"]
        if rc.proven:
            return best, {"status": "OPTIMAL", "objective": obj, "bound": obj, "gap": 0.0, "prover": "cut search",
                          **info}
        time_limit *= 1.0 - CUT_SHARE
    r = bnb.solve(problem, mesh, obj, max_work=int(BNB_WORK_PER_SECOND * BNB_SHARE * time_limit))
    if r.slot is not None:
        best, obj = r.slot, evaluate(problem, r.slot, mesh)["cost"]
    info["branch_and_bound"] = {"nodes": r.nodes, "finished": r.proven, "root_bound": r.root_bound}
    if r.proven:
        return best, {"status": "OPTIMAL", "objective": obj, "bound": obj, "gap": 0.0,
                      "prover": "branch-and-bound", **info}
    slot, cp = _cpsat_exact(problem, mesh, best, time_limit * (1.0 - BNB_SHARE), seed)
    if slot is not None and evaluate(problem, slot, mesh)["cost"] < obj - 1e-9:
        best, obj = slot, evaluate(problem, slot, mesh)["cost"]
    bound = max([*bounds_found, r.root_bound, cp.get("bound", 0.0),
                 sum(b or 0.0 for b in cp.get("axis_bounds", []))])
    status = "OPTIMAL" if cp.get("status") == "OPTIMAL" or bound >= obj - 1e-9 else "FEASIBLE"
    return best, {"status": status, "objective": obj, "bound": min(bound, obj),
                  "gap": 0.0 if obj <= 0 else max(0.0, (obj - bound) / obj), "prover": "cp-sat",
                  "cp_sat": cp, **info}


def _cpsat_exact(problem: Problem, mesh: Mesh, hint: np.ndarray | None, time_limit: float, seed: int
                 ) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The CP-SAT model of the module docstring; returns (slot per core or None, solver info)."""
    m = cp_model.CpModel()
    n, S = problem.n, mesh.n_slots
    gx, gy, cx, cy = slot_arrays(mesh)
    iw = mesh.interchip_weight
    multi = mesh.chips_x * mesh.chips_y > 1
    x = [[m.new_bool_var(f"a{c}_{s}") for s in range(S)] for c in range(n)]
    for c in range(n):
        m.add_exactly_one(x[c])
    for s in range(S):
        m.add_at_most_one(x[c][s] for c in range(n))
    axes = [(gx, mesh.width, 1.0), (gy, mesh.height, 1.0)]
    if multi:
        axes += [(cx, mesh.chips_x, iw - 1.0), (cy, mesh.chips_y, iw - 1.0)]
    coord = []
    for v, size, _ in axes:
        cv = [m.new_int_var(0, size - 1, "") for _ in range(n)]
        for c in range(n):
            m.add(cv[c] == sum(int(v[s]) * x[c][s] for s in range(S) if v[s]))
        coord.append(cv)
    axis_terms: list[list[Any]] = [[] for _ in axes]
    per_core: dict[int, list[Any]] = {}
    for i, j, w in problem.pairs:
        i, j = int(i), int(j)
        d_all = []
        for a, (_, size, f) in enumerate(axes):
            k = int(round(w * f * SCALE))
            d = m.new_int_var(0, size - 1, "")
            m.add_abs_equality(d, coord[a][i] - coord[a][j])
            axis_terms[a].append(k * d)
            d_all.append(k * d)
        per_core.setdefault(i, []).extend(d_all)
        per_core.setdefault(j, []).extend(d_all)
    for c in range(n):
        if problem.host_w[c]:
            for a, (_, _, f) in enumerate(axes):
                axis_terms[a].append(int(round(problem.host_w[c] * f * SCALE)) * coord[a][c])
    # Gilmore–Lawler per (core, slot): a core's edges cost at least l[c, s] when it sits on s
    gl = np.floor(bounds.gilmore_lawler(problem, mesh) * SCALE + 1e-6).astype(np.int64)
    for c, terms in per_core.items():
        m.add(sum(terms) >= sum(int(gl[c, s]) * x[c][s] for s in range(S) if gl[c, s]))
    # per axis: the exact 1-D optimum of that axis alone
    axis_lb = [bounds.axis_bound(problem, mesh, 0), bounds.axis_bound(problem, mesh, 1)]
    for a, lb in enumerate(axis_lb):
        terms = axis_terms[a] + (axis_terms[a + 2] if multi else [])
        if lb is not None and terms:
            m.add(sum(terms) >= int(np.floor(lb * SCALE + 1e-6)))
    n_sym, hint = _symmetry_cuts(m, x, problem, mesh, hint)
    m.minimize(sum(t for terms in axis_terms for t in terms))
    if hint is not None:
        for c in range(n):
            for s in range(S):
                m.add_hint(x[c][s], int(hint[c] == s))
    sol = solver(time_limit, seed, workers=1)
    code = solve(sol, m)
    info = _status(sol, code, SCALE)
    info.update({"symmetries": n_sym, "axis_bounds": axis_lb})
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, info
    slot = np.array([next(s for s in range(S) if sol.boolean_value(x[c][s])) for c in range(n)], dtype=np.int64)
    return slot, info


def window(problem: Problem, mesh: Mesh, slot: np.ndarray, slots: np.ndarray, time_limit: float, seed: int
           ) -> tuple[np.ndarray, dict[str, Any]]:
    """Re-place exactly the cores sitting on ``slots`` among those slots (others fixed): an assignment model
    with per-(core, slot) external costs and |Δ| terms for edges inside the window. Returns the new slot array
    (unchanged unless strictly better) and the sol info."""
    gx, gy, cx, cy = slot_arrays(mesh)
    iw = mesh.interchip_weight
    core_at = np.full(mesh.n_slots, -1, dtype=np.int64)
    core_at[slot] = np.arange(problem.n)
    inside = [int(c) for c in core_at[slots] if c >= 0]
    if len(inside) < 2:
        return slot, {"status": "SKIPPED"}
    pos = {c: i for i, c in enumerate(inside)}
    S = len(slots)

    def dist(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        return (np.abs(gx[a] - gx[b]) + np.abs(gy[a] - gy[b]) + (iw - 1.0) * (np.abs(cx[a] - cx[b])
                                                                            + np.abs(cy[a] - cy[b])))

    ext = np.zeros((len(inside), S))
    internal: list[tuple[int, int, float]] = []
    for c in inside:
        ext[pos[c]] += problem.host_w[c] * dist(slots, 0 * slots)
        for kk in range(problem.indptr[c], problem.indptr[c + 1]):
            j, w = int(problem.nbr[kk]), float(problem.w[kk])
            if j in pos:
                if c < j:
                    internal.append((pos[c], pos[j], w))
            else:
                ext[pos[c]] += w * dist(slots, np.full(S, slot[j]))
    m = cp_model.CpModel()
    a = [[m.new_bool_var("") for _ in range(S)] for _ in inside]
    for i in range(len(inside)):
        m.add_exactly_one(a[i])
    for s in range(S):
        m.add_at_most_one(a[i][s] for i in range(len(inside)))
    sx, sy = gx[slots], gy[slots]
    scx, scy = cx[slots], cy[slots]
    terms = [int(round(ext[i, s] * SCALE)) * a[i][s] for i in range(len(inside)) for s in range(S)]
    coord = {}
    for i in range(len(inside)):
        coord[i] = [sum(int(v[s]) * a[i][s] for s in range(S)) for v in (sx, sy, scx, scy)]
    for i, j, w in internal:
        for d, ub, f in ((0, mesh.width, 1.0), (1, mesh.height, 1.0), (2, mesh.chips_x, iw - 1.0),
                         (3, mesh.chips_y, iw - 1.0)):
            k = int(round(w * f * SCALE))
            if k:
                terms.append(k * _abs_diff(m, coord[i][d], coord[j][d], ub))
    m.minimize(sum(terms))
    where = {int(s): q for q, s in enumerate(slots)}
    for i, c in enumerate(inside):
        for s in range(S):
            m.add_hint(a[i][s], int(where[int(slot[c])] == s))
    sol = solver(time_limit, seed, workers=1)
    code = solve(sol, m)
    info = _status(sol, code, SCALE)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return slot, info
    new = slot.copy()
    for i, c in enumerate(inside):
        new[c] = int(slots[next(s for s in range(S) if sol.value(a[i][s]))])
    return new, info
