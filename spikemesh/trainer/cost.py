"""Cost model of one training mini-batch on the training target, and the GPU baseline traffic model.

Layer → core distribution (own, documented; ``layout="partition"`` in train() uses the partition stage instead):
the neurons in schedule order (populations topologically, C order inside) are cut into contiguous runs of
equal work, either weight storage (fan-in + 1 per neuron: "storage-balanced") or the measured engine cycles
of the mini-batch ("cycle-balanced"); or every population is split evenly over all cores ("layer-spread":
engines and storage balanced, all-to-all traffic); engine_cost evaluates the three and keeps the fastest.
Cores sit row-major on the target's grid; a hop is one mesh link (Manhattan distance); the host injects
inputs at router (0, 0).

Per core (counts from counts.py, attributed to the core of the postsynaptic neuron):
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
- TFLOPS/W uses the dense-equivalent FLOP convention of crossbar_training.md §4.3: 6 FLOPs per synapse per step
  and sample (2 each for FP, BP, WG, every projection), divided by the energy: "core" (compute + SRAM + NoC,
  the convention assumed for the published 28 nm figure) and "system" (+ DRAM).

GPU baseline (unfused PyTorch BPTT, crossbar_training.md §4.3): every kernel reads its operands from and writes
its result to DRAM in ``gpu_bytes`` per element; spikes are kept in the same format. Per population per step:
- forward: 14 element passes over B·n (decay 2, integrate 3, shift 2, fire 2 + a 1-byte mask written and
  read, reset 5), 3 per extra incoming projection (summing currents); once: the zero initial state, the zero
  spikes a delayed projection reads first, the readout (stack and sum over T); per projection operator: read
  input + read weights + write output.
- backward: surrogate passes (fast sigmoid 11, sigmoid 14, rectangular 9 + a 1-byte mask), 3 per extra
  consumer of the spikes of a step (sum of spike gradients); for T − 1 steps (the last state has no consumer)
  3 (sum with the membrane path) + 2 (decay) + 7 if the reset is not detached (negation, θ· product, sum into
  the spike gradient); per projection: input gradient (read δ, read W, write; not for the zeros a delay reads
  first), weight gradient (read δ, read input, write ∂W_t; read 2 and write 1 to accumulate the T uses).
- optimiser once per mini-batch: torch.optim.Adam's unfused step touches 19 elements per weight (lerp_ 3,
  mul_ 2, addcmul_ 4, sqrt 2, div 2, add_ 2, addcdiv_ 4), SGD 3; input data written once in ``gpu_bytes``.
These counts equal, within 1 % per phase, the bytes a TorchDispatchMode counts kernel by kernel on the same
BPTT written in eager PyTorch (tests/trainer/test_gpu_model.py). That fixes the kernel inventory, not the
DRAM bytes of a real GPU, where caches and kernel fusion change them (benchmarks/trainer.py says how much).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.ir.operators import Conv, Dense, Sparse
from spikemesh.target.model import Target
from spikemesh.trainer.bptt import Network, Trace, _shift
from spikemesh.trainer.counts import OpCounts, connectivity, synapses
from spikemesh.trainer.op_rules import F32, TrainingError
from spikemesh.trainer.spec import TrainerSpec, trainer_spec

SURROGATE_PASSES = {"fast_sigmoid": 11, "sigmoid": 14, "rectangular": 9}  # as written in test_gpu_model.py
SURROGATE_MASK_BYTES = {"fast_sigmoid": 0, "sigmoid": 0, "rectangular": 2}  # a 1-byte mask written and read
ADAM_PASSES = 19  # elements touched per weight by torch.optim.Adam's unfused (for-loop / foreach) step


# ----------------------------------------------------------------------------------------------- distribution
@dataclass
class Distribution:
    """Core of every neuron (``neuron_core[pop]`` int array, flat index) and each core's (x, y) position."""

    n_cores: int
    neuron_core: dict[str, np.ndarray]
    coords: np.ndarray  # [n_cores, 2]

    def hops(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(self.coords[a] - self.coords[b]).sum(axis=-1)


def fan_in(network: Network, name: str) -> np.ndarray:
    """Distinct synapses into every neuron of a population (all incoming projections), int64 [n]."""
    from spikemesh.trainer.counts import connectivity, reach

    out = np.zeros(network.pops[name].n, dtype=np.int64)
    for pr in network.incoming[name]:
        ones = np.ones((1, *network.graph.shape_of(pr.source)), dtype=F32)
        out += np.rint(reach(network, pr.name, ones, connectivity(network, pr.name))[0]).astype(np.int64)
    return out


def distribute(network: Network, n_cores: int, grid_x: int, work: dict[str, np.ndarray] | None = None
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


def spread(network: Network, n_cores: int, grid_x: int) -> Distribution:
    """Every population split evenly over all cores (contiguous slices of its C-order index): each core holds
    1/n of every layer, so every engine and the weight storage are balanced at the price of all-to-all traffic."""
    nc = {}
    for nm, pop in network.pops.items():
        k = min(n_cores, pop.n)
        nc[nm] = (np.arange(pop.n) * k) // pop.n
    idx = np.arange(n_cores)
    return Distribution(n_cores, nc, np.stack([idx % grid_x, idx // grid_x], axis=1))


def neuron_cycles(network: Network, counts: OpCounts, spec: TrainerSpec) -> dict[str, np.ndarray]:
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


def engine_cost(network: Network, counts: OpCounts, trace: Trace, deltas: dict[str, np.ndarray], target: Target,
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
        active = (_shift((src_vals != 0).astype(F32), network.chains[pr.name][1]).reshape(T * B, n_src)).sum(0)
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


def gpu_traffic(network: Network, T: int, B: int, gpu_bytes: int = 4, optimizer: str = "adam") -> dict[str, float]:
    """DRAM bytes of the same mini-batch in unfused PyTorch BPTT (module docstring)."""
    sg = network.surrogate
    outputs = {o.source for o in network.graph.outputs}
    fwd = bwd = 0.0
    mask_bytes = mask_fwd = 0.0  # comparisons write 1-byte masks that a cast reads
    n_weights = 0
    for nm, pop in network.pops.items():
        elems = B * pop.n
        fwd += elems  # the zero initial state
        fwd += 3 * max(len(network.incoming[nm]) - 1, 0) * elems * T  # summing the currents of the projections
        if any(network.chains[pr.name][1] > 0 for pr in network.graph.outgoing(nm)):
            fwd += elems  # the zero spikes a delayed projection reads at the first step
        if nm in outputs:  # readout: stack the T steps, sum them
            fwd += 3 * elems * T + elems
        if pop.spiking:
            delays = [network.chains[pr.name][1] for pr in network.graph.outgoing(nm)]
            # consumers of the spikes of step t: projections whose delayed arrival falls inside the window
            sums = sum(max(sum(t + d < T for d in delays) + (nm in outputs) - 1, 0) for t in range(T))
            fwd += 14 * elems * T
            mask_bytes += (2 + SURROGATE_MASK_BYTES[sg.kind]) * elems * T
            mask_fwd += 2 * elems * T
            bwd += SURROGATE_PASSES[sg.kind] * elems * T + 3 * sums * elems
            # membrane-path sum, decay and (not detached) the reset path: the last state has no consumer
            bwd += (3 + 2 + (0 if sg.detach_reset else 7)) * elems * (T - 1)
        else:
            fwd += 5 * elems * T
            bwd += 5 * elems * T
        for pr in network.incoming[nm]:
            steps, delay = network.chains[pr.name]
            src_pop = pr.source in network.pops
            for st in steps:
                nin, nout = B * math.prod(st.in_shape), B * math.prod(st.out_shape)
                nw = sum(int(np.asarray(getattr(st.op, f)).size) for f in st.trainable)
                n_weights += nw
                if st.op.__class__.__name__ in ("Reshape", "Identity"):
                    continue
                fwd += (nin + nw + nout) * T
                if src_pop or st is not steps[0]:  # input gradient (not for the zeros a delay reads first)
                    bwd += (nout + nw + nin) * (T - min(delay, T) if st is steps[0] else T)
                if nw:
                    bwd += (nout + nin + nw) * T + 3 * nw * (T - 1)  # ∂W_t, accumulated over the T uses
    opt = (ADAM_PASSES if optimizer == "adam" else 3) * n_weights
    n_in = sum(math.prod(i.shape) for i in network.graph.inputs) * T * B
    total = (fwd + bwd + opt + n_in) * gpu_bytes + mask_bytes
    return {"total": total, "forward": fwd * gpu_bytes + mask_fwd, "backward": bwd * gpu_bytes + mask_bytes - mask_fwd,
            "optimizer": opt * gpu_bytes,
            "inputs": n_in * gpu_bytes, "bytes_per_element": gpu_bytes}


def gpu_traffic_fused(network: Network, T: int, B: int, gpu_bytes: int = 4, optimizer: str = "adam"
                      ) -> dict[str, float]:
    """DRAM bytes of the same mini-batch on an ideally fused GPU BPTT (a lower bound for the GPU side): only the
    tensors BPTT must keep cross DRAM. Per population and step H and S are written in the forward pass and read in
    the backward pass (``gpu_bytes`` each); weights are read once in the forward and once in the backward pass,
    ∂W is written once; the fused optimiser reads W, ∂W and (Adam) both moments and writes W and the moments
    (FP32 moments); inputs are read once. Everything else (per-step currents, surrogate temporaries, δ, per-step
    ∂W) stays on chip."""
    state = sum(4 * B * p.n * T for p in network.pops.values())  # H, S written and read: 4 element passes
    n_w = sum(int(np.asarray(getattr(st.op, f)).size) for pr in network.graph.projections
              for st in network.chains[pr.name][0] for f in st.trainable)
    weights = 3 * n_w  # W read in the forward and in the backward pass, ∂W written
    opt_bytes = n_w * (3 * gpu_bytes + (16 if optimizer == "adam" else 0))  # W, ∂W read, W written (+ m, v r/w)
    n_in = sum(math.prod(i.shape) for i in network.graph.inputs) * T * B
    total = (state + weights + n_in) * gpu_bytes + opt_bytes
    return {"total": float(total), "state": float(state * gpu_bytes), "weights": float(weights * gpu_bytes),
            "optimizer": float(opt_bytes), "inputs": float(n_in * gpu_bytes), "bytes_per_element": gpu_bytes}


__all__ = ["Distribution", "distribute", "engine_cost", "gpu_traffic", "gpu_traffic_fused"]
