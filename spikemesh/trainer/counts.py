"""Sparsity-gated operation counts of the FP / BP / WG engines, per projection and per postsynaptic neuron,
summed over time steps and samples (exact integers). FP is gated by the input spikes, BP by the nonzero δ and WG
by both: the dual sparsity of the FP / BP / WG engine split (H2Learn, Liang et al., arXiv:2107.11746).

With A the projection's neuron-level connectivity (distinct synapses, weights ignored), S the source values at
their arrival step (S[t − d] for delay d) and δ = ∂L/∂H of the target:
- FP: Σ_t A^T·nz(S[t])             — input spikes × fan-out, attributed to the target neuron that accumulates;
- BP: Σ_t [δ_j[t] ≠ 0]·fan_in_j    — nonzero δ × fan-in (only when the source is a population: inputs need no δ);
- WG: Σ_t [δ_j[t] ≠ 0]·(A^T·nz(S[t]))_j — nonzero δ × input spikes (only for projections with weights).
Neuron updates: one FP and one BP update per neuron per step and sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spikemesh.ir.operators import Identity, Reshape
from spikemesh.trainer.bptt import Trace, TrainingGraph, delayed, fold_time
from spikemesh.trainer.op_rules import F32, structural


@dataclass
class OpCounts:
    """Per projection: int64 arrays over the target's neurons (flat C order). ``T``, ``B`` of the run."""

    fp: dict[str, np.ndarray]
    bp: dict[str, np.ndarray]
    wg: dict[str, np.ndarray]
    neuron_steps: dict[str, int]
    T: int
    B: int

    def totals(self) -> dict[str, int]:
        return {"fp": int(sum(v.sum() for v in self.fp.values())), "bp": int(sum(v.sum() for v in self.bp.values())),
                "wg": int(sum(v.sum() for v in self.wg.values())),
                "neuron_updates": int(sum(self.neuron_steps.values()))}

    def add(self, other: OpCounts) -> OpCounts:
        return OpCounts({k: v + other.fp[k] for k, v in self.fp.items()},
                        {k: v + other.bp[k] for k, v in self.bp.items()},
                        {k: v + other.wg[k] for k, v in self.wg.items()},
                        {k: v + other.neuron_steps[k] for k, v in self.neuron_steps.items()}, self.T,
                        self.B + other.B)


def connectivity(network: TrainingGraph, proj_name: str) -> sp.csr_matrix | None:
    """Binary distinct-synapse matrix [n_in, n_out] for chains with more than one non-reshape operator, else None
    (then the single operator run with unit weights reaches each synapse exactly once)."""
    steps = network.chains[proj_name][0]
    real = [s for s in steps if not isinstance(s.op, (Reshape, Identity))]
    if len(real) <= 1:
        return None
    m = network.graph.projection_csr(proj_name, structure=True)
    return sp.csr_matrix((np.ones_like(m.data, dtype=F32), m.indices, m.indptr), shape=m.shape)


def reach(network: TrainingGraph, proj_name: str, mask: np.ndarray, conn: sp.csr_matrix | None) -> np.ndarray:
    """A^T·mask over a folded batch: [N, *src shape] (0/1) -> [N, n_target] counts (float32, exact integers)."""
    n = mask.shape[0]
    if conn is None:
        x = mask
        for st in network.chains[proj_name][0]:
            x = structural(st, x)
        return x.reshape(n, -1)
    return np.asarray((conn.T @ mask.reshape(n, -1).T).T, dtype=F32)


def count_ops(network: TrainingGraph, trace: Trace, deltas: dict[str, np.ndarray]) -> OpCounts:
    """Op counts of one FP + BP + WG pass recorded in ``trace`` / ``deltas``."""
    T, B = trace.T, trace.B
    fp, bp, wg = {}, {}, {}
    for pr in network.graph.projections:
        steps, d = network.chains[pr.name]
        tgt = network.pops[pr.target]
        conn = connectivity(network, pr.name)
        src = network.node_values(pr.source, trace)
        arrive = delayed((src != 0).astype(F32), d)  # source activity at its arrival step
        r = reach(network, pr.name, fold_time(arrive), conn).reshape(T, B, tgt.n)
        dmask = (deltas[pr.target].reshape(T, B, tgt.n) != 0)
        fp[pr.name] = np.rint(r.sum(axis=(0, 1), dtype=np.float64)).astype(np.int64)
        trainable = any(st.trainable for st in steps)
        wg[pr.name] = (np.rint((r * dmask).sum(axis=(0, 1), dtype=np.float64)).astype(np.int64) if trainable
                       else np.zeros(tgt.n, dtype=np.int64))
        if pr.source in network.pops:
            ones = np.ones((1, *network.graph.shape_of(pr.source)), dtype=F32)
            fan_in = np.rint(reach(network, pr.name, ones, conn)[0]).astype(np.int64)
            valid = dmask.copy()
            valid[:d] = False  # δ before the first arrival has no presynaptic step to reach
            bp[pr.name] = valid.sum(axis=(0, 1)).astype(np.int64) * fan_in
        else:
            bp[pr.name] = np.zeros(tgt.n, dtype=np.int64)
    neuron_steps = {nm: T * B * p.n for nm, p in network.pops.items()}
    return OpCounts(fp, bp, wg, neuron_steps, T, B)


def synapses(network: TrainingGraph, proj_name: str) -> int:
    """Distinct synapses of a projection."""
    conn = connectivity(network, proj_name)
    if conn is not None:
        return int(conn.nnz)
    ones = np.ones((1, *network.graph.shape_of(network.graph.projection[proj_name].source)), dtype=F32)
    return int(np.rint(reach(network, proj_name, ones, None).sum()))
