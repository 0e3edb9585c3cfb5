"""Layer → core assignment on the 9 heterogeneous cores (research/speck.md §1.2, §2.4).

1. Candidates: the cores whose kernel, neuron and bias memories all hold the layer (sinabs' ``fits``).
2. Max-flow bipartite matching (networkx): source → layer → fitting core → sink, unit capacities. It finds an
   assignment whenever one exists (as sinabs' Edmonds–Karp). When none exists the error names the layer, the
   memory kind, the amount needed and what each core offers (sinabs only says "No valid mapping found").
3. CP-SAT (time limit, fixed seed, one worker: deterministic) picks, among all assignments, one maximising
   the smallest headroom (free fraction of the tightest memory of each used core), then the summed headroom.
   If CP-SAT proves nothing in time the matching from step 2 is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from spikemesh.backends.base import Target
from spikemesh.backends.speck.fit import MEMORY_KINDS
from spikemesh.errors import PartitionError

SCALE = 1000  # headroom in per-mille for CP-SAT


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


def match(needs: Sequence[dict[str, int]], target: Target, names: Sequence[str]) -> list[int]:
    """A layer → core list by max-flow matching, or PartitionError naming the failing layer and memory."""
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
    g = nx.DiGraph()
    for i, cs in enumerate(cand):
        g.add_edge("s", ("l", i), capacity=1)
        for c in cs:
            g.add_edge(("l", i), ("c", c), capacity=1)
    for c in range(n_cores):
        g.add_edge(("c", c), "t", capacity=1)
    value, flow = nx.maximum_flow(g, "s", "t")
    if value == len(needs):
        return [next(c for c in cand[i] if flow[("l", i)][("c", c)] == 1) for i in range(len(needs))]
    # Hall violator: layers reachable from the source in the residual graph, and the cores they can use
    reach = {"s"}
    stack = ["s"]
    while stack:
        u = stack.pop()
        for v in g.successors(u):
            if v not in reach and g[u][v]["capacity"] - flow[u][v] > 0:
                reach.add(v)
                stack.append(v)
        for v in g.predecessors(u):
            if v not in reach and flow[v][u] > 0:
                reach.add(v)
                stack.append(v)
    lay = sorted(i for kind, i in (x for x in reach if isinstance(x, tuple)) if kind == "l")
    cores = sorted(c for kind, c in (x for x in reach if isinstance(x, tuple)) if kind == "c")
    lost = next((i for i in lay if sum(flow[("l", i)].values()) == 0), lay[-1])
    nd = needs[lost]
    raise PartitionError(
        f"no core left: {len(lay)} layers ({', '.join(names[i] for i in lay)}) fit only the {len(cores)} cores "
        f"{cores}; this layer needs kernel memory {nd['kernel']}, neuron memory {nd['neuron']}, bias memory "
        f"{nd['bias']} entries", node=names[lost], needed=f"{len(lay)} cores", available=f"{len(cores)} "
        f"({_offers(target, n_cores)})",
        hint="Speck has 9 cores and no time-multiplexing: merge or shrink layers")


def assign(needs: Sequence[dict[str, int]], target: Target, names: Sequence[str], time_limit: float = 10.0,
           seed: int = 0) -> tuple[list[int], dict[str, Any]]:
    """(core per layer, info): a feasible matching, then CP-SAT's max-min-headroom choice."""
    base = match(needs, target, names)
    n_cores = target.cores_per_chip
    offers = [core_memory(target, c) for c in range(n_cores)]
    info: dict[str, Any] = {"method": "max-flow", "matching": base}
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # pragma: no cover - ortools is a core dependency
        return base, info
    m = cp_model.CpModel()
    x = {(i, c): m.NewBoolVar(f"x{i}_{c}") for i in range(len(needs)) for c in range(n_cores)
         if fits(needs[i], offers[c])}
    for i in range(len(needs)):
        m.AddExactlyOne(v for (li, _), v in x.items() if li == i)
    for c in range(n_cores):
        m.AddAtMostOne(v for (_, cc), v in x.items() if cc == c)
    h = {k: headroom(needs[k[0]], offers[k[1]]) for k in x}
    t = m.NewIntVar(0, SCALE, "min_headroom")
    for i in range(len(needs)):
        m.Add(t <= sum(h[k] * v for k, v in x.items() if k[0] == i))
    for k, v in x.items():
        m.AddHint(v, base[k[0]] == k[1])
    m.Maximize(t * (SCALE * len(needs) + 1) + sum(h[k] * v for k, v in x.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = 1
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return base, info
    cores = [next(c for c in range(n_cores) if (i, c) in x and solver.Value(x[(i, c)])) for i in range(len(needs))]
    info.update(method="max-flow + CP-SAT", status=solver.StatusName(status), min_headroom=solver.Value(t) / SCALE,
                objective=solver.ObjectiveValue(), bound=solver.BestObjectiveBound())
    return cores, info
