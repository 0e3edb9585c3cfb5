"""Train the `make demo` SNN on scikit-learn's handwritten digits and write ``spikemesh/data/digits_model.smg``.

Run from the repository root: ``python scripts/train_digits.py`` (well under a minute on one CPU core; one torch
thread and deterministic algorithms, so the same torch build gives the same weights).

Data: ``spikemesh.data.digits`` (scikit-learn's bundled 8x8 digits, its train/test split, the deterministic rate
code over T = 16 steps). Network: the one in that module's docstring (IF neurons, subtractive reset, threshold 1,
no biases). Training: surrogate-gradient BPTT (fast sigmoid, slope 5; ``spikemesh.data.demo_torch.neuron_sequence``),
cross-entropy on output spike counts, Adam with cosine learning-rate decay. Quantization: ``spikemesh.quantize``
(per layer, 8-bit weights, 16-bit states), then the IR reference gives the recorded accuracies.
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

import spikemesh  # noqa: E402
from spikemesh.data.demo import accuracy  # noqa: E402
from spikemesh.data.demo_torch import neuron_sequence, sum_pool2d  # noqa: E402
from spikemesh.data.digits import DIGITS_MODEL, N_TEST, SPLIT_SEED, T, load_digits_data  # noqa: E402
from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection, SumPool2d  # noqa: E402
from spikemesh.ir.reference import run_reference  # noqa: E402

C1, C2, N_CLASSES = 6, 16, 10
SHAPES = {"conv1": (C1, 1, 3, 3), "conv2": (C2, C1, 3, 3), "fc": (N_CLASSES, C2 * 4 * 4)}
GAIN = {"conv1": 2.0, "conv2": 1.5, "fc": 1.5}
SLOPE = 5.0
SEED = 0


def init(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Uniform in +-gain * sqrt(3 / fan_in)."""
    out = {}
    for name, shape in SHAPES.items():
        bound = GAIN[name] * (3.0 / int(np.prod(shape[1:]))) ** 0.5
        out[name] = ((torch.rand(shape, generator=gen) * 2 - 1) * bound).requires_grad_(True)
    return out


def per_step(fn, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    T_, B = x.shape[:2]
    y = fn(x.reshape(T_ * B, *x.shape[2:]))
    return y.reshape(T_, B, *y.shape[1:])


def forward(w: dict[str, torch.Tensor], x: torch.Tensor, slope: float | None) -> torch.Tensor:
    """Output spikes ``[T, B, 10]`` of the float network."""
    s1 = neuron_sequence(per_step(lambda a: F.conv2d(a, w["conv1"], padding=1), x), 1.0, 1.0, slope)
    s2 = neuron_sequence(per_step(lambda a: F.conv2d(sum_pool2d(a), w["conv2"], padding=1), s1), 1.0, 1.0, slope)
    return neuron_sequence(per_step(lambda a: F.linear(a.flatten(1), w["fc"]), s2), 1.0, 1.0, slope)


def build_graph(w: dict[str, np.ndarray], metadata: dict) -> Graph:
    neuron = IF(threshold=1.0, reset="subtract", reset_timing="before_decay", comparison=">=")
    return Graph(
        inputs=(Input("pixels", (1, 8, 8)),),
        populations=(Population("conv1", (C1, 8, 8), neuron), Population("conv2", (C2, 4, 4), neuron),
                     Population("fc", (N_CLASSES,), neuron)),
        projections=(
            Projection("pixels->conv1", "pixels", "conv1", (Conv2d(w["conv1"], padding=1),)),
            Projection("conv1->conv2", "conv1", "conv2", (SumPool2d(2), Conv2d(w["conv2"], padding=1))),
            Projection("conv2->fc", "conv2", "fc", (Flatten(), Dense(w["fc"]))),
        ),
        outputs=(Output("digit", "fc"),),
        dt=1e-3,
        metadata=metadata,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    ap.add_argument("--batch", type=int, default=32, help="mini-batch size (default 32)")
    ap.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (default 5e-3)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "spikemesh" / "data", help="where to write the model")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(SEED)
    x_train, y_train = load_digits_data("train")
    x_test, y_test = load_digits_data("test")
    xt = torch.from_numpy(x_train.astype(np.float32))
    yt = torch.from_numpy(y_train)
    w = init(gen)
    opt = torch.optim.Adam(list(w.values()), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    n = len(y_train)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        total, correct = 0.0, 0
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            counts = forward(w, xt[:, idx], SLOPE).sum(0)
            loss = F.cross_entropy(counts, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((counts.argmax(1) == yt[idx]).sum())
        sched.step()
        print(f"epoch {epoch + 1:2d}  loss {total / n:.4f}  train acc (running) {correct / n:.3f}  "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    with torch.no_grad():
        float_acc = float((forward(w, torch.from_numpy(x_test.astype(np.float32)), None).sum(0).argmax(1)
                           == torch.from_numpy(y_test)).float().mean())
    weights = {k: v.detach().double().numpy() for k, v in w.items()}
    recipe = {
        "script": "scripts/train_digits.py",
        "data": {"source": "sklearn.datasets.load_digits (bundled with scikit-learn, 1,797 8x8 images)",
                 "split": f"numpy default_rng({SPLIT_SEED}).permutation; first {N_TEST} = test",
                 "encoding": f"deterministic rate code, T = {T}: floor(t v / 16) rises -> spike",
                 "train": int(len(y_train)), "test": int(len(y_test))},
        "training": {"method": "surrogate-gradient BPTT", "surrogate": "fast sigmoid", "slope": SLOPE,
                     "loss": "cross-entropy on output spike counts", "optimizer": "Adam", "lr": args.lr,
                     "schedule": "cosine", "epochs": args.epochs, "batch": args.batch, "torch_seed": SEED,
                     "torch_version": torch.__version__},
        "quantization": "spikemesh.quantize(weight_bits=8, state_bits=16, per='layer')",
    }
    float_graph = build_graph(weights, {})
    graph, qreport = spikemesh.quantize(float_graph, weight_bits=8, state_bits=16)
    ref = run_reference(graph, x_test)
    acc = {"torch_float_test": float_acc, "ir_reference_int_test": accuracy(ref, y_test), "chance": 0.1}
    metadata = {"name": "digits conv SNN (IF, int8)", "classes": [str(i) for i in range(N_CLASSES)],
                "readout": "argmax over the 10 'fc' neurons of spike counts over T steps, ties to the lowest index",
                "recipe": recipe, "accuracy": acc,
                "scales": {k: float(v["scale"]) for k, v in qreport.items() if isinstance(v, dict) and "scale" in v}}
    graph = graph.replace(metadata=metadata)
    for k, v in acc.items():
        print(f"accuracy {k:24s} {v:.4f}")
    print(f"spikes per layer on the test set: {ref.spike_counts()}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / DIGITS_MODEL
    graph.save(out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
