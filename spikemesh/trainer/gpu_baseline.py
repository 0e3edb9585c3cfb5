"""GPU baseline of the training cost model: the DRAM bytes of the same mini-batch in PyTorch BPTT on a GPU.

It is the other side of the DRAM-access comparison the FP/BP/WG training architecture publishes (55–85 % less DRAM
access than an A100 GPU in SNN training; Li et al., arXiv:2412.05302, abstract). ``gpu_traffic``: unfused eager
PyTorch BPTT. Every kernel reads its operands from and writes its result to DRAM in ``gpu_bytes`` per element;
spikes are kept in the same format. Per population per step:
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
``gpu_traffic_fused``: the ideally fused lower bound (only the tensors BPTT must keep cross DRAM).
"""

from __future__ import annotations

import math

import numpy as np

from spikemesh.trainer.bptt import TrainingGraph

SURROGATE_PASSES = {"fast_sigmoid": 11, "sigmoid": 14, "rectangular": 9}  # as written in test_gpu_model.py
SURROGATE_MASK_BYTES = {"fast_sigmoid": 0, "sigmoid": 0, "rectangular": 2}  # a 1-byte mask written and read
ADAM_PASSES = 19  # elements touched per weight by torch.optim.Adam's unfused (for-loop / foreach) step


def gpu_traffic(network: TrainingGraph, T: int, B: int, gpu_bytes: int = 4, optimizer: str = "adam"
                ) -> dict[str, float]:
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


def gpu_traffic_fused(network: TrainingGraph, T: int, B: int, gpu_bytes: int = 4, optimizer: str = "adam"
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


__all__ = ["gpu_traffic", "gpu_traffic_fused"]
