"""Optimisers of ``train()`` and its learning-rate schedule.

``Adam`` is torch.optim.Adam's update (bias-corrected moments, eps added after the square root), ``SGD`` the plain
step w ← w − lr·g; both keep the parameters float32. ``epoch_lr``: the constant rate, or cosine decay per epoch
(torch.optim.lr_scheduler.CosineAnnealingLR with eta_min = 0 and T_max = the number of epochs).
"""

from __future__ import annotations

import math

import numpy as np

from spikemesh.trainer.op_rules import F32, TrainingError


class Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            denom = np.sqrt(self.v[k]) / math.sqrt(c2) + self.eps
            params[k] = (params[k] - (self.lr / c1) * self.m[k] / denom).astype(F32)


class SGD:
    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.lr = lr

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for k, g in grads.items():
            params[k] = (params[k] - self.lr * g).astype(F32)


def make_optimizer(name: str, params: dict[str, np.ndarray], lr: float) -> Adam | SGD:
    """The optimiser called ``name`` ("adam" or "sgd") for ``params`` at learning rate ``lr``."""
    if name == "adam":
        return Adam(params, lr)
    if name == "sgd":
        return SGD(params, lr)
    raise TrainingError(f"unknown optimizer {name!r}", needed="adam or sgd", available=name)


def epoch_lr(lr: float, schedule: str | None, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (0-based) of ``epochs``: cosine decay from ``lr`` when ``schedule`` is
    "cosine", else ``lr``."""
    return lr * (1 + math.cos(math.pi * epoch / epochs)) / 2 if schedule == "cosine" else lr
