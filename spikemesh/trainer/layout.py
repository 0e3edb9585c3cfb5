"""Layer → core distribution of the training target: which core holds every neuron, and where the cores sit.

The distribution is this package's own (``train(layout="partition")`` uses the partition stage's instead, through
``from_partition``): the neurons in schedule order (populations topologically, C order inside) are cut into
contiguous runs of equal work, either weight storage (fan-in + 1 per neuron: "storage-balanced") or the measured
engine cycles of the mini-batch (``neuron_cycles``: "cycle-balanced"); or every population is split evenly over
all cores ("layer-spread": engines and storage balanced, all-to-all traffic). ``chip_cost.engine_cost`` evaluates
the three and keeps the fastest. Cores sit row-major on the target's grid; a hop is one mesh link (Manhattan
distance); the host injects inputs at router (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.trainer.bptt import TrainingGraph
from spikemesh.trainer.counts import OpCounts, connectivity, reach
from spikemesh.trainer.op_rules import F32, TrainingError
from spikemesh.trainer.spec import TrainerSpec


@dataclass
class Distribution:
    """Core of every neuron (``neuron_core[pop]`` int array, flat index) and each core's (x, y) position."""

    n_cores: int
    neuron_core: dict[str, np.ndarray]
    coords: np.ndarray  # [n_cores, 2]

    def hops(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(self.coords[a] - self.coords[b]).sum(axis=-1)


def fan_in(network: TrainingGraph, name: str) -> np.ndarray:
    """Distinct synapses into every neuron of a population (all incoming projections), int64 [n]."""
    out = np.zeros(network.pops[name].n, dtype=np.int64)
    for pr in network.incoming[name]:
        ones = np.ones((1, *network.graph.shape_of(pr.source)), dtype=F32)
        out += np.rint(reach(network, pr.name, ones, connectivity(network, pr.name))[0]).astype(np.int64)
    return out


def distribute(network: TrainingGraph, n_cores: int, grid_x: int, work: dict[str, np.ndarray] | None = None
               ) -> Distribution:
    """The documented layer → core distribution (module docstring): neurons in schedule order (populations in
    topological order, C-order inside), cut into ``n_cores`` contiguous runs of equal work (per neuron: ``work``,
    default fan-in + 1, i.e. balanced weight storage; a neuron goes to the core whose share holds the midpoint
    of its work)."""
    if n_cores < 1:
        raise TrainingError("need at least one core", node="distribute", needed=">= 1", available=n_cores)
    order = [nm for _, ms in network.schedule for nm in ms]
    work = [np.asarray(work[nm], dtype=np.float64) + 1e-9 if work is not None
            else fan_in(network, nm).astype(np.float64) + 1.0 for nm in order]
    flat = np.concatenate(work)
    mid = np.cumsum(flat) - flat / 2
    core = np.minimum((mid / flat.sum() * n_cores).astype(np.int64), n_cores - 1)
    nc: dict[str, np.ndarray] = {}
    base = 0
    for nm, w in zip(order, work, strict=True):
        nc[nm] = core[base:base + w.size]
        base += w.size
    used = int(core.max()) + 1
    idx = np.arange(max(used, n_cores))
    coords = np.stack([idx % grid_x, idx // grid_x], axis=1)
    return Distribution(used, nc, coords)


def spread(network: TrainingGraph, n_cores: int, grid_x: int) -> Distribution:
    """Every population split evenly over all cores (contiguous slices of its C-order index): each core holds
    1/n of every layer, so every engine and the weight storage are balanced at the price of all-to-all traffic."""
    nc = {}
    for nm, pop in network.pops.items():
        k = min(n_cores, pop.n)
        nc[nm] = (np.arange(pop.n) * k) // pop.n
    idx = np.arange(n_cores)
    return Distribution(n_cores, nc, np.stack([idx % grid_x, idx // grid_x], axis=1))


def neuron_cycles(network: TrainingGraph, counts: OpCounts, spec: TrainerSpec) -> dict[str, np.ndarray]:
    """Engine cycles of every neuron in the counted mini-batch (FP + BP + WG + its two state updates per step
    and its weight updates): the work the cycle-balanced layout evens out."""
    out = {nm: np.full(p.n, 2.0 * counts.T * counts.B / spec.neuron_ops_per_cycle) for nm, p in network.pops.items()}
    for pr in network.graph.projections:
        out[pr.target] += (counts.fp[pr.name] / spec.fp_ops_per_cycle + counts.bp[pr.name] / spec.bp_macs_per_cycle
                           + counts.wg[pr.name] / spec.wg_ops_per_cycle)
    for nm in out:
        out[nm] += fan_in(network, nm) / spec.wg_ops_per_cycle  # weight updates
    return out


def from_partition(part: object, grid_x: int) -> Distribution:
    """The partition stage's layout (``spikemesh.partition.artifact.Partition.neuron_core``) as a Distribution.
    Partial-sum cores hold no neuron state; their synaptic work is attributed to the merge core that holds the
    neuron."""
    nc = {k: np.asarray(v, dtype=np.int64) for k, v in part.neuron_core.items()}  # type: ignore[attr-defined]
    n = int(part.n_cores)  # type: ignore[attr-defined]
    idx = np.arange(n)
    return Distribution(n, nc, np.stack([idx % grid_x, idx // grid_x], axis=1))


__all__ = ["Distribution", "distribute", "fan_in", "from_partition", "neuron_cycles", "spread"]
