"""Energy model shared by every engine: action counts × the Target's ``EnergyTable`` → pJ by action, by core and
by layer.

API (small on purpose):

- ``Actions``: counts per action name, each an int64/float array ``[n_cores]`` (one entry per logical core; a
  single entry when the program is not partitioned), per-layer counts of the compute-side actions (``layers``:
  action -> population -> count), plus ``seconds`` of simulated hardware time for static power.
- ``count_actions(flat, sends, steps, batch, weight_bits, partition=None, fan=None)``: the compute-side counts
  from a functional run: ``synop`` (synaptic events: every send of a neuron times its non-zero fan-out, charged
  to the core that performs it: the target neuron's core, or inside a partial-sum tree the tree node holding the
  synapse's input unit; counted per (source, core) from the partition's geometry by ``fanout.fanout``, never per
  synapse), ``synapse_read_bits`` (``synop`` × weight bits), ``neuron_update`` (neurons × steps × batch, on
  the neuron's core), ``partial_sum_add`` (partial sums a merge core adds: one per accumulated neuron per child
  per step, a unit-weight synaptic op on its own axon as partition/plan.py models it). The cycle engine adds
  ``router_hop`` (flit traversals of an east/west link's downstream router), ``router_hop_ns`` (of a north/south
  link), ``link`` (on-chip link transfers, any direction), ``interchip_bits`` (bits sent across chip borders)
  and ``packet`` (packets injected).
- ``energy(actions, table) -> EnergyReport``: pJ per action (``count × table.<field>``), per core, per layer,
  static energy ``table.static_mw × seconds`` and the total.

Table fields (spikemesh/target/model.py EnergyTable): synop_pj (also charged per ``partial_sum_add``),
neuron_update_pj, neuron_update_active_pj (when set, ``runners.simulation_stats`` adds the action
``neuron_update_active``, the active subset of ``neuron_update`` (simulator/activity.py); ``neuron_update`` is then
priced for its other, inactive, updates only: ``SUBSET``), synapse_read_bit_pj, router_hop_pj, router_hop_ns_pj
(None: router_hop_pj), interchip_bit_pj (per bit), packet_pj, static_mw. ``link`` transfers carry no energy of
their own (a link's cost is charged at the router it enters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.target.model import EnergyTable

#: action -> EnergyTable field (pJ per unit); actions missing here are counted but cost nothing
PJ_FIELD: dict[str, str] = {
    "synop": "synop_pj",
    "partial_sum_add": "synop_pj",
    "neuron_update": "neuron_update_pj",
    "synapse_read_bits": "synapse_read_bit_pj",
    "router_hop": "router_hop_pj",
    "router_hop_ns": "router_hop_ns_pj",
    "interchip_bits": "interchip_bit_pj",
    "packet": "packet_pj",
    "neuron_update_active": "neuron_update_active_pj",
}

#: action -> its counted subset priced under its own field: the action's count is priced less the subset's
#: (``neuron_update`` counts every update; the active ones, when counted, cost ``neuron_update_active_pj``)
SUBSET: dict[str, str] = {"neuron_update": "neuron_update_active"}

#: the by-layer keys of energy the layers do not own: NoC actions and static power
NOC_LAYER, STATIC_LAYER = "(noc)", "(static)"


def unit_pj(table: EnergyTable, action: str) -> float | None:
    """pJ per count of ``action`` under ``table`` (None: the action carries no energy)."""
    f = PJ_FIELD.get(action)
    if f is None:
        return None
    v = getattr(table, f)
    if v is None and f in EnergyTable.OPTIONAL:  # e.g. north-south hops cost router_hop_pj
        v = getattr(table, EnergyTable.OPTIONAL[f])
    return float(v)


@dataclass
class Actions:
    """Counts per action, each ``[n_cores]``; ``seconds`` of hardware time (static power)."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0
    layers: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the synapse counts behind the compute-side actions (``fanout.Fanout``), when an engine already has them
    fanout: Any = None

    @property
    def n_cores(self) -> int:
        return max((len(v) for v in self.counts.values()), default=1)

    def add(self, name: str, per_core: np.ndarray) -> None:
        per_core = np.asarray(per_core)
        if name in self.counts:
            self.counts[name] = self.counts[name] + per_core
        else:
            self.counts[name] = per_core.copy()

    def totals(self) -> dict[str, int | float]:
        return {k: (int(v.sum()) if v.dtype.kind in "iu" else float(v.sum())) for k, v in self.counts.items()}


@dataclass(frozen=True)
class EnergyReport:
    """Energy in pJ: ``by_action`` (dynamic per action, plus "static"), ``by_core`` [n_cores] (dynamic only),
    ``by_layer`` (per population for the compute-side actions, plus ``"(noc)"`` and ``"(static)"``: sums to
    ``total_pj``), ``total_pj``."""

    by_action: dict[str, float]
    by_core: np.ndarray
    total_pj: float
    by_layer: dict[str, float] = field(default_factory=dict)

    @property
    def static_pj(self) -> float:
        return self.by_action.get("static", 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"total_pj": self.total_pj, "by_action_pj": self.by_action,
                "by_core_pj": [float(x) for x in self.by_core], "by_layer_pj": self.by_layer}


#: the fan-outs of the most recent (graph, layout, partition), by identity: repeated runs of one model (a sweep, a
#: benchmark, a notebook) count their synapses once
_FANOUTS: dict[tuple[int, int, int], tuple[Any, Any, Any, Any]] = {}


def count_actions(flat: Any, sends: np.ndarray, steps: int, batch: int, weight_bits: int,
                  partition: Any = None, fan: Any = None) -> Actions:
    """Compute-side action counts of a functional run (see module docstring). ``flat``: the global index layout
    (an ``arrays.FlatGraph``: ``graph``, ``order``, ``node_off``/``node_size``, ``pop_node``); ``sends`` [N]: sends
    per global index; ``partition``: the Program's Partition (None: everything on core 0); ``fan``: the
    ``fanout.Fanout`` of that partition when the caller has it (else computed here)."""
    from spikemesh.simulator.fanout import fanout, neuron_cores

    n_cores = 1 if partition is None else len(partition.cores)
    if partition is None:  # everything on core 0; synapses: Σ sends x fan-out (integers: exact)
        core = np.zeros(flat.n, dtype=np.int64)
    else:
        core = neuron_cores(flat, partition)
    if fan is None:
        key = (id(flat.graph), id(flat), id(partition))
        hit = _FANOUTS.get(key)
        if hit is not None and hit[0] is flat.graph and hit[1] is flat and hit[2] is partition:
            fan = hit[3]
        else:
            fan = fanout(flat.graph, flat, partition)
            if len(_FANOUTS) >= 8:
                _FANOUTS.clear()
            _FANOUTS[key] = (flat.graph, flat, partition, fan)
    w = np.asarray(sends, dtype=np.float64)
    per_col = fan.into.T @ w  # [n_cores + 1]: the last column holds synapses whose target has no core (core 0)
    syn = np.rint(per_col[:n_cores]).astype(np.int64)
    syn[0] += int(round(float(per_col[n_cores])))
    syn_layer = fan.layer.T @ w
    is_neuron = np.zeros(flat.n, dtype=bool)
    layer_upd: dict[str, float] = {}
    for k in flat.pop_node:
        a, n = int(flat.node_off[k]), int(flat.node_size[k])
        is_neuron[a:a + n] = True
        layer_upd[flat.order[k]] = float(n * steps * batch)
    upd = np.bincount(np.maximum(core[is_neuron], 0), minlength=n_cores).astype(np.int64) * steps * batch
    pops = [flat.order[k] for k in flat.pop_node]
    syn_by_layer = {p: float(syn_layer[flat.order.index(p)]) for p in pops}
    acts = Actions(seconds=0.0)
    acts.add("synop", syn)
    acts.add("synapse_read_bits", syn * int(weight_bits))
    acts.add("neuron_update", upd)
    acts.layers = {"synop": syn_by_layer,
                   "synapse_read_bits": {p: v * int(weight_bits) for p, v in syn_by_layer.items()},
                   "neuron_update": layer_upd}
    if partition is not None:
        merge = np.zeros(n_cores, dtype=np.int64)
        merge_layer: dict[str, float] = {}
        for c in partition.cores:
            if c.role == "partial_sum" and c.merge_into is not None and c.boxes:
                for layer, boxes in c.boxes.items():
                    n = sum((b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4]) for b in boxes) * steps * batch
                    merge[c.merge_into] += n
                    merge_layer[layer] = merge_layer.get(layer, 0.0) + n
        if merge.any():
            acts.add("partial_sum_add", merge)
            acts.layers["partial_sum_add"] = merge_layer
    return acts


def energy(actions: Actions, table: EnergyTable) -> EnergyReport:
    """pJ by action, core and layer: ``count × unit_pj(table, action)``; static ``static_mw × seconds`` (1 mW·s =
    1e9 pJ). Actions without per-layer counts (the NoC's) go to the ``"(noc)"`` layer entry."""
    n = actions.n_cores
    by_core = np.zeros(n, dtype=np.float64)
    by_action: dict[str, float] = {}
    by_layer: dict[str, float] = {}
    for name, per_core in actions.counts.items():
        u = unit_pj(table, name)
        if u is None:
            continue
        per_layer = actions.layers.get(name)
        sub = SUBSET.get(name)
        if sub in actions.counts:  # priced less its subset, which is priced under its own action
            per_core = per_core - actions.counts[sub]
            sub_layer = actions.layers.get(sub, {})
            if per_layer is not None:
                per_layer = {k: v - sub_layer.get(k, 0.0) for k, v in per_layer.items()}
        pj = per_core.astype(np.float64) * u
        by_action[name] = float(pj.sum())
        by_core[:len(pj)] += pj
        if per_layer is None:
            by_layer[NOC_LAYER] = by_layer.get(NOC_LAYER, 0.0) + by_action[name]
        else:
            for layer, cnt in per_layer.items():
                by_layer[layer] = by_layer.get(layer, 0.0) + cnt * u
    by_action["static"] = float(table.static_mw) * actions.seconds * 1e9
    if by_action["static"]:
        by_layer[STATIC_LAYER] = by_action["static"]
    return EnergyReport(by_action=by_action, by_core=by_core, total_pj=float(sum(by_action.values())),
                        by_layer=by_layer)


def sends_from_rasters(flat: Any, spikes: dict[str, np.ndarray], v: dict[str, np.ndarray],
                       inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Sends per global index [N] from a run's rasters, as the fast kernel counts them: spikes of spiking
    populations (every spike of a step counted), non-zero values of non-spiking populations and of inputs."""
    sends = np.zeros(flat.n, dtype=np.int64)
    for name in flat.order:
        a, b = flat.node_range(name)
        if name in spikes:
            arr = np.asarray(spikes[name], dtype=np.int64)
            sends[a:b] = arr.reshape(-1, b - a).sum(axis=0)
        else:
            arr = v.get(name) if name in v else inputs.get(name)
            if arr is not None:
                sends[a:b] = np.count_nonzero(np.asarray(arr).reshape(-1, b - a), axis=0)
    return sends


def synaptic_operations(graph: Any, result: Any, inputs: Any, integer: bool) -> int:
    """Synaptic operations of a run counted from its rasters: Σ sends × non-zero fan-out (the ``synop`` count of
    the fast and cycle engines, for engines whose kernels do not count them). The count does not depend on
    ``integer`` (the value mode of the run; kept for the callers)."""
    from spikemesh.ir.reference import normalize_inputs
    from spikemesh.simulator.fanout import Layout, out_degree

    layout = Layout.of(graph)
    xs, _, _ = normalize_inputs(graph, inputs)
    sends = sends_from_rasters(layout, result.spikes, result.v, xs)
    return int((sends * out_degree(graph, layout)).sum())
