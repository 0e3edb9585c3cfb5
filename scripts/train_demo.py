"""Train the bundled demo SNN and write ``spikemesh/data/demo_model.smg`` and ``spikemesh/data/demo_inputs.npz``.

Run once from the repository root: ``python scripts/train_demo.py`` (about a minute on one CPU core; it uses one
torch thread and deterministic algorithms, so the same torch build gives the same weights).

``python scripts/train_demo.py --compare`` instead trains the same recipe twice from the same initial weights and
with the same mini-batch order -- once with ``spikemesh.train`` (the training engine's FP/BP/WG BPTT) and once in
PyTorch (this module's surrogate forward, autograd, torch.optim.Adam + CosineAnnealingLR) -- and prints the
per-epoch loss, the test accuracy of both, the weight difference and the wall times (nothing is written).
The mini-batch order of both is ``numpy.random.default_rng(--order-seed).permutation`` per epoch, the order of
``spikemesh.train(seed=...)``; the bundled model itself was trained with ``torch.randperm`` (a different order).

Network: see spikemesh/data/demo_torch.py (Conv-IF-SumPool-Conv(stride 2)-IF-Dense-IF, no biases, subtractive
reset; at most 144 presynaptic neurons per neuron, so it fits 256-axon cores).
Data: ``spikemesh.data.shapes.make_shapes`` -- generated, nothing downloaded; train / test / bundled sets use
different seeds.
Training: float model with threshold 1, surrogate-gradient BPTT (fast sigmoid, slope 5), cross-entropy on output
spike counts, Adam with cosine learning-rate decay.
Quantization (per layer, the rule of sinabs' sinabs/backend/dynapcnn/discretize.py for Speck): scale = min(scale
of the weights into 8 bits, scale of the threshold into 16 bits); w_q = round(w * scale), theta_q = round(1 * scale).
The exported graph holds these integers with weight_bits = 8 and state_bits = 16 (the membrane saturates to int16,
as Speck's 16-bit state), so it is an integer model: every engine must reproduce its spikes exactly.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spikemesh.data.demo import DEMO_INPUTS, DEMO_MODEL, accuracy  # noqa: E402
from spikemesh.data.demo_torch import (  # noqa: E402
    C1,
    C2,
    C_IN,
    LAYERS,
    SIZE,
    WEIGHT_SHAPES,
    DemoParams,
    forward,
    predict,
    run_torch,
)
from spikemesh.data.shapes import CLASS_NAMES, make_shapes  # noqa: E402
from spikemesh.ir import (  # noqa: E402
    IF,
    LIF,
    Conv2d,
    Dense,
    Flatten,
    Graph,
    Input,
    Output,
    Population,
    Projection,
    SumPool2d,
)
from spikemesh.ir.reference import run_reference  # noqa: E402

T = 20
THRESHOLD = 1.0
WEIGHT_BITS, STATE_BITS = 8, 16  # Speck's precisions (sinabs DYNAPCNN_WEIGHT/STATE_PRECISION_BITS)
TRAIN_SEED, TEST_SEED, BUNDLE_SEED, TORCH_SEED = 1, 2, 3, 0
N_TRAIN, N_TEST, N_BUNDLE = 2000, 1000, 64
SLOPE = 5.0
INIT_GAIN = {"conv1": 3.0, "conv2": 1.0, "fc": 1.0}  # conv1 larger so sparse events drive spikes at the start


def init_weights(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Uniform in +-gain * sqrt(3 / fan_in) per layer."""
    out = {}
    for name in LAYERS:
        shape = WEIGHT_SHAPES[name]
        bound = INIT_GAIN[name] * (3.0 / int(np.prod(shape[1:]))) ** 0.5
        out[name] = ((torch.rand(shape, generator=gen) * 2 - 1) * bound).requires_grad_(True)
    return out


def evaluate(params: DemoParams, x: np.ndarray, y: np.ndarray, integer: bool, batch: int = 250) -> float:
    """Accuracy of the spike-count readout over ``x [T, N, ...]``."""
    correct = 0
    for i in range(0, len(y), batch):
        out = run_torch(params, x[:, i : i + batch], integer=integer)["fc"]
        correct += int((predict(out) == y[i : i + batch]).sum())
    return correct / len(y)


def _scale(x: np.ndarray, bits: int) -> float:
    """sinabs ``determine_discretization_scale`` (discretize.py): map the dominant extreme onto the signed range."""
    lo_d, hi_d = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo, hi = float(np.min(x)), float(np.max(x))
    if abs(lo) <= abs(hi) * abs(lo_d / hi_d):
        return abs(hi_d / hi)
    return abs(lo_d / lo)


def quantize(params: DemoParams) -> tuple[DemoParams, dict[str, float]]:
    """Integer weights (8 bits) and thresholds (16 bits) per layer; returns (integer params, scale per layer)."""
    wq, thq, scales = {}, {}, {}
    for name in LAYERS:
        w = params.weights[name].detach().to(torch.float64).numpy()
        s = min(_scale(w, WEIGHT_BITS), _scale(np.array([params.thresholds[name]]), STATE_BITS))
        wq[name] = torch.from_numpy(np.round(w * s))
        thq[name] = float(np.round(params.thresholds[name] * s))
        scales[name] = s
    lo, hi = -(2 ** (STATE_BITS - 1)), 2 ** (STATE_BITS - 1) - 1
    return DemoParams(wq, params.beta, thq, (float(lo), float(hi))), scales


def build_graph(q: DemoParams, metadata: dict) -> Graph:
    """The IR graph of the integer network."""
    def neuron(name: str):
        kw = dict(threshold=int(q.thresholds[name]), reset="subtract", reset_timing="before_decay",
                  comparison=">=", weight_bits=WEIGHT_BITS, state_bits=STATE_BITS)
        return IF(**kw) if q.beta == 1.0 else LIF(q.beta, **kw)

    w = {k: v.numpy() for k, v in q.weights.items()}
    return Graph(
        inputs=(Input("events", (C_IN, SIZE, SIZE)),),
        populations=(
            Population("conv1", (C1, SIZE, SIZE), neuron("conv1")),
            Population("conv2", (C2, SIZE // 4, SIZE // 4), neuron("conv2")),
            Population("fc", (len(CLASS_NAMES),), neuron("fc")),
        ),
        projections=(
            Projection("events->conv1", "events", "conv1", (Conv2d(w["conv1"], padding=1),)),
            Projection("conv1->conv2", "conv1", "conv2", (SumPool2d(2), Conv2d(w["conv2"], stride=2, padding=1))),
            Projection("conv2->fc", "conv2", "fc", (Flatten(), Dense(w["fc"]))),
        ),
        outputs=(Output("class", "fc"),),
        dt=1e-3,
        metadata=metadata,
    )


def float_graph(w0: dict[str, torch.Tensor], beta: float = 1.0) -> Graph:
    """The float IR graph of the network at initial weights ``w0`` (no bit widths: the model that is trained)."""
    p0 = DemoParams({k: v.detach().double() for k, v in w0.items()}, beta, {n: THRESHOLD for n in LAYERS})
    g = build_graph(p0, {})
    return g.replace(populations=tuple(
        Population(p.name, p.shape, p.neuron.replace(weight_bits=None, state_bits=None)) for p in g.populations))


def torch_epoch(params: DemoParams, opt: torch.optim.Optimizer, x: np.ndarray, y: np.ndarray, perm: np.ndarray,
                batch: int) -> tuple[float, int]:
    """One epoch of mini-batches in the order ``perm``; returns (summed loss, correct running predictions)."""
    total, correct = 0.0, 0
    for i in range(0, len(perm), batch):
        idx = perm[i:i + batch]
        yb = torch.from_numpy(y[idx])
        counts = forward(params, torch.from_numpy(x[:, idx]), surrogate_slope=SLOPE)["fc"].sum(0)
        loss = F.cross_entropy(counts, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
        correct += int((counts.argmax(1) == yb).sum())
    return total, correct


def torch_train(w0: dict[str, torch.Tensor], x: np.ndarray, y: np.ndarray, epochs: int, batch: int, lr: float,
                order_seed: int, beta: float = 1.0) -> tuple[DemoParams, list[dict[str, float]]]:
    """The recipe in PyTorch from ``w0`` with the mini-batch order of ``spikemesh.train(seed=order_seed)``;
    returns the trained parameters and the per-epoch mean loss and running train accuracy."""
    weights = {k: v.detach().clone().float().requires_grad_(True) for k, v in w0.items()}
    params = DemoParams(weights, beta, {n: THRESHOLD for n in LAYERS})
    opt = torch.optim.Adam(list(weights.values()), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    rng = np.random.default_rng(order_seed)
    history = []
    n = x.shape[1]
    for _ in range(epochs):
        total, correct = torch_epoch(params, opt, x, y, rng.permutation(n), batch)
        sched.step()
        history.append({"loss": total / n, "train_acc": correct / n})
    return params, history


def compare(n_train: int, n_test: int, epochs: int, batch: int, lr: float, order_seed: int = 0,
            beta: float = 1.0, verbose: bool = True) -> dict[str, object]:
    """Train the recipe with spikemesh.train and with torch (same init, data, order, surrogate, optimiser);
    returns test accuracies, per-epoch histories, the largest weight difference and wall times."""
    import spikemesh

    torch.set_num_threads(1)
    w0 = init_weights(torch.Generator().manual_seed(TORCH_SEED))
    graph = float_graph(w0, beta)
    x, y = make_shapes(n_train, TRAIN_SEED, T=T, size=SIZE)
    xt, yt = make_shapes(n_test, TEST_SEED, T=T, size=SIZE)
    t0 = time.perf_counter()
    res = spikemesh.train(graph, (x, y), epochs=epochs, lr=lr, batch=batch, surrogate=("fast_sigmoid", SLOPE, True),
                          seed=order_seed, eval_data=(xt, yt), layout="own")
    t_sm = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref, hist_t = torch_train(w0, x, y, epochs, batch, lr, order_seed, beta)
    t_torch = time.perf_counter() - t0
    acc_t = evaluate(ref, xt, yt, integer=False)
    # the spikemesh-trained weights run through the torch forward (an independent evaluation of the same weights)
    from spikemesh.data.demo_torch import params_from_graph

    p_sm = params_from_graph(res.graph)
    p_sm = DemoParams({k: v.float() for k, v in p_sm.weights.items()}, p_sm.beta, p_sm.thresholds)
    acc_sm_torchfwd = evaluate(p_sm, xt, yt, integer=False)
    dw = {k: float((p_sm.weights[k] - ref.weights[k].detach()).abs().max() / ref.weights[k].detach().abs().max())
          for k in LAYERS}
    out = {"acc_spikemesh": res.history[-1]["eval_acc"], "acc_torch": acc_t,
           "acc_spikemesh_weights_torch_forward": acc_sm_torchfwd, "max_rel_weight_diff": dw,
           "history_spikemesh": [{"loss": h["loss"], "train_acc": h["train_acc"]} for h in res.history],
           "history_torch": hist_t, "wall_s_spikemesh": t_sm, "wall_s_torch": t_torch}
    if verbose:
        print(f"recipe: n_train {n_train}, n_test {n_test}, T {T}, epochs {epochs}, batch {batch}, lr {lr}, "
              f"Adam + cosine, fast sigmoid slope {SLOPE}, order seed {order_seed}")
        print(f"{'epoch':>5s} {'loss spikemesh':>15s} {'loss torch':>11s} {'train acc sm':>13s} "
              f"{'train acc torch':>16s}")
        for e, (a, b) in enumerate(zip(out["history_spikemesh"], hist_t, strict=True)):
            print(f"{e + 1:5d} {a['loss']:15.4f} {b['loss']:11.4f} {a['train_acc']:13.3f} {b['train_acc']:16.3f}")
        print(f"test accuracy: spikemesh.train {out['acc_spikemesh']:.4f}  torch {acc_t:.4f}  "
              f"difference {100 * (out['acc_spikemesh'] - acc_t):+.2f} points")
        print(f"spikemesh-trained weights through the torch forward: {acc_sm_torchfwd:.4f}")
        print("max |w_spikemesh - w_torch| / max |w_torch| per layer: "
              + ", ".join(f"{k} {v:.2e}" for k, v in dw.items()))
        print(f"wall time: spikemesh.train {t_sm:.1f} s (incl. cost model), torch {t_torch:.1f} s (1 thread)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--beta", type=float, default=1.0, help="membrane decay per step; 1 = IF (Speck-compatible)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "spikemesh" / "data")
    ap.add_argument("--compare", action="store_true",
                    help="train the recipe with spikemesh.train and with torch and compare (writes nothing)")
    ap.add_argument("--n-train", type=int, default=N_TRAIN, help="--compare: training samples")
    ap.add_argument("--n-test", type=int, default=N_TEST, help="--compare: test samples")
    ap.add_argument("--order-seed", type=int, default=0, help="--compare: mini-batch order seed")
    args = ap.parse_args()
    if args.compare:
        import os

        print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        compare(args.n_train, args.n_test, args.epochs, args.batch, args.lr, args.order_seed, args.beta)
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        return

    torch.set_num_threads(1)
    torch.manual_seed(TORCH_SEED)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(TORCH_SEED)

    x_train, y_train = make_shapes(N_TRAIN, TRAIN_SEED, T=T, size=SIZE)
    x_test, y_test = make_shapes(N_TEST, TEST_SEED, T=T, size=SIZE)
    x_bundle, y_bundle = make_shapes(N_BUNDLE, BUNDLE_SEED, T=T, size=SIZE)

    weights = init_weights(gen)
    params = DemoParams(weights, args.beta, {name: THRESHOLD for name in LAYERS})
    opt = torch.optim.Adam(list(weights.values()), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    t_start = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(N_TRAIN, generator=gen).numpy()
        total, correct = torch_epoch(params, opt, x_train, y_train, perm, args.batch)
        sched.step()
        print(f"epoch {epoch + 1:2d}  loss {total / N_TRAIN:.4f}  train acc (running) {correct / N_TRAIN:.3f}"
              f"  {time.perf_counter() - t_start:.1f} s", flush=True)
    print(f"training time {time.perf_counter() - t_start:.1f} s (1 thread)")

    acc = {
        "torch_float_test": evaluate(params, x_test, y_test, integer=False),
        "torch_float_bundled": evaluate(params, x_bundle, y_bundle, integer=False),
    }
    q, scales = quantize(params)
    acc["torch_int_test"] = evaluate(q, x_test, y_test, integer=True)
    acc["torch_int_bundled"] = evaluate(q, x_bundle, y_bundle, integer=True)

    recipe = {
        "script": "scripts/train_demo.py",
        "data": {"generator": "spikemesh.data.shapes.make_shapes", "T": T, "size": SIZE,
                 "train": {"n": N_TRAIN, "seed": TRAIN_SEED}, "test": {"n": N_TEST, "seed": TEST_SEED},
                 "bundled": {"n": N_BUNDLE, "seed": BUNDLE_SEED}},
        "network": f"events[{C_IN},{SIZE},{SIZE}] -> Conv2d({C_IN}->{C1},k3,p1) -> conv1 -> SumPool2d(2) -> "
                   f"Conv2d({C1}->{C2},k3,s2,p1) -> conv2 -> Flatten -> Dense({C2 * (SIZE // 4) ** 2}->4) -> fc; "
                   "no biases",
        "neuron": {"kind": "IF" if args.beta == 1.0 else "LIF", "beta": args.beta, "threshold_float": THRESHOLD,
                   "reset": "subtract", "comparison": ">="},
        "training": {"method": "surrogate-gradient BPTT", "surrogate": "fast sigmoid", "slope": SLOPE,
                     "loss": "cross-entropy on output spike counts", "optimizer": "Adam", "lr": args.lr,
                     "schedule": "cosine", "epochs": args.epochs, "batch": args.batch, "torch_seed": TORCH_SEED,
                     "init": {"rule": "uniform +-gain*sqrt(3/fan_in)", "gain": INIT_GAIN},
                     "torch_version": torch.__version__},
        "quantization": {"rule": "per layer s = min(scale8(w), scale16(theta)); w_q = round(w*s); "
                                 "theta_q = round(theta*s) (sinabs discretize)",
                         "weight_bits": WEIGHT_BITS, "state_bits": STATE_BITS, "scales": scales},
    }
    metadata = {
        "name": "shapes event classifier (IF conv SNN, int8)",
        "classes": list(CLASS_NAMES),
        "readout": "argmax over the 4 'fc' neurons of spike counts over T steps, ties to the lowest index",
        "inputs_file": DEMO_INPUTS,
        "recipe": recipe,
        "accuracy": acc,
    }
    graph = build_graph(q, metadata)

    # The IR reference on the bundled samples must equal the integer torch network spike for spike.
    ref = run_reference(graph, x_bundle)
    assert ref.mode == "int", ref.mode
    torch_spikes = run_torch(q, x_bundle, integer=True)
    for name in LAYERS:
        if not np.array_equal(ref.spikes[name], torch_spikes[name]):
            raise SystemExit(f"IR reference and torch integer network differ on layer {name}")
    acc["ir_reference_bundled"] = accuracy(ref, y_bundle)
    if acc["ir_reference_bundled"] != acc["torch_int_bundled"]:
        raise SystemExit("IR reference accuracy differs from the integer torch network's")
    acc["chance"] = 1.0 / len(CLASS_NAMES)
    graph = build_graph(q, metadata)  # now with the IR accuracy recorded

    for k, v in acc.items():
        print(f"accuracy {k:22s} {v:.4f}")
    print(f"thresholds {q.thresholds}  scales { {k: round(v, 3) for k, v in scales.items()} }")
    print(f"spikes per layer on the bundled samples: {ref.spike_counts()}")

    args.out_dir.mkdir(parents=True, exist_ok=True)
    graph.save(args.out_dir / DEMO_MODEL)
    np.savez_compressed(args.out_dir / DEMO_INPUTS, inputs=x_bundle.astype(np.uint8), labels=y_bundle)
    for f in (DEMO_MODEL, DEMO_INPUTS):
        print(f"wrote {args.out_dir / f} ({(args.out_dir / f).stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
