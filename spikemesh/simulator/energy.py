"""Energy model shared by every engine: action counts × the Target's ``EnergyTable`` → pJ by action and by core.

API (small on purpose):

- ``Actions``: counts per action name, each an int64/float array ``[n_cores]`` (one entry per logical core; a
  single entry when the program is not partitioned), plus ``seconds`` of simulated hardware time for static power.
- ``count_actions(flat, sends, steps, batch, weight_bits, neuron_core=None, n_cores=1)``: the compute-side
  counts from a functional run: ``synop`` (synaptic events: every send of a neuron times its non-zero fan-out,
  attributed to the core holding the target neuron, where the synapse memory lives), ``synapse_read_bits``
  (``synop`` × weight bits), ``neuron_update`` (neurons × steps × batch, on the neuron's core).
  The cycle engine adds ``router_hop`` (flit traversals of a router), ``link`` (on-chip link transfers),
  ``interchip_bits`` (bits sent across chip borders).
- ``energy(actions, table) -> EnergyReport``: pJ per action (``count × table.<field>``), per core, static
  energy ``table.static_mw × seconds`` and the total.

Table fields (spikemesh/target/model.py EnergyTable): synop_pj, neuron_update_pj, synapse_read_bit_pj,
router_hop_pj, interchip_bit_pj (per bit), static_mw. ``link`` transfers are charged at router_hop_pj only through
the router they enter (the table has no separate wire cost), so ``link`` carries no energy of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.target.model import EnergyTable

#: action -> EnergyTable field (pJ per unit); actions missing here are counted but cost nothing
PJ_FIELD: dict[str, str] = {
    "synop": "synop_pj",
    "neuron_update": "neuron_update_pj",
    "synapse_read_bits": "synapse_read_bit_pj",
    "router_hop": "router_hop_pj",
    "interchip_bits": "interchip_bit_pj",
}


@dataclass
class Actions:
    """Counts per action, each ``[n_cores]``; ``seconds`` of hardware time (static power)."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0

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
    ``total_pj``."""

    by_action: dict[str, float]
    by_core: np.ndarray
    total_pj: float

    def to_dict(self) -> dict[str, Any]:
        return {"total_pj": self.total_pj, "by_action_pj": self.by_action,
                "by_core_pj": [float(x) for x in self.by_core]}


def synapse_sources(indptr: np.ndarray) -> np.ndarray:
    """Source neuron of every synapse of a CSR (``indptr`` [N + 1])."""
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def count_actions(flat: Any, sends: np.ndarray, steps: int, batch: int, weight_bits: int,
                  neuron_core: np.ndarray | None = None, n_cores: int = 1) -> Actions:
    """Compute-side action counts of a functional run (see module docstring). ``flat``: an
    ``arrays.FlatGraph``; ``sends`` [N]: sends per global neuron; ``neuron_core`` [N]: core of each global index
    (-1 for input elements streamed from the host), None = everything on core 0."""
    core = np.zeros(flat.n, dtype=np.int64) if neuron_core is None else np.asarray(neuron_core, dtype=np.int64)
    src = synapse_sources(flat.indptr)
    tgt_core = core[flat.target]
    syn = np.bincount(tgt_core, weights=sends[src].astype(np.float64), minlength=n_cores).astype(np.int64)
    is_neuron = np.zeros(flat.n, dtype=bool)
    for k in flat.pop_node:
        a = int(flat.node_off[k])
        is_neuron[a:a + int(flat.node_size[k])] = True
    upd = np.bincount(core[is_neuron], minlength=n_cores).astype(np.int64) * steps * batch
    acts = Actions(seconds=0.0)
    acts.add("synop", syn)
    acts.add("synapse_read_bits", syn * int(weight_bits))
    acts.add("neuron_update", upd)
    return acts


def energy(actions: Actions, table: EnergyTable) -> EnergyReport:
    """pJ by action and by core: ``count × table.<PJ_FIELD[action]>``; static ``static_mw × seconds`` (1 mW·s =
    1e9 pJ)."""
    n = actions.n_cores
    by_core = np.zeros(n, dtype=np.float64)
    by_action: dict[str, float] = {}
    for name, per_core in actions.counts.items():
        f = PJ_FIELD.get(name)
        if f is None:
            continue
        pj = per_core.astype(np.float64) * float(getattr(table, f))
        by_action[name] = float(pj.sum())
        by_core[:len(pj)] += pj
    by_action["static"] = float(table.static_mw) * actions.seconds * 1e9
    return EnergyReport(by_action=by_action, by_core=by_core, total_pj=float(sum(by_action.values())))
