"""``groups``: the network-group optimiser after Yang et al. (IEEE TETCI 2024): per layer choose the split
(output-channel × row × column block sizes; a tile whose fan-in exceeds a core becomes a partial-sum tree over
input-channel chunks where the target has "partial_sums", plan.py), and which small layers share a core;
minimise cores first, remote spike copies second, under every core limit.

Why the search decomposes: a layer's cores depend only on its own split, and with spikes counted once per
distinct destination core, the remote copies a projection causes are the (rate-weighted) distinct sources of each
consumer core — they depend only on the *consumer's* split (plus its partial-sum forwards). So

1. **split choice — exact enumeration** per layer over every distinct block-size triple (``sizes()`` per axis) with
   at most a core's neurons per tile, each checked exactly (tiles planned per cost class, ``tiles.grid_plan``),
   choosing the lexicographic minimum (cores, estimated copies). This is exact (gap 0) for the split stage when
   it finishes within its budget (``EVALS_PER_SECOND × SPLIT_SHARE × time_limit`` evaluations — counted, not
   timed, so results are reproducible); otherwise the best split found so far is kept and ``split_optimal`` is
   false.
2. **core sharing — CP-SAT**: layers whose best split is a single core are bin-packed into shared cores
   (neurons, axons, synapse bits and entry memories summed — an upper bound of the exact union, which the build
   then recomputes), minimising cores first and remote copies second (a projection between two layers on one core
   becomes local). Seeded, 1 worker, what the split search left of ``time_limit`` in CP-SAT's deterministic time
   (``budget.cpsat_seconds``, reproducible); the CP-SAT status, objective and bound are reported.

``time_limit`` is the partition stage's share of the compile's budget (spikemesh.budget); the report's ``budget``
says what each call spent and whether it stopped at its limit.
"""

from __future__ import annotations

from typing import Any

from spikemesh.budget import StageBudget, cpsat_seconds, cpsat_solver, solve
from spikemesh.partition.build import Draft
from spikemesh.partition.geometry import ProjGeom, box_volume
from spikemesh.partition.resources import LayerProblem, Limits
from spikemesh.partition.tiles import GridPlan, Split, grid_drafts, grid_plan, sizes

#: split evaluations (grid plans) granted per second of ``time_limit``: the search budget is counted in evaluations,
#: not wall time, so the same inputs and seed give the same partition on a loaded machine (1,160/s on ResNet-18 at
#: load 4.6 on 2 cores, ~2,300/s at load 3)
EVALS_PER_SECOND = 1500
#: share of ``time_limit`` for the split search; core sharing (CP-SAT) gets what it leaves
SPLIT_SHARE = 0.9


def candidates(view: tuple[int, int, int], neurons: int) -> list[Split]:
    """Every distinct block-size triple with at most ``neurons`` per tile, big tiles first (they tend to be best,
    so a budget-limited search keeps a good one)."""
    c, h, w = view
    cands: list[Split] = []
    for sc in sizes(c):
        for sh in sizes(h):
            if sc * sh > neurons:
                continue
            for sw in sizes(w):
                if sc * sh * sw <= neurons:
                    cands.append((sc, sh, sw))
    cands.sort(key=lambda s: (-s[0] * s[1] * s[2], s))
    return cands


def best_split(layer: str, geoms: list[ProjGeom], view: tuple[int, int, int], limits: Limits,
               mean_rate: dict[str, float], budget: int) -> tuple[GridPlan | LayerProblem, int, bool]:
    """(best grid plan or the problem of the smallest split, candidates evaluated, finished)."""
    c, h, w = view
    best: GridPlan | None = None
    problem: LayerProblem | None = None
    n = 0
    cands = candidates(view, limits.neurons)
    finished = True
    for split in cands:
        if n >= budget and best is not None:
            finished = False
            break
        n_tiles = -(-c // split[0]) * -(-h // split[1]) * -(-w // split[2])
        if best is not None and n_tiles > best.cores:
            continue  # every tile needs at least one core
        got = grid_plan(layer, geoms, view, split, limits, mean_rate, bound=None if best is None else best.cores)
        n += 1
        if got is None:
            continue  # provably more cores than the best so far
        if isinstance(got, LayerProblem):
            if problem is None or split == (1, 1, 1):
                problem = got
            continue
        if best is None or (got.cores, got.copies) < (best.cores, best.copies):
            best = got
    return (best if best is not None else problem), n, finished  # type: ignore[return-value]


def pack_small(items: list[dict[str, Any]], edges: list[tuple[int, int, float]], limits: Limits, seed: int,
               time_limit: float) -> tuple[list[list[int]], dict[str, Any]]:
    """CP-SAT bin packing of single-core layers: items have 'neurons', 'axons', 'synapse_bits' (+ entry
    memories); ``edges`` (consumer item, source item, copies) are saved when both share a core."""
    from ortools.sat.python import cp_model

    n = len(items)
    if n <= 1:
        return [[i] for i in range(n)], {"status": "trivial", "bins": n, "bound": n}
    m = cp_model.CpModel()
    x = {(i, b): m.NewBoolVar(f"x{i}_{b}") for i in range(n) for b in range(n)}
    y = [m.NewBoolVar(f"y{b}") for b in range(n)]
    lim = limits.as_dict()
    for i in range(n):
        m.AddExactlyOne(x[i, b] for b in range(n))
    for b in range(n):
        for r, cap in lim.items():
            m.Add(sum(int(items[i].get(r, 0)) * x[i, b] for i in range(n)) <= cap * y[b])
        if b:
            m.Add(y[b] <= y[b - 1])  # symmetry breaking
    for i in range(n):
        m.Add(sum(x[i, b] for b in range(i + 1, n)) == 0)  # item i in bins 0..i
    save_terms = []
    scale = 1000
    for ei, (i, j, copies) in enumerate(edges):
        z = m.NewBoolVar(f"same{ei}")
        for b in range(n):
            zb = m.NewBoolVar(f"z{ei}_{b}")
            m.AddImplication(zb, x[i, b])
            m.AddImplication(zb, x[j, b])
            save_terms.append((zb, int(round(copies * scale))))
        m.Add(sum(zb for zb, _ in save_terms[-n:]) == z)
    big = sum(w for _, w in save_terms) + 1
    m.Minimize(big * sum(y) - sum(w * zb for zb, w in save_terms))
    solver = cpsat_solver(seed)
    solver.parameters.max_deterministic_time = float(time_limit)  # deterministic budget: reproducible results
    solver.parameters.max_time_in_seconds = 10.0 * float(time_limit) + 1.0  # guard only (spikemesh.budget)
    status = solve(solver, m)
    name = solver.StatusName(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [[i] for i in range(n)], {"status": name, "bins": n}
    bins: dict[int, list[int]] = {}
    for i in range(n):
        for b in range(n):
            if solver.Value(x[i, b]):
                bins.setdefault(b, []).append(i)
    used = sum(solver.Value(v) for v in y)
    info = {"status": name, "bins": int(used), "objective": float(solver.ObjectiveValue()),
            "bound": float(solver.BestObjectiveBound()), "items": n}
    return [bins[b] for b in sorted(bins)], info


def groups_drafts(layers: list[str], geoms: dict[str, list[ProjGeom]], views: dict[str, tuple[int, int, int]],
                  limits: Limits, mean_rate: dict[str, float], seed: int, time_limit: float
                  ) -> tuple[list[Draft], list[LayerProblem], dict[str, Any]]:
    stage = StageBudget(float(time_limit))
    budget = max(len(layers), int(time_limit * SPLIT_SHARE * EVALS_PER_SECOND))
    choice: dict[str, GridPlan] = {}
    problems: list[LayerProblem] = []
    evaluated = 0
    finished_all = True
    # layers with few candidates first, sharing the remaining budget equally among the remaining layers, so what a
    # small layer leaves unused goes to the large ones
    order = sorted(layers, key=lambda ly: (len(candidates(views[ly], limits.neurons)), layers.index(ly)))
    for li, layer in enumerate(order):
        share = max(1, (budget - evaluated) // max(1, len(layers) - li))
        got, n, fin = best_split(layer, geoms[layer], views[layer], limits, mean_rate, share)
        evaluated += n
        finished_all &= fin
        if isinstance(got, LayerProblem):
            problems.append(got)
        else:
            choice[layer] = got
    stage.charge("split search", evaluated / EVALS_PER_SECOND, "optimal" if finished_all else "limit",
                 evaluations=evaluated, evaluation_limit=budget)
    if problems:
        return [], sorted(problems, key=lambda p: layers.index(p.layer)), {}
    # --- core sharing among single-core layers
    small = [ly for ly in layers if choice[ly].cores == 1]
    items = []
    for ly in small:
        plan, _ = next(iter(choice[ly].classes.values()))
        tot = plan.chunks.total
        vol = sum(box_volume(b) for b in plan.boxes)
        it = {"neurons": vol, "axons": int(tot[0]), "synapse_bits": int(tot[1])}
        if limits.kernel_entries is not None:
            it["kernel_entries"] = int(tot[2])
        if limits.neuron_entries is not None:
            it["neuron_entries"] = vol
        if limits.bias_entries is not None:
            it["bias_entries"] = views[ly][0]
        items.append(it)
    pos = {ly: i for i, ly in enumerate(small)}
    edges = []
    for ly in small:
        for g in geoms[ly]:
            if g.source in pos and g.source != ly:
                plan, _ = next(iter(choice[ly].classes.values()))
                edges.append((pos[ly], pos[g.source], mean_rate[g.source] * float(plan.chunks.per_proj_axons[
                    geoms[ly].index(g)])))
    granted = stage.left
    bins, info = pack_small(items, edges, limits, seed, cpsat_seconds(granted))
    if info["status"] != "trivial":
        stage.charge("core sharing (CP-SAT)", granted,
                     "optimal" if info["status"] in ("OPTIMAL", "INFEASIBLE") else "limit", cp_sat=info["status"])
    # --- drafts
    drafts: list[Draft] = []
    group = 0
    bin_of = {small[i]: bi for bi, members in enumerate(bins) for i in members}
    emitted_bins: set[int] = set()
    for layer in layers:
        if layer in bin_of:
            bi = bin_of[layer]
            if bi in emitted_bins:
                continue
            emitted_bins.add(bi)
            members = [small[i] for i in bins[bi]]
            pieces = [(ly, (0, views[ly][0], 0, views[ly][1], 0, views[ly][2])) for ly in members]
            drafts.append(Draft("neurons", pieces, None, None, group))
        else:
            drafts.extend(grid_drafts(layer, geoms[layer], views[layer], choice[layer].split, limits, mean_rate,
                                      len(drafts), group))
        group += 1
    report = {"solver": {"split_search": "exhaustive", "split_candidates": evaluated,
                         "split_optimal": finished_all, "sharing": info,
                         "splits": {ly: list(choice[ly].split) for ly in layers},
                         "partial_sum_tree_cores": {ly: max(p.k for p, _ in choice[ly].classes.values())
                                                    for ly in layers}},
              "budget": stage.report()}
    return drafts, problems, report
