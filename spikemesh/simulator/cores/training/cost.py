"""Cost model of one training mini-batch on the training target, and the GPU baseline traffic model.

Layer → core distribution (own, documented; the partition stage of CONTRACT.md replaces it once it lands):
with at least as many cores as populations, cores go to populations in proportion to their dense work
(synapses in + neurons; largest remainder, ≥ 1 each) and each population's neurons are split into equal
contiguous slices (C-order flat index); with fewer cores, consecutive populations share a core, balanced
greedily. Cores sit row-major on the target's grid; a hop is one mesh link (Manhattan distance); the host
injects inputs at router (0, 0).

Per core (counts from counts.py, attributed to the core of the postsynaptic neuron):
- cycles: FP = fp/fp_rate + neuron updates/neuron_rate, BP = bp/bp_rate + neuron updates/neuron_rate,
  WG = (wg + weight updates)/wg_rate. With ``overlap`` the three engines pipeline over the samples of the
  mini-batch (core = max + (sum − max)/B) and cores pipeline over layers (batch = max core + Σ others / B);
  compute, DRAM and NoC overlap (max). Without it everything is serial (Σ).
- SRAM holds the core's weights (value_bits) and gradient accumulators (accum_bits) in the "params" share and
  the per-sample trace H (value_bits) + S (1 bit) × T in the "state" share. What exceeds a share spills to DRAM:
  params excess streamed per step and sample in FP, BP and WG; state excess written in FP and read in BP.
- DRAM always: weights read and written once per mini-batch, Adam moments (2 × FP32) read and written once,
  input spikes at 1 bit. SRAM traffic: a weight read per FP op and BP MAC, accumulator read+write per WG op,
  neuron state per update. NoC: 32-bit spike packets per (spike, remote destination core); BP partial sums
  (value_bits + 16 address bits) per (presynaptic neuron, remote core with a nonzero δ) per step.
- energy = Σ ops × per-op energy (FP: add; BP: mul + add; WG: add; neuron FP: mul + 2 add + cmp; neuron BP:
  2 mul + 3 add + cmp; update: SGD mul + add, Adam 5 mul + 4 add) + bits × SRAM/NoC energy + bytes × DRAM energy.
- TFLOPS/W uses the dense-equivalent FLOP convention of crossbar_training.md §4.3: 6 FLOPs per synapse per step
  and sample (2 each for FP, BP, WG, every projection), divided by the energy: "core" (compute + SRAM + NoC,
  the convention assumed for the published 28 nm figure) and "system" (+ DRAM).

GPU baseline (unfused PyTorch BPTT, crossbar_training.md §4.3; every kernel reads its operands from and writes
its result to DRAM in ``gpu_bytes`` per element; spikes kept in the same format), per population per step:
forward 14 elementwise passes over B·n (decay 2, integrate 3, shift 2, fire 2, reset 5), per projection operator
read input + read weights + write output; backward 2 (reset path, +2 if not detached) + 3 (sum of spike
gradients) + surrogate passes (fast sigmoid 11, sigmoid 8, rectangular 5) + 3 (sum with the membrane path) + 2
(decay), per projection: input gradient (read δ, read W, write), weight gradient (read δ, read input, write ∂W_t,
then read 2 and write 1 to accumulate over steps); optimiser once per mini-batch (Adam: read W, ∂W, m, v; write
W, m, v). Input data read once per step in ``gpu_bytes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.backends.base import Target
from spikemesh.backends.trainer import TrainerSpec, trainer_spec
from spikemesh.ir.projections import Conv, Dense, Sparse
from spikemesh.simulator.cores.training.counts import OpCounts, connectivity, synapses
from spikemesh.simulator.cores.training.network import Network, Trace, _shift
from spikemesh.simulator.cores.training.ops import F32, TrainingError

SURROGATE_PASSES = {"fast_sigmoid": 11, "sigmoid": 8, "rectangular": 5}


# ----------------------------------------------------------------------------------------------- distribution
@dataclass
class Distribution:
    """Core of every neuron (``neuron_core[pop]`` int array, flat index) and each core's (x, y) position."""

    n_cores: int
    neuron_core: dict[str, np.ndarray]
    coords: np.ndarray  # [n_cores, 2]

    def hops(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(self.coords[a] - self.coords[b]).sum(axis=-1)


def distribute(network: Network, n_cores: int, grid_x: int) -> Distribution:
    """The documented layer → core distribution (module docstring)."""
    if n_cores < 1:
        raise TrainingError("need at least one core", node="distribute", needed=">= 1", available=n_cores)
    order = [nm for _, ms in network.schedule for nm in ms]
    work = {nm: network.pops[nm].n + sum(synapses(network, pr.name) for pr in network.incoming[nm]) for nm in order}
    nc: dict[str, np.ndarray] = {}
    if n_cores >= len(order):
        share = np.array([work[nm] for nm in order], dtype=np.float64)
        share = share / share.sum() * (n_cores - len(order))
        alloc = 1 + np.floor(share).astype(int)
        rest = n_cores - alloc.sum()
        alloc[np.argsort(-(share - np.floor(share)), kind="stable")[:rest]] += 1
        alloc = np.minimum(alloc, [network.pops[nm].n for nm in order])
        base = 0
        for nm, k in zip(order, alloc, strict=True):
            n = network.pops[nm].n
            nc[nm] = base + (np.arange(n) * k) // n
            base += int(k)
    else:
        total = sum(work.values())
        core, acc = 0, 0.0
        for nm in order:
            nc[nm] = np.full(network.pops[nm].n, core)
            acc += work[nm]
            if acc >= total * (core + 1) / n_cores and core < n_cores - 1:
                core += 1
    used = max(int(v.max()) for v in nc.values()) + 1
    idx = np.arange(max(used, n_cores))
    coords = np.stack([idx % grid_x, idx // grid_x], axis=1)
    return Distribution(max(used, 1), nc, coords)


def from_partition(part: object, grid_x: int) -> Distribution:
    """The partition stage's layout (CONTRACT.md ``Partition.neuron_core``) as a Distribution. Partial-sum cores
    hold no neuron state; their synaptic work is attributed to the merge core that holds the neuron."""
    nc = {k: np.asarray(v, dtype=np.int64) for k, v in part.neuron_core.items()}  # type: ignore[attr-defined]
    n = int(part.n_cores)  # type: ignore[attr-defined]
    idx = np.arange(n)
    return Distribution(n, nc, np.stack([idx % grid_x, idx // grid_x], axis=1))


def _weights_per_core(network: Network, proj: str, cores: np.ndarray, n_cores: int) -> np.ndarray:
    """Trainable parameters each core stores for a projection (weights of its postsynaptic neurons)."""
    steps, _ = network.chains[proj]
    out = np.zeros(n_cores, dtype=np.int64)
    for st in steps:
        op = st.op
        if isinstance(op, Dense):
            per = op.weight.shape[1] + (1 if op.bias is not None else 0)
            ch = np.arange(op.weight.shape[0])
        elif isinstance(op, Conv):
            per = int(np.prod(op.weight.shape[1:])) + (1 if op.bias is not None else 0)
            ch = np.repeat(np.arange(op.weight.shape[0]), int(np.prod(st.out_shape[1:])))
        elif isinstance(op, Sparse):
            per_col = np.bincount(op.indices, minlength=op.n_out)
            np.add.at(out, cores[: op.n_out], per_col)
            continue
        else:
            continue
        if ch.size != cores.size:
            ch = ch[: cores.size]
        pairs = np.unique(np.stack([cores, ch], axis=1), axis=0)
        np.add.at(out, pairs[:, 0], per)
    return out


# ----------------------------------------------------------------------------------------------- cost model
def engine_cost(network: Network, counts: OpCounts, trace: Trace, deltas: dict[str, np.ndarray], target: Target,
                cores: int | None = None, workers: int = 1, optimizer: str = "adam",
                spec: TrainerSpec | None = None, dist: Distribution | None = None) -> dict[str, Any]:
    """Cycles, traffic and energy of one mini-batch (``counts`` over the batch of ``trace``) on ``cores`` cores
    per worker (default: all of the target's cores / workers), ``workers`` data-parallel replicas; ``dist``
    overrides the layout (e.g. ``from_partition(partition(graph, target))``)."""
    spec = spec or trainer_spec(target)
    n_cores_req = cores or max(1, target.n_cores // workers)
    dist = dist or distribute(network, n_cores_req, target.cores_x)
    C = dist.n_cores
    T, B = counts.T, counts.B
    vb, ab = spec.value_bits, spec.accum_bits
    fp = np.zeros(C)
    bp = np.zeros(C)
    wg = np.zeros(C)
    nsteps = np.zeros(C)
    weights = np.zeros(C, dtype=np.int64)
    noc_bits = np.zeros(C)
    noc_bit_hops = 0.0
    dense_flops = 0.0
    fp_noc_bits = bp_noc_bits = 0.0
    for pr in network.graph.projections:
        cores_t = dist.neuron_core[pr.target]
        np.add.at(fp, cores_t, counts.fp[pr.name])
        np.add.at(bp, cores_t, counts.bp[pr.name])
        np.add.at(wg, cores_t, counts.wg[pr.name])
        weights += _weights_per_core(network, pr.name, cores_t, C)
        dense_flops += 6.0 * synapses(network, pr.name) * T * B
        # NoC: destination cores per presynaptic neuron
        src_shape = network.graph.shape_of(pr.source)
        n_src = math.prod(src_shape)
        conn = connectivity(network, pr.name)
        if conn is None:
            conn = network.graph.projection_csr(pr.name, structure=True)
        P = np.zeros((cores_t.size, C), dtype=F32)
        P[np.arange(cores_t.size), cores_t] = 1.0
        D = (conn @ P) > 0  # [n_src, C]
        src_core = dist.neuron_core.get(pr.source)
        if src_core is None:
            src_pos = np.zeros(n_src, dtype=np.int64)
            remote = D.copy()
            hop = dist.hops(np.zeros(C, dtype=np.int64), np.arange(C)) + 1
            hops_src = np.broadcast_to(hop, D.shape)
        else:
            src_pos = src_core
            remote = D & (src_core[:, None] != np.arange(C)[None, :])
            hops_src = dist.hops(src_core[:, None], np.arange(C)[None, :])
        src_vals = network.node_values(pr.source, trace)
        active = (_shift((src_vals != 0).astype(F32), network.chains[pr.name][1]).reshape(T * B, n_src)).sum(0)
        copies = remote.sum(1)
        f_bits = 32.0 * float((active * copies).sum())
        fp_noc_bits += f_bits
        noc_bit_hops += 32.0 * float((active[:, None] * remote * hops_src).sum())
        np.add.at(noc_bits, src_pos, 32.0 * active * copies)
        if pr.source in network.pops:
            dm = (deltas[pr.target].reshape(T * B, -1) != 0).astype(F32)
            core_active = dm @ P > 0  # [TB, C]: core has a nonzero δ this step
            pairs = remote.sum(0)  # remote presynaptic neurons per destination core
            b_bits = (vb + 16.0) * float((core_active.sum(0) * pairs).sum())
            bp_noc_bits += b_bits
            hop_per_core = (remote * hops_src).sum(0)
            noc_bit_hops += (vb + 16.0) * float((core_active.sum(0) * hop_per_core).sum())
            np.add.at(noc_bits, np.arange(C), (vb + 16.0) * core_active.sum(0) * pairs)
    n_per_core = np.zeros(C)
    for cs in dist.neuron_core.values():
        np.add.at(n_per_core, cs, 1)
    nsteps = n_per_core * T * B
    n_weights = int(weights.sum())
    upd_mul, upd_add = (5, 4) if optimizer == "adam" else (1, 1)
    # memory
    params_bytes = weights * (vb + ab) / 8.0
    state_bytes = n_per_core * T * (vb + 1) / 8.0
    cap_p = spec.sram_bytes * spec.sram_split.get("params", 0.5)
    cap_s = spec.sram_bytes * spec.sram_split.get("state", 0.4)
    f_p = np.where(params_bytes > 0, np.maximum(0.0, params_bytes - cap_p) / np.maximum(params_bytes, 1), 0.0)
    spill_state = np.maximum(0.0, state_bytes - cap_s)
    w_bytes = weights * vb / 8.0
    g_bytes = weights * ab / 8.0
    dram_spill_params = float((f_p * (2 * w_bytes + 2 * g_bytes) * T * B).sum())
    dram_spill_state = float((2 * spill_state * B).sum())
    n_in_bits = sum(math.prod(i.shape) for i in network.graph.inputs) * T * B
    dram_base = float(2 * w_bytes.sum() + (16.0 * n_weights if optimizer == "adam" else 0.0) + n_in_bits / 8.0)
    dram_bytes = (dram_base + dram_spill_params + dram_spill_state) * workers
    sram_bits = (fp * vb + bp * vb + wg * 2 * ab + nsteps * (3 * vb + 1) + nsteps * (4 * vb + 1)
                 + weights * (2 * vb + ab))
    # cycles
    c_fp = fp / spec.fp_ops_per_cycle + nsteps / spec.neuron_ops_per_cycle
    c_bp = bp / spec.bp_macs_per_cycle + nsteps / spec.neuron_ops_per_cycle
    c_wg = (wg + weights) / spec.wg_ops_per_cycle
    eng = np.stack([c_fp, c_bp, c_wg])
    if spec.overlap:
        core_cycles = eng.max(0) + (eng.sum(0) - eng.max(0)) / B
        k = int(core_cycles.argmax())
        compute = float(core_cycles[k] + (core_cycles.sum() - core_cycles[k]) / B)
    else:
        core_cycles = eng.sum(0)
        compute = float(core_cycles.sum())
    f_clk = target.clock_hz
    dram_cycles = dram_bytes / (spec.dram_bytes_per_s / f_clk)
    noc_cycles = float(noc_bits.max() / spec.noc_link_bits_per_cycle) if C > 1 else 0.0
    allreduce_bytes = 2.0 * (workers - 1) / workers * float(w_bytes.sum()) if workers > 1 else 0.0
    allreduce_cycles = allreduce_bytes * 8 / spec.noc_link_bits_per_cycle
    parts = [compute, dram_cycles, noc_cycles]
    total = (max(parts) if spec.overlap else sum(parts)) + allreduce_cycles
    # energy (pJ), per worker then × workers
    e = {
        "fp": float(fp.sum() * spec.add_pj + nsteps.sum() * (spec.mul_pj + 2 * spec.add_pj + spec.cmp_pj)),
        "bp": float(bp.sum() * (spec.mul_pj + spec.add_pj) + nsteps.sum() * (2 * spec.mul_pj + 3 * spec.add_pj
                                                                             + spec.cmp_pj)),
        "wg": float(wg.sum() * spec.add_pj + n_weights * (upd_mul * spec.mul_pj + upd_add * spec.add_pj)),
    }
    e_sram = float(sram_bits.sum() * spec.sram_pj_per_bit)
    e_noc = float(noc_bit_hops * spec.noc_pj_per_bit_hop) + allreduce_bytes * 8 * spec.noc_pj_per_bit_hop
    e_dram = dram_bytes / workers * spec.dram_pj_per_byte
    energy = {k: v * workers for k, v in e.items()}
    energy.update(sram=e_sram * workers, noc=e_noc * workers, dram=e_dram * workers)
    core_pj = sum(v for k, v in energy.items() if k != "dram")
    flops = dense_flops * workers
    seconds = total / f_clk
    return {
        "cores": C, "workers": workers, "samples": B * workers, "T": T,
        "ops": {"fp": int(fp.sum()) * workers, "bp": int(bp.sum()) * workers, "wg": int(wg.sum()) * workers,
                "neuron_updates": int(nsteps.sum()) * workers, "weight_updates": n_weights * workers},
        "per_core": {"fp_ops": fp.astype(np.int64).tolist(), "bp_macs": bp.astype(np.int64).tolist(),
                     "wg_ops": wg.astype(np.int64).tolist(), "cycles": core_cycles.tolist(),
                     "params_bytes": params_bytes.tolist(), "state_bytes_per_sample": state_bytes.tolist()},
        "cycles": {"total": total, "compute": compute, "dram": dram_cycles, "noc": noc_cycles,
                   "allreduce": allreduce_cycles, "fp": float(c_fp.max()), "bp": float(c_bp.max()),
                   "wg": float(c_wg.max())},
        "seconds": seconds, "samples_per_s": B * workers / seconds if seconds > 0 else float("inf"),
        "traffic_bytes": {"dram": dram_bytes, "dram_base": dram_base * workers,
                          "dram_spill_params": dram_spill_params * workers,
                          "dram_spill_state": dram_spill_state * workers, "sram": float(sram_bits.sum() / 8) * workers,
                          "noc_fp": fp_noc_bits / 8 * workers, "noc_bp": bp_noc_bits / 8 * workers,
                          "allreduce": allreduce_bytes * workers},
        "energy_pj": energy, "energy_core_pj": core_pj, "energy_system_pj": core_pj + energy["dram"],
        "dense_flops": flops,
        "tflops_per_w_core": flops / core_pj if core_pj else 0.0,
        "tflops_per_w_system": flops / (core_pj + energy["dram"]),
        "flop_convention": "dense-equivalent: 6 FLOPs per synapse per step per sample (2 FP + 2 BP + 2 WG), "
                           "all projections; TFLOPS/W = FLOPs / pJ",
    }


def gpu_traffic(network: Network, T: int, B: int, gpu_bytes: int = 4, optimizer: str = "adam") -> dict[str, float]:
    """DRAM bytes of the same mini-batch in unfused PyTorch BPTT (module docstring)."""
    sg = network.surrogate
    fwd = bwd = 0.0
    n_weights = 0
    for nm, pop in network.pops.items():
        elems = B * pop.n
        if pop.spiking:
            fwd += 14 * elems * T
            bwd += (2 + (0 if sg.detach_reset else 2) + 3 + SURROGATE_PASSES[sg.kind] + 3 + 2) * elems * T
        else:
            fwd += 5 * elems * T
            bwd += 5 * elems * T
        for pr in network.incoming[nm]:
            steps, _ = network.chains[pr.name]
            src_pop = pr.source in network.pops
            for st in steps:
                nin, nout = B * math.prod(st.in_shape), B * math.prod(st.out_shape)
                nw = sum(int(np.asarray(getattr(st.op, f)).size) for f in st.trainable)
                n_weights += nw
                if st.op.__class__.__name__ in ("Reshape", "Identity"):
                    continue
                fwd += (nin + nw + nout) * T
                if src_pop or st is not steps[0]:
                    bwd += (nout + nw + nin) * T  # input gradient
                if nw:
                    bwd += (nout + nin + nw + 3 * nw) * T  # ∂W_t and accumulation
    opt = (7 if optimizer == "adam" else 3) * n_weights
    n_in = sum(math.prod(i.shape) for i in network.graph.inputs) * T * B
    total = (fwd + bwd + opt + n_in) * gpu_bytes
    return {"total": total, "forward": fwd * gpu_bytes, "backward": bwd * gpu_bytes, "optimizer": opt * gpu_bytes,
            "inputs": n_in * gpu_bytes, "bytes_per_element": gpu_bytes}


__all__ = ["Distribution", "distribute", "engine_cost", "gpu_traffic"]
