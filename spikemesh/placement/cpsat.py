"""CP-SAT models for placement (OR-Tools): exact placement of small instances, chip assignment, and
large-neighbourhood windows. Every call has a time limit and a seed and reports status, objective and bound.

Exact model: per core integer global coordinates X, Y (with chip coordinates X // cores_x, Y // cores_y when
there are several chips), all slots distinct, objective Σ copies × (|ΔX| + |ΔY| + (iw − 1)(|ΔCX| + |ΔCY|)) plus host
inputs from router (0, 0). Objective coefficients are copies scaled to integers (``SCALE``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from spikemesh.placement.problem import Problem, slot_arrays
from spikemesh.placement.topology import Mesh

SCALE = 1000


def solver(time_limit: float, seed: int) -> cp_model.CpSolver:
    """A seeded, reproducible CP-SAT solver: the limit is deterministic time (OR-Tools' machine-independent work
    measure, about seconds), with a wall-clock cap at 3x as a guard; 2 workers interleaved (deterministic)."""
    s = cp_model.CpSolver()
    s.parameters.max_deterministic_time = float(time_limit)
    s.parameters.max_time_in_seconds = 3.0 * float(time_limit)
    s.parameters.random_seed = int(seed)
    s.parameters.num_workers = 2
    s.parameters.interleave_search = True
    return s


def _status(sol: cp_model.CpSolver, code: int, scale: float) -> dict[str, Any]:
    name = sol.status_name(code)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {"status": name}
    obj, bound = sol.objective_value / scale, sol.best_objective_bound / scale
    gap = 0.0 if obj <= 0 else max(0.0, (obj - bound) / obj)
    return {"status": name, "objective": obj, "bound": bound, "gap": gap,
            "deterministic_time": round(sol.deterministic_time, 3)}


def _abs_diff(m: cp_model.CpModel, a: Any, b: Any, ub: int, record: list[tuple[Any, Any, Any]] | None = None) -> Any:
    d = m.new_int_var(0, ub, "")
    m.add_abs_equality(d, a - b)
    if record is not None:
        record.append((d, a, b))
    return d


def _canonical(slot: np.ndarray, mesh: Mesh) -> np.ndarray:
    """The mirror image of a single-chip placement that puts core 0 where the symmetry cut wants it."""
    gx, gy, _, _ = slot_arrays(mesh)
    W, H = mesh.width, mesh.height
    x, y = gx[slot].copy(), gy[slot].copy()
    if 2 * x[0] > W - 1:
        x = W - 1 - x
    if 2 * y[0] > H - 1:
        y = H - 1 - y
    if W == H and x[0] > y[0]:
        x, y = y, x
    at = np.empty(W * H, dtype=np.int64)
    at[gy * W + gx] = np.arange(mesh.n_slots)
    return at[y * W + x]


def exact(problem: Problem, mesh: Mesh, hint: np.ndarray | None, time_limit: float, seed: int
          ) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Optimal (or best found) placement of all cores; returns (slot per core or None, sol info)."""
    m = cp_model.CpModel()
    W, H, iw = mesh.width, mesh.height, mesh.interchip_weight
    n = problem.n
    X = [m.new_int_var(0, W - 1, f"x{c}") for c in range(n)]
    Y = [m.new_int_var(0, H - 1, f"y{c}") for c in range(n)]
    idx = [m.new_int_var(0, W * H - 1, f"i{c}") for c in range(n)]
    for c in range(n):
        m.add(idx[c] == Y[c] * W + X[c])
    m.add_all_different(idx)
    multi = mesh.chips_x * mesh.chips_y > 1
    CX = CY = None
    if multi:
        CX = [m.new_int_var(0, mesh.chips_x - 1, "") for _ in range(n)]
        CY = [m.new_int_var(0, mesh.chips_y - 1, "") for _ in range(n)]
        for c in range(n):
            m.add_division_equality(CX[c], X[c], mesh.cores_x)
            m.add_division_equality(CY[c], Y[c], mesh.cores_y)
    terms = []
    absv: list[tuple[Any, Any, Any]] = []
    per_core: dict[int, list[tuple[int, Any]]] = {}
    for i, j, w in problem.pairs:
        i, j = int(i), int(j)
        k = int(round(w * SCALE))
        if k == 0:
            continue
        d = _abs_diff(m, X[i], X[j], W, absv) + _abs_diff(m, Y[i], Y[j], H, absv)
        m.add(d >= 1)  # distinct slots
        terms.append(k * d)
        per_core.setdefault(i, []).append((k, d))
        per_core.setdefault(j, []).append((k, d))
        if multi:
            kc = int(round(w * SCALE * (iw - 1.0)))
            terms.append(kc * (_abs_diff(m, CX[i], CX[j], mesh.chips_x, absv)
                               + _abs_diff(m, CY[i], CY[j], mesh.chips_y, absv)))
    for c in range(n):
        k = int(round(problem.host_w[c] * SCALE))
        if k:
            terms.append(k * (X[c] + Y[c]))
            if multi:
                terms.append(int(round(problem.host_w[c] * SCALE * (iw - 1.0))) * (CX[c] + CY[c]))
    # degree bound: at most 4r routers lie at distance r, so a core's heaviest 4 neighbours cost >= 1 each, the
    # next 8 >= 2, ... (a valid cut that lets CP-SAT prove optima)
    for edges in per_core.values():
        ks = sorted((k for k, _ in edges), reverse=True)
        bound, r, used = 0, 1, 0
        for k in ks:
            if used == 4 * r:
                r, used = r + 1, 0
            bound += k * r
            used += 1
        m.add(sum(k * d for k, d in edges) >= bound)
    if not multi and not problem.host_w.any() and n:
        # the mesh's mirror symmetries leave the cost unchanged: put core 0 in one quadrant (and below the
        # diagonal on a square mesh)
        m.add(2 * X[0] <= W - 1)
        m.add(2 * Y[0] <= H - 1)
        if W == H:
            m.add(X[0] <= Y[0])
        if hint is not None:
            hint = _canonical(hint, mesh)
    m.minimize(sum(terms))
    if hint is not None:  # a complete hint (every variable), so the search starts from a full solution
        gx, gy, _, _ = slot_arrays(mesh)
        val: dict[Any, int] = {}
        for c in range(n):
            val[X[c].index] = int(gx[hint[c]])
            val[Y[c].index] = int(gy[hint[c]])
            m.add_hint(X[c], val[X[c].index])
            m.add_hint(Y[c], val[Y[c].index])
            m.add_hint(idx[c], val[Y[c].index] * W + val[X[c].index])
            if multi:
                m.add_hint(CX[c], val[X[c].index] // mesh.cores_x)
                m.add_hint(CY[c], val[Y[c].index] // mesh.cores_y)
                val[CX[c].index] = val[X[c].index] // mesh.cores_x
                val[CY[c].index] = val[Y[c].index] // mesh.cores_y
        for d, a, b in absv:
            m.add_hint(d, abs(val[a.index] - val[b.index]))
    sol = solver(time_limit, seed)
    code = sol.solve(m)
    info = _status(sol, code, SCALE)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, info
    gx, gy, _, _ = slot_arrays(mesh)
    at = np.empty(W * H, dtype=np.int64)
    at[gy * W + gx] = np.arange(mesh.n_slots)
    slot = np.array([at[sol.value(Y[c]) * W + sol.value(X[c])] for c in range(n)], dtype=np.int64)
    return slot, info


def chip_assignment(problem: Problem, mesh: Mesh, hint: np.ndarray, time_limit: float, seed: int
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """Chip per core: capacity ``cores_per_chip`` per chip, least Σ copies × chip-grid distance (inter-chip
    traffic), host inputs on chip (0, 0). ``hint``: a feasible chip per core. Returns (chip per core, info)."""
    m = cp_model.CpModel()
    n, k = problem.n, mesh.chips_x * mesh.chips_y
    a = [[m.new_bool_var("") for _ in range(k)] for _ in range(n)]
    for c in range(n):
        m.add_exactly_one(a[c])
    for q in range(k):
        m.add(sum(a[c][q] for c in range(n)) <= mesh.per_chip)
    qx = [q % mesh.chips_x for q in range(k)]
    qy = [q // mesh.chips_x for q in range(k)]
    CX = [m.new_int_var(0, mesh.chips_x - 1, "") for _ in range(n)]
    CY = [m.new_int_var(0, mesh.chips_y - 1, "") for _ in range(n)]
    for c in range(n):
        m.add(CX[c] == sum(qx[q] * a[c][q] for q in range(k)))
        m.add(CY[c] == sum(qy[q] * a[c][q] for q in range(k)))
    terms = []
    for i, j, w in problem.pairs:
        i, j = int(i), int(j)
        kk = int(round(w * SCALE))
        if kk:
            terms.append(kk * (_abs_diff(m, CX[i], CX[j], mesh.chips_x) + _abs_diff(m, CY[i], CY[j], mesh.chips_y)))
    for c in range(n):
        kk = int(round(problem.host_w[c] * SCALE))
        if kk:
            terms.append(kk * (CX[c] + CY[c]))
    m.minimize(sum(terms))
    for c in range(n):
        for q in range(k):
            m.add_hint(a[c][q], int(hint[c] == q))
    sol = solver(time_limit, seed)
    code = sol.solve(m)
    info = _status(sol, code, SCALE)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return np.asarray(hint, dtype=np.int64), info
    chip = np.array([next(q for q in range(k) if sol.value(a[c][q])) for c in range(n)], dtype=np.int64)
    return chip, info


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
    sol = solver(time_limit, seed)
    code = sol.solve(m)
    info = _status(sol, code, SCALE)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return slot, info
    new = slot.copy()
    for i, c in enumerate(inside):
        new[c] = int(slots[next(s for s in range(S) if sol.value(a[i][s]))])
    return new, info
