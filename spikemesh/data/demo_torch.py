"""Float torch forward pass of the bundled demo network, rebuilt from ``demo_model.npz``.

Network (no biases): Conv2d(2->8, k3, p1) -> LIF ``lif1`` -> SumPool2d(2) -> Conv2d(8->16, k3, p1) -> LIF
``lif2`` -> SumPool2d(2) -> Flatten -> Linear(256->4) -> LIF ``lif3`` (output; the class is the argmax of
its spike counts over the T steps, ties to the lowest index).

LIF semantics, identical to the IR's: per step t, ``v = beta * v + I[t]``; ``s = v >= threshold``;
``v = v - threshold * s`` (subtractive reset right after firing, before the next decay); ``v`` starts at 0;
a spike of layer k at step t reaches layer k+1 in the same step t. With no recurrence, running each layer
over all T steps before the next layer gives exactly the same spikes as the step-major order.

``scripts/train_demo.py`` trains the network and uses these functions; a surrogate gradient is attached
only when ``surrogate_slope`` is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

LAYERS = ("lif1", "lif2", "lif3")
DEMO_MODEL = "demo_model.npz"


class _FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward; fast-sigmoid derivative 1 / (1 + k|x|)^2 backward (x = v - threshold)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None


def lif_sequence(
    current: torch.Tensor, beta: float, threshold: float, surrogate_slope: float | None = None
) -> torch.Tensor:
    """Run a LIF layer over currents ``[T, B, ...]``; returns spikes ``[T, B, ...]`` as float 0/1.

    With ``surrogate_slope`` the spike function carries a fast-sigmoid surrogate gradient; the reset term is
    detached (gradients flow through the decay only).
    """
    v = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        v = beta * v + current[t]
        if surrogate_slope is None:
            s = (v >= threshold).to(v.dtype)
        else:
            s = _FastSigmoidSpike.apply(v - threshold, surrogate_slope)
        v = v - threshold * (s.detach() if surrogate_slope is not None else s)
        out.append(s)
    return torch.stack(out)


def _per_step(fn, x: torch.Tensor) -> torch.Tensor:
    """Apply a stateless ``fn`` to ``[T, B, ...]`` by folding T into the batch."""
    T, B = x.shape[:2]
    y = fn(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


def sum_pool2d(x: torch.Tensor) -> torch.Tensor:
    """2x2 sum pooling with stride 2 over ``[N, C, H, W]`` (a sum, not a mean)."""
    return F.avg_pool2d(x, 2) * 4.0


def forward(
    weights: dict[str, torch.Tensor],
    inputs: torch.Tensor,
    beta: float,
    threshold: float,
    surrogate_slope: float | None = None,
) -> dict[str, torch.Tensor]:
    """Float forward pass over inputs ``[T, B, 2, 16, 16]``; returns spikes per layer (float 0/1)."""
    x = inputs.to(torch.float32)
    s1 = lif_sequence(_per_step(lambda a: F.conv2d(a, weights["conv1.weight"], padding=1), x),
                      beta, threshold, surrogate_slope)
    c2 = _per_step(lambda a: F.conv2d(sum_pool2d(a), weights["conv2.weight"], padding=1), s1)
    s2 = lif_sequence(c2, beta, threshold, surrogate_slope)
    c3 = _per_step(lambda a: F.linear(sum_pool2d(a).flatten(1), weights["fc.weight"]), s2)
    s3 = lif_sequence(c3, beta, threshold, surrogate_slope)
    return {"lif1": s1, "lif2": s2, "lif3": s3}


def load_demo_npz(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Load the bundled ``demo_model.npz`` (or ``path``) into a dict of arrays."""
    p = Path(__file__).with_name(DEMO_MODEL) if path is None else Path(path)
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


class DemoNetworkTorch:
    """The float demo network; ``run_torch(inputs)`` returns bool spikes ``[T, B, ...]`` per layer."""

    def __init__(self, model: dict[str, np.ndarray]) -> None:
        self.weights = {k: torch.from_numpy(np.asarray(model[k], dtype=np.float32))
                        for k in ("conv1.weight", "conv2.weight", "fc.weight")}
        self.beta = float(model["beta"])
        self.threshold = float(model["threshold"])
        self.T = int(model["T"])

    def run_torch(self, inputs: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Spikes of ``lif1`` [T,B,8,16,16], ``lif2`` [T,B,16,8,8], ``lif3`` [T,B,4] as bool arrays."""
        x = torch.as_tensor(np.asarray(inputs))
        with torch.no_grad():
            out = forward(self.weights, x, self.beta, self.threshold)
        return {k: v.numpy().astype(bool) for k, v in out.items()}

    def predict(self, inputs: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class per sample: argmax of output spike counts (ties to the lowest index), int64 ``[B]``."""
        return np.argmax(self.run_torch(inputs)["lif3"].sum(axis=0), axis=1).astype(np.int64)


def demo_network_torch(path: str | Path | None = None) -> DemoNetworkTorch:
    """Rebuild the float torch network from the bundled npz (or ``path``)."""
    return DemoNetworkTorch(load_demo_npz(path))


def run_torch(inputs: np.ndarray | torch.Tensor, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Spikes per LIF layer (``lif1``, ``lif2``, ``lif3``), bool ``[T, B, ...]``, of the bundled network."""
    return demo_network_torch(path).run_torch(inputs)
