"""What a graph needs of a target (``required_features``) and the check every family's ``lower`` stage runs
(``check_features``): a neuron kind, reset, refractory period, delay or recurrence the target's ``features`` do
not list is a compile error naming the population (or projection) and the missing feature.

Features a graph needs (the names of ``Target.features``, docs/targets.md):

- the neuron kind of every population ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator");
- "reset_zero" / "reset_subtract" / "reset_none" for spiking populations (non-spiking kinds never reset);
- "refractory" for a population with a refractory period of at least one step;
- "recurrence" for a projection inside a cycle of the graph (a population feeding itself, directly or through
  others: the cycle carries a delay of at least one step, which the chip's step boundary provides);
- "delay" for a projection with a delay of more than one step, or of one step outside a cycle.
"""

from __future__ import annotations

from typing import Any

from spikemesh.errors import TargetError
from spikemesh.ir.graph import Graph


def _cyclic_projections(graph: Graph) -> set[str]:
    """Projections whose source and target lie on one cycle of the graph (every edge, delayed or not)."""
    if not any(pr.max_delay > 0 for pr in graph.projections):
        return set()  # every cycle carries a delay (Graph validation): none here, and networkx stays unimported
    import networkx as nx

    comp: dict[str, int] = {}
    for k, scc in enumerate(nx.strongly_connected_components(graph.dependency_graph(zero_delay_only=False))):
        if len(scc) > 1:
            comp.update({v: k for v in scc})
    return {pr.name for pr in graph.projections
            if pr.source == pr.target or (pr.source in comp and comp[pr.source] == comp.get(pr.target))}


def required_features(graph: Graph) -> list[tuple[str, str, str]]:
    """(feature, node, what needs it) for every feature the graph needs, in graph order."""
    out: list[tuple[str, str, str]] = []
    for p in graph.populations:
        n = p.neuron
        out.append((n.kind, p.name, f"{n.kind} neurons"))
        if n.spiking:
            out.append((f"reset_{n.reset}", p.name, f"reset '{n.reset}'"))
        if int(n.refractory) > 0:
            out.append(("refractory", p.name, f"a refractory period of {int(n.refractory)} steps"))
    cyclic = _cyclic_projections(graph)
    for pr in graph.projections:
        if pr.name in cyclic:
            out.append(("recurrence", pr.target, f"recurrent projection {pr.name} ({pr.source} -> {pr.target})"))
        d = pr.max_delay
        if d > 1 or (d == 1 and pr.name not in cyclic):
            out.append(("delay", pr.target, f"projection {pr.name} with a delay of {d} steps"))
    return out


def check_features(graph: Graph, target: Any) -> None:
    """Raise TargetError for the first feature the graph needs that ``target.features`` does not list."""
    have = target.features
    for feature, node, why in required_features(graph):
        if feature not in have:
            raise TargetError(
                f"target {target.name} does not support {feature} (needed for {why})", node=node,
                needed=feature, available=", ".join(sorted(have)) or "no features",
                hint="choose a target that lists the feature, add it to the target's features if the chip has it, "
                     "or change the model")
