"""The demo network in plain torch: training forward pass (surrogate gradients) and an integer forward pass that
is an implementation of the IR semantics independent of ``spikemesh.ir.reference``.

Network (no biases; layer names are the IR population names):
``events [2,16,16]`` -> Conv2d(2->4, k3, p1) -> IF ``conv1`` [4,16,16] -> SumPool2d(2) -> Conv2d(4->8, k3, s2, p1)
-> IF ``conv2`` [8,4,4] -> Flatten -> Dense(128->4) -> IF ``fc`` [4] (the output; the class is the argmax of its
spike counts over the T steps, ties to the lowest index). Every neuron has at most 144 distinct presynaptic
neurons (conv2: 4 channels x 6x6 pixels of conv1 through the pooling; fc: 128), so the network fits cores with
256 axons (Tianjic-like: 256 fan-in per core, Deng et al., IEEE JSSC 2020); it uses only Speck's layer kinds
(conv, IAF, sum pool: one DYNAP-CNN layer is Conv2d → IAF → sum pooling, sinabs documentation), not checked
against Speck's memory table here.

Neuron semantics, identical to the IR's (docs/semantics.md; ``reset_timing="before_decay"``): per step t,
``v = decay(v) + I[t]``; ``s = v >= theta``; ``v = v - theta * s``; ``v = clip(v, lo, hi)``; ``v`` starts at 0.
A spike of one layer at step t reaches the next layer in the same step t. ``decay(v) = beta * v`` in float mode and
``trunc(beta * v)`` (toward zero) in integer mode, as the IR's int mode (beta = k / 2**12 exactly). With no
recurrence, running each layer over all T steps before the next gives the same spikes as the step-major order.

``scripts/train_demo.py`` trains the float network with these functions and quantizes it; the tests run the
integer network built from the bundled IR graph (``params_from_graph``) and compare it with the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from spikemesh.errors import GraphError

LAYERS = ("conv1", "conv2", "fc")
C_IN, C1, C2, SIZE, N_CLASSES = 2, 4, 8, 16, 4
WEIGHT_SHAPES = {"conv1": (C1, C_IN, 3, 3), "conv2": (C2, C1, 3, 3), "fc": (N_CLASSES, C2 * (SIZE // 4) ** 2)}
#: per IR projection into each layer: operator types and (stride, padding) of its Conv
STRUCTURE = {"conv1": (("Conv",), (1, 1)), "conv2": (("SumPool2d", "Conv"), (2, 1)), "fc": (("Reshape", "Dense"), None)}


@dataclass
class DemoParams:
    """Weights per layer (conv ``[out, in, 3, 3]``, dense ``[out, in]``), membrane decay ``beta`` (1 = IF),
    thresholds per layer and the state clamp ``(lo, hi)`` (None = unbounded). Integer models hold integers."""

    weights: dict[str, torch.Tensor]
    beta: float
    thresholds: dict[str, float]
    bounds: tuple[float, float] | None = None


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


def neuron_sequence(
    current: torch.Tensor,
    beta: float,
    threshold: float,
    surrogate_slope: float | None = None,
    integer: bool = False,
    bounds: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Run one IF/LIF layer over input currents ``[T, B, ...]``; returns spikes ``[T, B, ...]`` as 0/1 floats.

    With ``surrogate_slope`` the spike carries a fast-sigmoid surrogate gradient and the reset term is detached.
    ``integer`` truncates the decayed membrane toward zero (exact in float64 for integer states).
    """
    v = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        if beta != 1.0:
            v = beta * v
            if integer:
                v = torch.trunc(v)
        v = v + current[t]
        if surrogate_slope is None:
            s = (v >= threshold).to(v.dtype)
            v = v - threshold * s
        else:
            s = _FastSigmoidSpike.apply(v - threshold, surrogate_slope)
            v = v - threshold * s.detach()
        if bounds is not None:
            v = v.clamp(bounds[0], bounds[1])
        out.append(s)
    return torch.stack(out)


def _per_step(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a stateless ``fn`` to ``[T, B, ...]`` by folding T into the batch."""
    T, B = x.shape[:2]
    y = fn(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


def sum_pool2d(x: torch.Tensor) -> torch.Tensor:
    """2x2 sum pooling with stride 2 over ``[N, C, H, W]`` (a sum, not a mean; exact on small integers)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).sum(dim=(3, 5))


def forward(
    params: DemoParams,
    inputs: torch.Tensor | np.ndarray,
    surrogate_slope: float | None = None,
    integer: bool = False,
) -> dict[str, torch.Tensor]:
    """Forward pass over inputs ``[T, B, 2, 16, 16]``; returns spikes per layer (0/1 floats ``[T, B, ...]``).

    ``integer`` runs in float64 with truncating decay: exact for integer weights, thresholds and inputs.
    """
    dtype = torch.float64 if integer else torch.float32
    x = torch.as_tensor(np.asarray(inputs) if isinstance(inputs, np.ndarray) else inputs).to(dtype)
    w = {k: v.to(dtype) for k, v in params.weights.items()}
    th, b = params.thresholds, params.beta

    def layer(name: str, current: torch.Tensor) -> torch.Tensor:
        return neuron_sequence(current, b, th[name], surrogate_slope, integer, params.bounds)

    s1 = layer("conv1", _per_step(lambda a: F.conv2d(a, w["conv1"], padding=1), x))
    s2 = layer("conv2", _per_step(lambda a: F.conv2d(sum_pool2d(a), w["conv2"], stride=2, padding=1), s1))
    s3 = layer("fc", _per_step(lambda a: F.linear(a.flatten(1), w["fc"]), s2))
    return {"conv1": s1, "conv2": s2, "fc": s3}


def params_from_graph(graph) -> DemoParams:  # noqa: ANN001  (a spikemesh.ir.Graph; no import cycle)
    """Rebuild the torch network's parameters from the demo IR graph (weights, thresholds, beta, clamp)."""
    from spikemesh.ir import Conv, Dense

    weights: dict[str, torch.Tensor] = {}
    thresholds: dict[str, float] = {}
    betas, bounds = set(), set()
    for name in LAYERS:
        if name not in graph.population:
            raise GraphError("not the demo graph: population missing", node=name,
                             hint=f"populations: {', '.join(graph.population)}")
        (proj,) = graph.incoming(name)
        kinds, conv = STRUCTURE[name]
        if tuple(type(op).__name__ for op in proj.ops) != kinds:
            raise GraphError("not the demo graph: unexpected operators", node=proj.name, needed=kinds,
                             available=tuple(type(op).__name__ for op in proj.ops))
        (wop,) = [op for op in proj.ops if isinstance(op, (Conv, Dense))]
        if conv is not None and (wop.stride, wop.padding) != ((conv[0],) * 2, (conv[1],) * 2):
            raise GraphError("not the demo graph: conv stride/padding", node=proj.name, needed=conv,
                             available=(wop.stride, wop.padding))
        weights[name] = torch.from_numpy(np.array(wop.weight, dtype=np.float64))
        neuron = graph.population[name].neuron
        thresholds[name] = float(np.unique(neuron.threshold).item())
        betas.add(float(np.unique(neuron.beta).item()))
        bounds.add(neuron.state_bounds())
    if len(betas) != 1 or len(bounds) != 1:
        raise GraphError("demo layers must share beta and state bounds", node="conv1",
                         available=f"beta {sorted(betas)}, bounds {sorted(bounds)}")
    lo, hi = bounds.pop()
    return DemoParams(weights, betas.pop(), thresholds,
                      None if (lo, hi) == (-np.inf, np.inf) else (float(lo), float(hi)))


def run_torch(params: DemoParams, inputs: np.ndarray | torch.Tensor, integer: bool = True) -> dict[str, np.ndarray]:
    """Spikes per layer as bool arrays ``[T, B, ...]``, without gradients."""
    with torch.no_grad():
        out = forward(params, inputs, integer=integer)
    return {k: v.numpy().astype(bool) for k, v in out.items()}


def predict(spikes_out: np.ndarray) -> np.ndarray:
    """Class per sample from output spikes ``[T, B, n_classes]``: argmax of counts, ties to the lowest index."""
    return np.argmax(np.asarray(spikes_out).sum(axis=0), axis=1).astype(np.int64)
