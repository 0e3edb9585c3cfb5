"""Layer → core assignment on the 9 heterogeneous cores (after sinabs' ``get_valid_mapping``,
sinabs/backend/dynapcnn/mapping.py).

1. Candidates: the cores whose kernel, neuron and bias memories all hold the layer (sinabs' ``fits``).
2. Maximum bipartite matching (augmenting paths, i.e. unit-capacity max-flow source → layer → fitting core →
   sink, as sinabs' Edmonds–Karp): it finds an assignment whenever one exists. When none exists the error names
   the layer, the memory kind, the amount needed and what each core offers (sinabs only says "No valid mapping
   found").
3. Headroom: among all assignments, one maximising the smallest headroom (per-mille free fraction of the
   tightest memory of each used core), then the summed headroom. When the matching already reaches the upper
   bound (every layer on its best core) it is kept; otherwise an exact search over core subsets (≤ 2^cores
   states, a few ms for 9 cores) finds the optimum, ties going to the lexicographically smallest core list.
   ``method="cpsat"`` solves the same objective with CP-SAT (also used above ``EXACT_MAX_CORES`` cores).

Only CP-SAT needs OR-Tools, which is imported when that path runs (a Speck compile stays fast in a fresh process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spikemesh.backends.speck.memory import MEMORY_KINDS
from spikemesh.budget import cpsat_solver
from spikemesh.errors import PartitionError
from spikemesh.target.model import Target

SCALE = 1000  # headroom in per-mille
EXACT_MAX_CORES = 16  # the subset search holds at most 2^16 states


def core_memory(target: Target, core: int) -> dict[str, int]:
    spec = target.core_spec(core)
    return {"kernel": int(spec.kernel_entries or 0), "neuron": int(spec.neuron_entries or 0),
            "bias": int(spec.bias_entries or 0)}


def fits(need: dict[str, int], offer: dict[str, int]) -> bool:
    return all(0 <= need[k] <= offer[k] for k in MEMORY_KINDS)


def headroom(need: dict[str, int], offer: dict[str, int]) -> int:
    """Per-mille free fraction of the tightest memory kind."""
    return min((SCALE * (offer[k] - need[k])) // max(offer[k], 1) for k in MEMORY_KINDS)


def _offers(target: Target, n_cores: int) -> str:
    groups: dict[tuple[int, int, int], list[int]] = {}
    for c in range(n_cores):
        m = core_memory(target, c)
        groups.setdefault((m["kernel"], m["neuron"], m["bias"]), []).append(c)
    return "; ".join(f"core{'s' if len(cs) > 1 else ''} {','.join(map(str, cs))}: kernel {k}, neuron {n}, bias {b}"
                     for (k, n, b), cs in groups.items())


def max_matching(cand: Sequence[Sequence[int]], n_cores: int) -> list[int]:
    """Maximum bipartite matching layer → core by augmenting paths (Kuhn); -1 for an unmatched layer."""
    owner = [-1] * n_cores  # core -> layer

    def augment(i: int, seen: list[bool]) -> bool:
        for c in cand[i]:
            if not seen[c]:
                seen[c] = True
                if owner[c] < 0 or augment(owner[c], seen):
                    owner[c] = i
                    return True
        return False

    for i in range(len(cand)):
        augment(i, [False] * n_cores)
    core_of = [-1] * len(cand)
    for c, i in enumerate(owner):
        if i >= 0:
            core_of[i] = c
    return core_of


def match(needs: Sequence[dict[str, int]], target: Target, names: Sequence[str]) -> list[int]:
    """A layer → core list by maximum matching, or PartitionError naming the failing layer and memory."""
    n_cores = target.cores_per_chip
    offers = [core_memory(target, c) for c in range(n_cores)]
    cand = [[c for c in range(n_cores) if fits(nd, offers[c])] for nd in needs]
    for i, cs in enumerate(cand):
        if not cs:
            nd = needs[i]
            short = [k for k in MEMORY_KINDS if all(nd[k] > o[k] for o in offers)]
            if not short:  # every kind fits some core, but never all on one
                short = [k for k in MEMORY_KINDS if any(nd[k] > o[k] for o in offers)]
            kinds = ", ".join(f"{k} memory {nd[k]} entries" for k in short)
            raise PartitionError(
                f"no core holds this layer: needs {kinds}", node=names[i],
                needed=", ".join(f"{k} {nd[k]}" for k in MEMORY_KINDS), available=_offers(target, n_cores),
                hint="reduce features or the input size (neuron memory rounds H and W up to powers of two), or "
                     "the kernel (kernel memory rounds k² and features up to powers of two)")
    core_of = max_matching(cand, n_cores)
    if min(core_of, default=0) >= 0:
        return core_of
    # Hall violator: the layers and cores reachable by alternating paths from the unmatched layers (the same
    # sets for every maximum matching, Dulmage–Mendelsohn); they need more cores than they can use.
    owner = {c: i for i, c in enumerate(core_of) if c >= 0}
    unmatched = [i for i, c in enumerate(core_of) if c < 0]
    lay, cores = set(unmatched), set()
    stack = list(unmatched)
    while stack:
        for c in cand[stack.pop()]:
            if c not in cores:
                cores.add(c)
                j = owner[c]  # every reachable core is matched, or the matching would not be maximum
                if j not in lay:
                    lay.add(j)
                    stack.append(j)
    lay_s, cores_s = sorted(lay), sorted(cores)
    lost = unmatched[0]
    nd = needs[lost]
    raise PartitionError(
        f"no core left: {len(lay_s)} layers ({', '.join(names[i] for i in lay_s)}) fit only the {len(cores_s)} "
        f"cores {cores_s}; this layer needs kernel memory {nd['kernel']}, neuron memory {nd['neuron']}, bias "
        f"memory {nd['bias']} entries", node=names[lost], needed=f"{len(lay_s)} cores", available=f"{len(cores_s)} "
        f"({_offers(target, n_cores)})",
        hint="Speck has 9 cores and no time-multiplexing: merge or shrink layers")


def _exact(h: list[dict[int, int]]) -> tuple[list[int], int]:
    """Max-min headroom, then max summed headroom, over all assignments (DP over sets of used cores, layers in
    order). ``h[i]``: core -> headroom of layer i. Returns (cores, min headroom); ties: smallest core list."""

    def best(edges: list[dict[int, int]], bottleneck: bool) -> dict[int, tuple[int, tuple[int, ...]]]:
        states: dict[int, tuple[int, tuple[int, ...]]] = {0: (SCALE if bottleneck else 0, ())}
        for e in edges:
            nxt: dict[int, tuple[int, tuple[int, ...]]] = {}
            for mask, (val, cs) in states.items():
                for c, hc in e.items():
                    if mask >> c & 1:
                        continue
                    cand = (min(val, hc) if bottleneck else val + hc, (*cs, c))
                    old = nxt.get(mask | 1 << c)
                    if old is None or cand[0] > old[0] or (cand[0] == old[0] and cand[1] < old[1]):
                        nxt[mask | 1 << c] = cand
            states = nxt
        return states

    t = max(v for v, _ in best(h, True).values())
    final = best([{c: hc for c, hc in e.items() if hc >= t} for e in h], False)
    _, cores = max(final.values(), key=lambda vc: (vc[0], [-c for c in vc[1]]))
    return list(cores), t


def _cpsat(h: list[dict[int, int]], n_cores: int, base: list[int], time_limit: float, seed: int,
           ) -> tuple[list[int], dict[str, Any]] | None:
    """The same objective with CP-SAT (hinted with ``base``); None when it proves nothing in time."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    x = {(i, c): m.NewBoolVar(f"x{i}_{c}") for i, e in enumerate(h) for c in e}
    for i in range(len(h)):
        m.AddExactlyOne(v for (li, _), v in x.items() if li == i)
    for c in range(n_cores):
        m.AddAtMostOne(v for (_, cc), v in x.items() if cc == c)
    t = m.NewIntVar(0, SCALE, "min_headroom")
    for i in range(len(h)):
        m.Add(t <= sum(h[i][c] * v for (li, c), v in x.items() if li == i))
    for (i, c), v in x.items():
        m.AddHint(v, base[i] == c)
    m.Maximize(t * (SCALE * len(h) + 1) + sum(h[i][c] * v for (i, c), v in x.items()))
    solver = cpsat_solver(seed)
    solver.parameters.max_time_in_seconds = float(time_limit)
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    cores = [next(c for c in h[i] if solver.Value(x[(i, c)])) for i in range(len(h))]
    return cores, {"status": solver.StatusName(status), "bound": solver.BestObjectiveBound()}


def objective(cores: Sequence[int], h: list[dict[int, int]]) -> tuple[int, int]:
    """(min headroom, summed headroom) of an assignment, per mille."""
    vals = [h[i][c] for i, c in enumerate(cores)]
    return min(vals, default=SCALE), sum(vals)


def assign(needs: Sequence[dict[str, int]], target: Target, names: Sequence[str], time_limit: float = 10.0,
           seed: int = 0, method: str = "auto") -> tuple[list[int], dict[str, Any]]:
    """(core per layer, info): a feasible matching, then the max-min-headroom choice (module docstring).

    ``method``: "auto" (bound check, then exact search; CP-SAT above ``EXACT_MAX_CORES`` cores), "exact" or
    "cpsat". ``time_limit`` and ``seed`` apply to CP-SAT only."""
    if method not in ("auto", "exact", "cpsat"):
        raise PartitionError(f"unknown assignment method {method!r}", node="speck_assign",
                             needed="auto, exact or cpsat", available=method)
    base = match(needs, target, names)
    n_cores = target.cores_per_chip
    offers = [core_memory(target, c) for c in range(n_cores)]
    h = [{c: headroom(nd, offers[c]) for c in range(n_cores) if fits(nd, offers[c])} for nd in needs]
    info: dict[str, Any] = {"matching": base}
    bound = (min((max(e.values()) for e in h), default=SCALE), sum(max(e.values()) for e in h))
    if method == "auto" and objective(base, h) == bound:
        cores, how = base, "max-flow (at the headroom bound)"
    elif method == "exact" or (method == "auto" and n_cores <= EXACT_MAX_CORES):
        cores, how = _exact(h)[0], "max-flow + exact headroom search"
    else:
        res = _cpsat(h, n_cores, base, time_limit, seed)
        if res is None:
            cores, how = base, "max-flow (CP-SAT found nothing in time)"
        else:
            cores, how = res[0], "max-flow + CP-SAT"
            info.update(res[1])
    lo, total = objective(cores, h)
    info.update(method=how, min_headroom=lo / SCALE, objective=lo * (SCALE * len(needs) + 1) + total)
    return cores, info
