"""Train the bundled demo SNN and write ``spikemesh/data/demo_model.npz``.

Run once from the repository root: ``python scripts/train_demo.py`` (about a minute on one CPU core).

Network (no biases): Conv2d(2->8,k3,p1) -> LIF -> SumPool2d(2) -> Conv2d(8->16,k3,p1) -> LIF -> SumPool2d(2)
-> Flatten -> Linear(256->4) -> LIF; the class is the argmax of output spike counts. LIF semantics are the IR's
(see spikemesh/data/demo_torch.py): v = beta*v + I; s = v >= theta; v -= theta*s; beta = 7/8, theta = 1.
Training: surrogate-gradient BPTT (fast sigmoid, slope 5), cross-entropy on output spike counts, Adam.
Data: ``spikemesh.data.shapes.make_shapes`` -- generated, nothing downloaded.

It also reports the accuracy of an int8 version: per layer s = max|w| / 127, w_q = round(w / s),
theta_q = round(theta / s), integer membrane with decay v <- trunc_toward_zero(7 v / 8) (beta = 7/8 exactly).
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

from spikemesh.data.demo_torch import forward, sum_pool2d  # noqa: E402
from spikemesh.data.shapes import make_shapes  # noqa: E402

BETA = 0.875  # 7/8: exactly representable; integer hardware decays with a multiply by 7 and a shift by 3
THRESHOLD = 1.0
T = 20
SIZE = 16
TRAIN_SEED, TEST_SEED, BUNDLE_SEED, TORCH_SEED = 1, 2, 3, 0
N_TRAIN, N_TEST, N_BUNDLE = 2000, 1000, 64
SLOPE = 5.0
WEIGHT_NAMES = ("conv1.weight", "conv2.weight", "fc.weight")


def init_weights(gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Uniform init scaled so that sparse binary inputs drive the first layers to spike at the start."""
    shapes = {"conv1.weight": (8, 2, 3, 3), "conv2.weight": (16, 8, 3, 3), "fc.weight": (4, 256)}
    gains = {"conv1.weight": 3.0, "conv2.weight": 1.0, "fc.weight": 1.0}
    out = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:]))
        bound = gains[name] * (3.0 / fan_in) ** 0.5
        w = (torch.rand(shape, generator=gen) * 2 - 1) * bound
        out[name] = w.requires_grad_(True)
    return out


def accuracy_float(weights: dict[str, torch.Tensor], x: np.ndarray, y: np.ndarray, batch: int = 250) -> float:
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            counts = forward(weights, torch.from_numpy(x[:, i : i + batch]), BETA, THRESHOLD)["lif3"].sum(0)
            correct += int((counts.argmax(1).numpy() == y[i : i + batch]).sum())
    return correct / len(y)


def quantize(weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Per-layer int8: s = max|w|/127, w_q = round(w/s), theta_q = round(theta/s). Returns (w_q, theta_q)."""
    wq, thq = {}, {}
    for name in WEIGHT_NAMES:
        w = weights[name].detach().to(torch.float64)
        s = w.abs().max().item() / 127.0
        wq[name] = torch.round(w / s)
        thq[name] = int(round(THRESHOLD / s))
    return wq, thq


def lif_int(current: np.ndarray, theta: int) -> np.ndarray:
    """Integer LIF over int64 currents [T, ...]: v = trunc0(7v/8) + I; s = v >= theta; v -= theta*s."""
    v = np.zeros(current.shape[1:], dtype=np.int64)
    out = np.zeros(current.shape, dtype=bool)
    for t in range(current.shape[0]):
        v = np.sign(v) * ((np.abs(v) * 7) // 8) + current[t]  # decay rounds toward zero for both signs
        s = v >= theta
        v = v - theta * s
        out[t] = s
    return out


def accuracy_int8(wq: dict[str, torch.Tensor], thq: dict[str, int], x: np.ndarray, y: np.ndarray) -> float:
    """Integer evaluation; float64 convolutions of small integers are exact, then cast to int64."""
    Tn, B = x.shape[:2]

    def per_step(fn, a: np.ndarray) -> np.ndarray:
        r = fn(torch.from_numpy(a.reshape(Tn * B, *a.shape[2:]).astype(np.float64))).numpy()
        return np.rint(r).astype(np.int64).reshape(Tn, B, *r.shape[1:])

    s1 = lif_int(per_step(lambda a: F.conv2d(a, wq["conv1.weight"], padding=1), x), thq["conv1.weight"])
    c2 = per_step(lambda a: F.conv2d(sum_pool2d(a), wq["conv2.weight"], padding=1), s1)
    s2 = lif_int(c2, thq["conv2.weight"])
    c3 = per_step(lambda a: F.linear(sum_pool2d(a).flatten(1), wq["fc.weight"]), s2)
    s3 = lif_int(c3, thq["fc.weight"])
    return float((s3.sum(0).argmax(1) == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", type=Path, default=ROOT / "spikemesh" / "data" / "demo_model.npz")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(TORCH_SEED)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(TORCH_SEED)

    x_train, y_train = make_shapes(N_TRAIN, TRAIN_SEED, T=T, size=SIZE)
    x_test, y_test = make_shapes(N_TEST, TEST_SEED, T=T, size=SIZE)
    x_bundle, y_bundle = make_shapes(N_BUNDLE, BUNDLE_SEED, T=T, size=SIZE)

    weights = init_weights(gen)
    opt = torch.optim.Adam(list(weights.values()), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    t_start = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(N_TRAIN, generator=gen).numpy()
        total, correct = 0.0, 0
        for i in range(0, N_TRAIN, args.batch):
            idx = perm[i : i + args.batch]
            xb = torch.from_numpy(x_train[:, idx])
            yb = torch.from_numpy(y_train[idx])
            counts = forward(weights, xb, BETA, THRESHOLD, surrogate_slope=SLOPE)["lif3"].sum(0)
            loss = F.cross_entropy(counts, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += int((counts.argmax(1) == yb).sum())
        sched.step()
        print(f"epoch {epoch + 1:2d}  loss {total / N_TRAIN:.4f}  train acc (running) {correct / N_TRAIN:.3f}"
              f"  {time.perf_counter() - t_start:.1f} s", flush=True)
    train_time = time.perf_counter() - t_start

    train_acc = accuracy_float(weights, x_train, y_train)
    test_acc = accuracy_float(weights, x_test, y_test)
    bundle_acc = accuracy_float(weights, x_bundle, y_bundle)
    wq, thq = quantize(weights)
    train_acc_q = accuracy_int8(wq, thq, x_train, y_train)
    test_acc_q = accuracy_int8(wq, thq, x_test, y_test)
    bundle_acc_q = accuracy_int8(wq, thq, x_bundle, y_bundle)
    print(f"training time {train_time:.1f} s (1 thread)")
    print(f"float : train {train_acc:.4f}  test {test_acc:.4f}  bundled-64 {bundle_acc:.4f}")
    print(f"int8  : train {train_acc_q:.4f}  test {test_acc_q:.4f}  bundled-64 {bundle_acc_q:.4f}"
          f"  theta_q {thq}")

    np.savez_compressed(
        args.out,
        **{name: weights[name].detach().numpy().astype(np.float32) for name in WEIGHT_NAMES},
        beta=np.float64(BETA),
        threshold=np.float64(THRESHOLD),
        T=np.int64(T),
        inputs=x_bundle,
        labels=y_bundle,
        train_accuracy=np.float64(train_acc),
        test_accuracy=np.float64(test_acc),
        bundled_accuracy=np.float64(bundle_acc),
        train_accuracy_int8=np.float64(train_acc_q),
        test_accuracy_int8=np.float64(test_acc_q),
        bundled_accuracy_int8=np.float64(bundle_acc_q),
        seeds=np.array([TRAIN_SEED, TEST_SEED, BUNDLE_SEED, TORCH_SEED], dtype=np.int64),
        sizes=np.array([N_TRAIN, N_TEST, N_BUNDLE], dtype=np.int64),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
