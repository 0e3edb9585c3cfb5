"""Losses on the network output and their gradients ∂L/∂(output) per step (the BP engine's ε of the last layer).

``ce_count``: softmax cross-entropy on the output summed over time (spike counts, or summed membrane for a
non-spiking readout), averaged over the batch — the demo's training loss (scripts/train_demo.py).
``ce_mean``: the same on the mean over time (PRIME's readout: the mean over time of the output membrane,
github.com/bo-wang-up/PRIME).
``mse_count``: mean squared error between the time-summed output and a one-hot target times ``scale``.
"""

from __future__ import annotations

import numpy as np

from spikemesh.trainer.op_rules import F32, TrainingError

LOSSES = ("ce_count", "ce_mean", "mse_count")


def loss_and_grad(kind: str, out: np.ndarray, labels: np.ndarray, scale: float = 1.0
                  ) -> tuple[float, np.ndarray, np.ndarray]:
    """(loss, ∂L/∂out [T, B, C] float32, logits [B, C]) for output ``out [T, B, C]`` and labels ``[B]``."""
    T, B = out.shape[:2]
    if out.ndim != 3:
        raise TrainingError("the output population must be 1-D (classes)", node="output", needed="[T, B, C]",
                            available=list(out.shape))
    if labels.shape != (B,):
        raise TrainingError("labels do not match the batch", node="labels", needed=[B], available=list(labels.shape))
    C = out.shape[2]
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise TrainingError("label out of range", node="labels", needed=f"0..{C - 1}",
                            available=f"{labels.min()}..{labels.max()}")
    if kind in ("ce_count", "ce_mean"):
        factor = 1.0 if kind == "ce_count" else 1.0 / T
        logits = out.astype(np.float64).sum(axis=0) * factor
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = float(-logp[np.arange(B), labels].mean())
        g = np.exp(logp)
        g[np.arange(B), labels] -= 1.0
        g = g / B * factor
    elif kind == "mse_count":
        logits = out.astype(np.float64).sum(axis=0)
        target = np.zeros_like(logits)
        target[np.arange(B), labels] = scale
        diff = logits - target
        loss = float((diff ** 2).mean())
        g = 2.0 * diff / diff.size
    else:
        raise TrainingError(f"unknown loss {kind!r}", needed=", ".join(LOSSES), available=kind)
    grad = np.broadcast_to(g.astype(F32)[None], out.shape).copy()
    return loss, grad, logits
