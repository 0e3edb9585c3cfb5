"""Training-engine benchmark: TFLOPS/W and the DRAM-traffic reduction against the unfused-GPU traffic model
across networks, time steps T ∈ {4, 8, 16} and spike rates 5–20 %; throughput scaling from 1 to 20 cores; a
5-worker federated run. Every figure is computed by spikemesh's model (functional BPTT → op counts → cost).

GPU side: ``gpu_traffic`` is the unfused eager-PyTorch kernel inventory (checked kernel by kernel against a
TorchDispatchMode count in tests/trainer/test_gpu_model.py; not against a GPU's DRAM counters -- no GPU here) and
``gpu_traffic_fused`` an ideally fused lower bound; the "vs fused" column brackets what the published comparison
depends on.

Run: ``nice python benchmarks/trainer.py [--quick]``. Networks: ``mlp`` (784-512-512-256-10) and ``conv52k``
(3x32x32 → conv 32 → conv stride 2 64 → FC 10) from benchmarks/networks.py, ``rsnn`` (700-256 recurrent-10,
SHD-like, built here). Weights are random; each layer's incoming weights are scaled (bisection) so that its
firing rate matches the target rate on the calibration batch; inputs are Bernoulli at the target rate.
Surrogate: rectangular, half-width 0.5 (PRIME's: Wang et al., Sci. Adv. 11, eads5340, 2025; code
github.com/bo-wang-up/PRIME), thresholds 1. Published operating point (Li et al., arXiv:2412.05302, abstract):
1.05 TFLOPS/W @ FP16 28 nm; 55–85 % less DRAM access than an A100 GPU.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import spikemesh  # noqa: E402
from benchmarks.networks import conv52k, mlp  # noqa: E402
from spikemesh.ir import IF, Delay, Dense, Graph, Input, Output, Population, Projection  # noqa: E402
from spikemesh.ir.operators import Conv  # noqa: E402
from spikemesh.trainer.bptt import Surrogate, TrainingGraph  # noqa: E402
from spikemesh.trainer.chip_cost import engine_cost  # noqa: E402
from spikemesh.trainer.counts import count_ops  # noqa: E402
from spikemesh.trainer.gpu_baseline import gpu_traffic, gpu_traffic_fused  # noqa: E402
from spikemesh.trainer.loop import grad_step  # noqa: E402
from spikemesh.trainer.op_rules import initial_params  # noqa: E402
from spikemesh.trainer.spec import trainer_spec  # noqa: E402

SG = Surrogate("rectangular", 0.5, True)


def rsnn(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    return Graph(
        inputs=(Input("in", (700,)),),
        populations=(Population("rec", (256,), IF()), Population("out", (10,), IF())),
        projections=(Projection("in>rec", "in", "rec", (Dense(rng.normal(0, 2 / np.sqrt(700), (256, 700))),)),
                     Projection("rec>rec", "rec", "rec", (Dense(rng.normal(0, 1 / np.sqrt(256), (256, 256))),
                                                            Delay(1))),
                     Projection("rec>out", "rec", "out", (Dense(rng.normal(0, 2 / np.sqrt(256), (10, 256))),))),
        outputs=(Output("o", "out"),),
    )


def scaled(graph: Graph, scale: dict[str, float]) -> Graph:
    projs = []
    for pr in graph.projections:
        s = scale.get(pr.target, 1.0)
        ops = tuple(replace(op, weight=op.weight * s) if isinstance(op, (Dense, Conv)) else op for op in pr.ops)
        projs.append(replace(pr, ops=ops))
    return graph.replace(projections=tuple(projs))


def calibrate(graph: Graph, x: np.ndarray, rate: float, sg: Surrogate = SG) -> tuple[Graph, dict[str, float]]:
    """Scale each population's incoming weights (bisection on log scale, layer by layer) to fire at ``rate``."""
    scale: dict[str, float] = {}
    order = graph.layers()
    rates = {}
    for nm in order:
        lo, hi = -4.0, 4.0
        for _ in range(9):
            mid = (lo + hi) / 2
            scale[nm] = float(np.exp(mid))
            g = scaled(graph, scale)
            net = TrainingGraph(g, sg)
            tr = net.forward(initial_params(g), {g.inputs[0].name: x})
            r = tr.spikes(nm, g.population[nm].shape).mean()
            lo, hi = (mid, hi) if r < rate else (lo, mid)
        rates[nm] = float(r)
    return scaled(graph, scale), rates


def one_point(name: str, graph: Graph, T: int, rate: float, B: int, target, sg: Surrogate = SG  # noqa: ANN001
              ) -> dict:
    rng = np.random.default_rng(0)
    x = (rng.random((T, B, *graph.inputs[0].shape)) < rate).astype(np.float32)
    g, rates = calibrate(graph, x[:, :2], rate, sg)
    net = TrainingGraph(g, sg)
    y = rng.integers(0, g.population[g.outputs[0].source].shape[0], B)
    _, _, tr, deltas, _ = grad_step(net, initial_params(g), x, y, "ce_count")
    counts = count_ops(net, tr, deltas)
    c = engine_cost(net, counts, tr, deltas, target)
    g32 = gpu_traffic(net, T, B, gpu_bytes=4)["total"]
    g16 = gpu_traffic(net, T, B, gpu_bytes=2)["total"]
    gf16 = gpu_traffic_fused(net, T, B, gpu_bytes=2)["total"]
    dens = {nm: float((d != 0).mean()) for nm, d in deltas.items()}
    spk = float(np.mean([tr.spikes(nm, p.shape).mean() for nm, p in net.pops.items() if p.spiking]))
    return {"net": name, "sg": sg.kind, "T": T, "rate": rate, "measured_rate": spk,
            "delta_density": float(np.mean(list(dens.values()))),
            "tflops_w_core": c["tflops_per_w_core"], "tflops_w_sys": c["tflops_per_w_system"],
            "red32": 1 - c["traffic_bytes"]["dram"] / g32, "red16": 1 - c["traffic_bytes"]["dram"] / g16,
            "redf": 1 - c["traffic_bytes"]["dram"] / gf16,
            "spill": c["traffic_bytes"]["dram_spill_params"] + c["traffic_bytes"]["dram_spill_state"],
            "samples_s": c["samples_per_s"], "net_obj": net, "trace": (tr, deltas, counts)}


def scaling(net: TrainingGraph, name: str, target, B: int, rate: float) -> None:  # noqa: ANN001
    """Samples/s from 1 to 20 cores for one mini-batch of B samples (T 8, Bernoulli inputs at ``rate``)."""
    rng = np.random.default_rng(5)
    x = (rng.random((8, B, *net.graph.inputs[0].shape)) < rate).astype(np.float32)
    y = rng.integers(0, net.graph.population[net.graph.outputs[0].source].shape[0], B)
    params = initial_params(net.graph)
    runs: dict[int, tuple] = {}

    def cost(k: int, n: int, flow: str = "auto") -> dict:
        b = B // k
        if b not in runs:  # one worker's shard: its own FP/BP/WG pass and op counts
            _, _, tr, d, _ = grad_step(net, params, x[:, :b], y[:b], "ce_count")
            runs[b] = (tr, d, count_ops(net, tr, d))
        tr, d, c = runs[b]
        return engine_cost(net, c, tr, d, target, cores=n // k, workers=k,
                           spec=replace(trainer_spec(target), dataflow=flow))

    def bound(c: dict) -> str:
        return max(("compute", "dram", "noc"), key=lambda q: c["cycles"][q])

    n_w = sum(int(v.size) for v in params.values())
    print(f"\nthroughput scaling ({name}, T 8, mini-batch {B}, {n_w:,} weights = {n_w * 6 / 2**20:.2f} MiB with "
          f"accumulators; params share {trainer_spec(target).sram_bytes // 2 // 1024} KiB per core)")
    print(f"{'cores':>5s} {'samples/s':>10s} {'speed-up':>8s} {'eff.':>6s} {'bound':>7s} {'m':>3s} {'layout':>16s} "
          f"{'resident':>8s} {'step-major ref':>14s} {'best <= n cores':>15s}  best k workers x n/k cores")
    s1 = None
    for n in (1, 2, 4, 5, 10, 20):
        c = cost(1, n)
        s1 = s1 or c["samples_per_s"]
        ref = cost(1, n, "step_major")
        res = c["weights_resident"]
        fewer = max(range(1, n + 1), key=lambda q: (cost(1, q)["samples_per_s"], -q))
        alts = [(k, cost(k, n)) for k in (2, 4, 5, 10, 20) if n % k == 0 and B % k == 0]
        best = max([(1, c)] + alts, key=lambda kc: kc[1]["samples_per_s"])
        alt_txt = ", ".join(f"{k}x{n // k} {a['samples_per_s']:.0f} ({bound(a)})" for k, a in alts) or "-"
        print(f"{n:5d} {c['samples_per_s']:10.0f} {c['samples_per_s'] / s1:8.2f} {c['samples_per_s'] / s1 / n:6.1%} "
              f"{bound(c):>7s} {c['micro_batches']:3d} {c['layout']:>16s} {res:8.0%} {ref['samples_per_s']:14.0f} "
              f"{fewer:5d}: {cost(1, fewer)['samples_per_s']:8.0f}  "
              f"best {best[0]}x{n // best[0]}; others: {alt_txt}")


def demo_step_timing(reps: int = 3) -> None:
    """Wall time of one FP + BP + WG mini-batch of the demo recipe (batch 50, T 20) with the Numba convolution
    kernels and with the NumPy (im2col / tensordot) path they replaced, on the same inputs; gradients compared."""
    import importlib.util

    import torch

    from spikemesh.trainer import op_rules as ops

    spec = importlib.util.spec_from_file_location("td", Path(__file__).resolve().parents[1] / "scripts" /
                                                  "train_demo.py")
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    from spikemesh.data.shapes import make_shapes

    g = td.float_graph(td.init_weights(torch.Generator().manual_seed(td.TORCH_SEED)))
    x, y = make_shapes(50, td.TRAIN_SEED, T=td.T, size=td.SIZE)
    net = TrainingGraph(g, ("fast_sigmoid", td.SLOPE, True))
    p = initial_params(g)
    x = x.astype(np.float32)
    saved = (ops.conv_fwd, ops.conv_vjp, ops.conv_wgrad)
    out = {}
    for label, fns in (("numba", saved), ("numpy", (ops.conv_fwd_numpy, ops.conv_vjp_numpy, ops.conv_wgrad_numpy))):
        ops.conv_fwd, ops.conv_vjp, ops.conv_wgrad = fns
        try:
            grad_step(net, p, x, y, "ce_count")  # warm-up (compilation / caches)
            t0 = time.perf_counter()
            for _ in range(reps):
                _, grads, *_ = grad_step(net, p, x, y, "ce_count")
            out[label] = ((time.perf_counter() - t0) / reps, grads)
        finally:
            ops.conv_fwd, ops.conv_vjp, ops.conv_wgrad = saved
    diff = max(float(np.abs(out["numba"][1][k] - out["numpy"][1][k]).max() / np.abs(out["numpy"][1][k]).max())
               for k in out["numpy"][1])
    print(f"\ndemo mini-batch (50 samples, T 20) FP+BP+WG: Numba kernels {out['numba'][0] * 1e3:.0f} ms, NumPy path "
          f"{out['numpy'][0] * 1e3:.0f} ms (x{out['numpy'][0] / out['numba'][0]:.1f}); max rel. gradient difference "
          f"{diff:.1e}; load {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer points (T 4/8, rates 0.05/0.2)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--scale-batch", type=int, default=32, help="mini-batch of the core-scaling table")
    args = ap.parse_args()
    target = spikemesh.target("trainer")
    load = os.getloadavg()
    print(f"uptime load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}  (2 cores shared)")
    nets = {"mlp": mlp(0), "conv52k": conv52k(0), "rsnn": rsnn(0)}
    Ts = (4, 8) if args.quick else (4, 8, 16)
    rates = (0.05, 0.2) if args.quick else (0.05, 0.1, 0.2)
    rows = []
    t0 = time.perf_counter()
    sgs = (SG, Surrogate("fast_sigmoid", 5.0, True))
    print(f"\n{'net':8s} {'surrogate':12s} {'T':>3s} {'rate':>5s} {'meas':>6s} {'δ dens':>6s} {'TFLOPS/W core':>13s} "
          f"{'TFLOPS/W +DRAM':>14s} {'DRAM red. vs GPU fp32':>21s} {'vs fp16':>8s} {'vs fused':>8s} {'spill MB':>9s}")
    for (name, graph), T, r, sg in itertools.product(nets.items(), Ts, rates, sgs):
        row = one_point(name, graph, T, r, args.batch, target, sg)
        rows.append(row)
        print(f"{name:8s} {sg.kind:12s} {T:3d} {r:5.2f} {row['measured_rate']:6.3f} {row['delta_density']:6.3f} "
              f"{row['tflops_w_core']:13.3f} {row['tflops_w_sys']:14.3f} {row['red32']:21.1%} "
              f"{row['red16']:8.1%} {row['redf']:8.1%} {row['spill'] / 1e6:9.3f}", flush=True)
    tf = [r["tflops_w_core"] for r in rows]
    red = [r["red32"] for r in rows] + [r["red16"] for r in rows]
    print(f"\nswept TFLOPS/W (core, dense-equivalent): {min(tf):.3f} .. {max(tf):.3f};"
          f" published 1.05 inside: {min(tf) <= 1.05 <= max(tf)}")
    print(f"swept DRAM reduction vs GPU model (fp32 and fp16): {min(red):.1%} .. {max(red):.1%};"
          f" published 55-85 % overlaps: {min(red) <= 0.85 and max(red) >= 0.55}")
    for key, label in (("red32", "GPU fp32"), ("red16", "GPU fp16")):
        ins = sorted({(r["net"], r["T"]) for r in rows if 0.55 <= r[key] <= 0.85})
        out = sorted({(r["net"], r["T"], round(r[key], 3)) for r in rows if not 0.55 <= r[key] <= 0.85})
        print(f"vs {label}: (net, T) inside 55-85 %: {ins}; outside: {out}")
    rf = [r["redf"] for r in rows]
    print(f"vs the ideally fused GPU lower bound (fp16; only BPTT's saved H, S, weights, optimiser state cross DRAM): "
          f"{min(rf):.1%} .. {max(rf):.1%} -- the published 55-85 % needs the unfused baseline; against a fused "
          f"BPTT kernel the engine's advantage is what this column shows")
    near = [(r["net"], r["sg"], r["T"], r["rate"], round(r["tflops_w_core"], 3)) for r in rows
            if 0.7 <= r["tflops_w_core"] <= 1.4]
    print(f"points within 0.7-1.4 TFLOPS/W (a band around the published 1.05): {near}")

    # scaling 1 -> 20 cores at a fixed mini-batch: layer pipelining (1 worker x n cores, the default) against
    # data-parallel / hybrid splits (k workers x n/k cores, each worker on B/k samples, gradient all-reduce)
    for name in ("mlp", "rsnn"):
        want = 0.1 if not args.quick else 0.05
        base = next(r for r in rows if r["net"] == name and r["T"] == 8 and r["sg"] == SG.kind
                    and abs(r["rate"] - want) < 1e-9)
        scaling(base["net_obj"], name, target, args.scale_batch, want)

    # 5-worker federated run (functional FedAvg on generated data)
    print("\n5-worker federated run (mlp 784-128-10 on generated rate-coded data, 5 local batches per round)")
    rng = np.random.default_rng(0)
    n, T = 500, 8
    yb = rng.integers(0, 10, n)
    proto = rng.random((10, 784)) < 0.15
    xb = (rng.random((T, n, 784)) < np.where(proto[yb], 0.5, 0.02)[None]).astype(np.float32)
    small = mlp(1, sizes=(784, 128, 10))
    small, _ = calibrate(small, xb[:, :4], 0.1)
    tf0 = time.perf_counter()
    fed = spikemesh.train(small, (xb[:, :400], yb[:400]), epochs=3, lr=5e-3, batch=16, surrogate=SG, workers=5,
                          federated=True, sync_every=5, eval_data=(xb[:, 400:], yb[400:]))
    cen = spikemesh.train(small, (xb[:, :400], yb[:400]), epochs=3, lr=5e-3, batch=16, surrogate=SG,
                          eval_data=(xb[:, 400:], yb[400:]))
    f = fed.cost["federated"]
    print(f"federated eval acc {fed.history[-1]['eval_acc']:.1%} vs centralised {cen.history[-1]['eval_acc']:.1%}; "
          f"{f['rounds']} rounds, {f['bytes'] / 1e6:.2f} MB exchanged ({f['link_seconds'] * 1e3:.1f} ms on the link), "
          f"engine energy {fed.cost['energy_core_pj'] / 1e6:.2f} uJ core; wall {time.perf_counter() - tf0:.1f} s")
    demo_step_timing()
    print(f"\nbenchmark wall time {time.perf_counter() - t0:.1f} s; load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
