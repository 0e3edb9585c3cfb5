"""Cost model of one training mini-batch on the training target: cycles, memory traffic and energy per core.

Neurons sit on cores as layout.py distributes them. Per core (counts from counts.py, attributed to the core of
the postsynaptic neuron):
- cycles: FP = fp/fp_rate + neuron updates/neuron_rate, BP = bp/bp_rate + neuron updates/neuron_rate,
  WG = (wg + weight updates)/wg_rate; BP and WG consume the same δ concurrently (max).
- SRAM holds the core's weights (value_bits) and gradient accumulators (accum_bits) in the "params" share
  (recurrent weights first: they are used every step) and the traces H (value_bits) + S (1 bit) × T of the
  samples in flight in the "state" share. Resident weights are updated in place by the update engine (no
  DRAM traffic); Adam's two FP32 moments live in DRAM (16 B per weight per mini-batch); input spikes 1 bit.
- Dataflow of a mini-batch of B samples as m micro-batches (m divides B). A weight tile that does not fit is
  streamed once per micro-batch for all T steps of a feed-forward layer (the engine runs such layers
  layer-major) and once per step for a recurrent one: FP reads W, BP reads W, the accumulator is written and
  read back between micro-batches, the fused update writes W (with several workers ∂W is all-reduced first).
  The traces of one micro-batch must fit the state share, else they are written in FP and read in BP.
  Compute: engines pipeline over micro-batches (FP of the next overlaps BP/WG of this one: core = max +
  rest/m) and cores pipeline over layers (slowest core × (m − 1)/m + Σ over layers of its slowest core / m).
  m = B is "sample_serial", m = 1 "batch_stationary"; "auto" (default) takes the fastest m; "step_major"
  (stream the excess every step of every sample) is kept as the no-reuse reference. compute, DRAM and NoC
  overlap (max); with ``overlap`` off everything is serial.
- NoC: a spike is a 32-bit packet, multicast (one injection, one delivery per remote destination core) when
  the target has the "multicast" feature, else one unicast copy per destination; BP partial sums
  (value_bits + 16 address bits) per (presynaptic neuron, remote core with a nonzero δ) per step, from the δ
  core to the presynaptic neuron's core. The busiest injection/ejection link (or the host link) bounds the time.
- DRAM: one shared channel (``dram_bytes_per_s``); SRAM traffic: a weight read per FP op and BP MAC,
  accumulator read+write per WG op, neuron state per update.
- energy = Σ ops × per-op energy (FP: add; BP: mul + add; WG: add; neuron FP: mul + 2 add + cmp; neuron BP:
  2 mul + 3 add + cmp; update: SGD mul + add, Adam 5 mul + 4 add) + bits × SRAM/NoC energy + bytes × DRAM energy.
- TFLOPS/W counts dense-equivalent FLOPs: 6 per synapse per step and sample (a multiply-accumulate counted as
  2 FLOPs in each of FP, BP and WG, every projection), divided by the energy: "core" (compute + SRAM + NoC) and
  "system" (+ DRAM). The 1.05 TFLOPS/W @ FP16, 28 nm published for the FP/BP/WG architecture (Li et al., "A High
  Energy-Efficiency Multi-core Neuromorphic Architecture for Deep SNN Training", arXiv:2412.05302, abstract)
  states neither its FLOP convention nor what its energy includes; "core" is the assumed match.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikemesh.ir.operators import Conv, Dense, Sparse
from spikemesh.target.model import Target
from spikemesh.trainer.bptt import Trace, TrainingGraph, delayed
from spikemesh.trainer.counts import OpCounts, connectivity, synapses
from spikemesh.trainer.layout import Distribution, distribute, neuron_cycles, spread
from spikemesh.trainer.op_rules import F32, TrainingError
from spikemesh.trainer.spec import TrainerSpec, trainer_spec


def _weights_per_core(network: TrainingGraph, proj: str, cores: np.ndarray, n_cores: int) -> np.ndarray:
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


DATAFLOWS = ("sample_serial", "batch_stationary", "step_major")


def _dataflow(flow: str, m: int, spec: TrainerSpec, weights: np.ndarray, rec_weights: np.ndarray,
              n_per_core: np.ndarray, T: int, B: int, workers: int, c_fp: np.ndarray, c_bp: np.ndarray,
              c_wg: np.ndarray, share: np.ndarray) -> dict[str, Any]:
    """DRAM streaming bytes (params, state) and compute cycles (per core, total) of one mini-batch of B samples
    run as ``m`` micro-batches (module docstring; m = B is sample-serial, m = 1 batch-stationary; ``flow`` =
    "step_major" streams per step and sample). Residency: the params share holds recurrent weights first.
    ``share[c, p]``: fraction of core c's work that belongs to population p (pipeline stages)."""
    vb, ab = spec.value_bits / 8.0, spec.accum_bits / 8.0  # bytes
    cap_w = spec.sram_bytes * spec.sram_split.get("params", 0.5) / (vb + ab)  # weights (+ accumulators) that fit
    cap_s = spec.sram_bytes * spec.sram_split.get("state", 0.4)
    rec = rec_weights.astype(np.float64)
    ff = weights.astype(np.float64) - rec
    rec_ex = np.maximum(0.0, rec - cap_w)
    ff_ex = np.maximum(0.0, ff - np.maximum(0.0, cap_w - rec))
    s1 = n_per_core * T * (vb + 1 / 8.0)  # one sample's trace H + S
    stream = 2 * vb + 2 * ab  # read W in FP, read W in BP, read + write the accumulator in WG
    if flow == "step_major":  # every step of every sample streams the excess (no reuse of a loaded tile)
        m = B
        params = (rec_ex + ff_ex) * stream * T * B
    else:  # a loaded tile serves all T steps (feed-forward) of the micro-batch; accumulators spill between them
        upd = vb if workers == 1 else 2 * ab + 2 * vb  # fused update writes W / all-reduced ∂W read back + update
        params = ff_ex * (2 * vb * m + 2 * ab * (m - 1) + upd) + rec_ex * stream * T * m
    state = 2.0 * np.maximum(0.0, s1 * (B / m) - cap_s) * m  # the traces of one micro-batch are kept
    # BP and WG consume the same δ concurrently; FP of the next micro-batch overlaps BP/WG of this one
    eng = np.stack([c_fp, np.maximum(c_bp, c_wg)])
    if not spec.overlap:
        core = c_fp + c_bp + c_wg
        compute = float(core.sum())
    else:
        core = eng.max(0) + (eng.sum(0) - eng.max(0)) / m
        stages = float((core[:, None] * share).max(axis=0).sum())  # Σ over layers of the slowest core's part
        compute = float(core.max()) * (m - 1) / m + stages / m  # fill + drain of one micro-batch, then the slowest
    return {"params": float(params.sum()), "state": float(state.sum()), "core": core, "compute": compute, "m": m,
            "excess_weights": float((rec_ex + ff_ex).sum())}


def engine_cost(network: TrainingGraph, counts: OpCounts, trace: Trace, deltas: dict[str, np.ndarray], target: Target,
                cores: int | None = None, workers: int = 1, optimizer: str = "adam",
                spec: TrainerSpec | None = None, dist: Distribution | None = None) -> dict[str, Any]:
    """Cycles, traffic and energy of one mini-batch (``counts`` over the batch of ``trace``) on ``cores`` cores
    per worker (default: all of the target's cores / workers), ``workers`` data-parallel replicas; ``dist``
    overrides the layout (e.g. ``from_partition(partition(graph, target))``)."""
    spec = spec or trainer_spec(target)
    n_cores_req = cores or max(1, target.n_cores // workers)
    if dist is None:  # the fastest of the storage-balanced, cycle-balanced and layer-spread layouts
        cands = []
        for layout, work in (("storage-balanced", None), ("cycle-balanced", neuron_cycles(network, counts, spec)),
                             ("layer-spread", "spread")):
            d = (spread(network, n_cores_req, target.cores_x) if isinstance(work, str)
                 else distribute(network, n_cores_req, target.cores_x, work))
            c = engine_cost(network, counts, trace, deltas, target, cores, workers, optimizer, spec, d)
            c["layout"] = layout
            cands.append(c)
        return min(cands, key=lambda c: c["cycles"]["total"])
    C = dist.n_cores
    T, B = counts.T, counts.B
    vb, ab = spec.value_bits, spec.accum_bits
    fp = np.zeros(C)
    bp = np.zeros(C)
    wg = np.zeros(C)
    nsteps = np.zeros(C)
    weights = np.zeros(C, dtype=np.int64)
    rec_weights = np.zeros(C, dtype=np.int64)
    noc_inj = np.zeros(C)  # bits into the network at each core's router (injection link)
    noc_ej = np.zeros(C)  # bits delivered to each core (ejection link)
    host_bits = 0.0  # bits injected by the host at router (0, 0)
    multicast = "multicast" in target.features
    noc_bit_hops = 0.0
    dense_flops = 0.0
    fp_noc_bits = bp_noc_bits = 0.0
    for pr in network.graph.projections:
        cores_t = dist.neuron_core[pr.target]
        np.add.at(fp, cores_t, counts.fp[pr.name])
        np.add.at(bp, cores_t, counts.bp[pr.name])
        np.add.at(wg, cores_t, counts.wg[pr.name])
        wpc = _weights_per_core(network, pr.name, cores_t, C)
        weights += wpc
        if network.schedule[network.component[pr.target]][0] and network.component.get(pr.source) == \
                network.component[pr.target]:
            rec_weights += wpc  # used step by step (step-major component)
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
        active = (delayed((src_vals != 0).astype(F32), network.chains[pr.name][1]).reshape(T * B, n_src)).sum(0)
        copies = remote.sum(1)
        f_bits = 32.0 * float((active * copies).sum())
        fp_noc_bits += f_bits
        noc_bit_hops += 32.0 * float((active[:, None] * remote * hops_src).sum())
        sent = 32.0 * active * (np.minimum(copies, 1) if multicast else copies)  # packets leaving the source
        if src_core is None:
            host_bits += float(sent.sum())
        else:
            np.add.at(noc_inj, src_pos, sent)
        noc_ej += 32.0 * (active @ remote)  # one packet per spike into every remote destination core
        if pr.source in network.pops:
            dm = (deltas[pr.target].reshape(T * B, -1) != 0).astype(F32)
            core_active = (dm @ P > 0).sum(0).astype(np.float64)  # steps x samples with a nonzero δ on the core
            pairs = remote.sum(0)  # remote presynaptic neurons per destination core
            b_bits = (vb + 16.0) * float((core_active * pairs).sum())
            bp_noc_bits += b_bits
            hop_per_core = (remote * hops_src).sum(0)
            noc_bit_hops += (vb + 16.0) * float((core_active * hop_per_core).sum())
            noc_inj += (vb + 16.0) * core_active * pairs  # partial sums leave the δ core ...
            np.add.at(noc_ej, src_pos, (vb + 16.0) * (remote @ core_active))  # ... into the presynaptic core
    n_per_core = np.zeros(C)
    for cs in dist.neuron_core.values():
        np.add.at(n_per_core, cs, 1)
    nsteps = n_per_core * T * B
    n_weights = int(weights.sum())
    upd_mul, upd_add = (5, 4) if optimizer == "adam" else (1, 1)
    # cycles of the engines per core
    c_fp = fp / spec.fp_ops_per_cycle + nsteps / spec.neuron_ops_per_cycle
    c_bp = bp / spec.bp_macs_per_cycle + nsteps / spec.neuron_ops_per_cycle
    c_wg = (wg + weights) / spec.wg_ops_per_cycle
    # memory: residency and the dataflow's DRAM streaming (module docstring)
    params_bytes = weights * (vb + ab) / 8.0
    state_bytes = n_per_core * T * (vb + 1) / 8.0
    w_bytes = weights * vb / 8.0
    n_in_bits = sum(math.prod(i.shape) for i in network.graph.inputs) * T * B
    dram_base = float((16.0 * n_weights if optimizer == "adam" else 0.0) + n_in_bits / 8.0)
    ncyc = neuron_cycles(network, counts, spec)
    pops = list(network.pops)
    share = np.zeros((C, len(pops)))
    for j, nm in enumerate(pops):
        np.add.at(share[:, j], dist.neuron_core[nm], ncyc[nm])
    share /= np.maximum(share.sum(axis=1, keepdims=True), 1e-30)
    bytes_per_cycle = spec.dram_bytes_per_s / target.clock_hz
    args = (spec, weights, rec_weights, n_per_core, T, B, workers, c_fp, c_bp, c_wg, share)

    def t_of(fl: dict[str, Any]) -> float:
        dram = (dram_base + fl["params"] + fl["state"]) * workers / bytes_per_cycle
        return max(fl["compute"], dram) if spec.overlap else fl["compute"] + dram

    flows = {"sample_serial": _dataflow("sample_serial", B, *args),
             "batch_stationary": _dataflow("batch_stationary", 1, *args),
             "step_major": _dataflow("step_major", B, *args)}
    choice = spec.dataflow
    if choice == "auto":  # the fastest micro-batch count among the divisors of B (ties: more micro-batches)
        cands = [_dataflow("micro_batch", m, *args) for m in range(B, 0, -1) if B % m == 0]
        flows["auto"] = min(cands, key=t_of)
    elif choice not in flows:
        raise TrainingError(f"unknown dataflow {choice!r}", node="trainer.dataflow",
                            needed="auto, " + ", ".join(DATAFLOWS), available=choice)
    fl = flows[choice]
    dram_spill_params, dram_spill_state, core_cycles, compute = fl["params"], fl["state"], fl["core"], fl["compute"]
    dram_bytes = (dram_base + dram_spill_params + dram_spill_state) * workers
    sram_bits = (fp * vb + bp * vb + wg * 2 * ab + nsteps * (3 * vb + 1) + nsteps * (4 * vb + 1)
                 + weights * (2 * vb + ab))
    f_clk = target.clock_hz
    dram_cycles = dram_bytes / (spec.dram_bytes_per_s / f_clk)
    noc_bits = np.maximum(noc_inj, noc_ej)
    noc_cycles = max(float(noc_bits.max()), host_bits) / spec.noc_link_bits_per_cycle
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
        "dataflow": choice, "micro_batches": fl["m"],
        "weights_resident": 1.0 - fl["excess_weights"] / max(n_weights, 1),
        "dataflows": {f: {"micro_batches": v["m"], "compute_cycles": v["compute"],
                          "dram_spill_bytes": (v["params"] + v["state"]) * workers, "cycles_bound": t_of(v)}
                      for f, v in flows.items()},
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


__all__ = ["DATAFLOWS", "engine_cost"]
