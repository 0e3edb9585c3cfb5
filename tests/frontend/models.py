"""Small reusable IR models with integer weights and thresholds (for frontend, simulator and backend tests).

Every builder is deterministic in ``seed``. Neurons fire on ``>`` and reset to zero before the next decay
by default, which NIR can express exactly (so the models also round-trip through ``save_nir``); pass
``reset="subtract"`` / ``comparison=">="`` for the other conventions. Decays are on the integer-mode grid
(k/4096). With ``quantized=True`` every population carries bit widths, so ``run_reference`` uses int mode.
"""

from __future__ import annotations

import numpy as np

from spikemesh.ir import (
    IF,
    LIF,
    Conv2d,
    CubaLIF,
    Delay,
    Dense,
    Flatten,
    Graph,
    Input,
    Output,
    Population,
    Projection,
    SumPool2d,
)
from spikemesh.ir.neurons import Neuron


def _neuron(kind: str, reset: str, comparison: str, quantized: bool, threshold: float, **kw: float) -> Neuron:
    bits = {"weight_bits": 8, "state_bits": 16} if quantized else {}
    if kind == "IF":
        return IF(threshold, reset=reset, comparison=comparison, **bits)
    if kind == "CubaLIF":
        return CubaLIF(kw.get("alpha", 0.5), kw.get("beta", 0.875), threshold, reset=reset, comparison=comparison,
                       **bits)
    return LIF(kw.get("beta", 0.875), threshold, reset=reset, comparison=comparison, **bits)


def mlp(seed: int = 0, sizes: tuple[int, ...] = (20, 30, 5), kind: str = "LIF", reset: str = "zero",
        comparison: str = ">", quantized: bool = False, threshold: float = 8.0) -> Graph:
    """Input ``sizes[0]`` → dense layers of ``kind`` neurons; weights in [-4, 6]."""
    rng = np.random.default_rng(seed)
    pops, projs = [], []
    src = "input"
    for i, n in enumerate(sizes[1:]):
        name = f"l{i + 1}"
        pops.append(Population(name, (n,), _neuron(kind, reset, comparison, quantized, threshold)))
        w = rng.integers(-4, 7, (n, sizes[i])).astype(float)
        projs.append(Projection(f"w{i + 1}", src, name, (Dense(w),)))
        src = name
    return Graph((Input("input", (sizes[0],)),), pops, projs, (Output("out", src),), dt=1e-4)


def conv_net(seed: int = 0, reset: str = "zero", comparison: str = ">", quantized: bool = False) -> Graph:
    """in 2x8x8 → conv 4x3x3 p1 (IF) → sumpool 2 → conv 4x3x3 (LIF) → flatten → dense 6 (IF)."""
    rng = np.random.default_rng(seed)
    q = quantized
    pops = (Population("c1", (4, 8, 8), _neuron("IF", reset, comparison, q, 6.0)),
            Population("c2", (4, 2, 2), _neuron("LIF", reset, comparison, q, 6.0)),
            Population("fc", (6,), _neuron("IF", reset, comparison, q, 4.0)))
    projs = (Projection("k1", "input", "c1", (Conv2d(rng.integers(-3, 5, (4, 2, 3, 3)).astype(float), padding=1),)),
             Projection("k2", "c1", "c2", (SumPool2d(2), Conv2d(rng.integers(-3, 5, (4, 4, 3, 3)).astype(float)))),
             Projection("k3", "c2", "fc", (Flatten(), Dense(rng.integers(-4, 7, (6, 16)).astype(float)))))
    return Graph((Input("input", (2, 8, 8)),), pops, projs, (Output("out", "fc"),), dt=1e-4)


def recurrent(seed: int = 0, n_in: int = 6, n_hidden: int = 10, n_out: int = 3, reset: str = "zero",
              comparison: str = ">", quantized: bool = False) -> Graph:
    """in → CubaLIF hidden with a one-step-delayed recurrent dense → LIF out."""
    rng = np.random.default_rng(seed)
    q = quantized
    pops = (Population("h", (n_hidden,), _neuron("CubaLIF", reset, comparison, q, 10.0)),
            Population("o", (n_out,), _neuron("LIF", reset, comparison, q, 6.0)))
    projs = (Projection("w_in", "input", "h", (Dense(rng.integers(-2, 6, (n_hidden, n_in)).astype(float)),)),
             Projection("w_rec", "h", "h", (Delay(1), Dense(rng.integers(-4, 4, (n_hidden, n_hidden)).astype(float)))),
             Projection("w_out", "h", "o", (Dense(rng.integers(-3, 6, (n_out, n_hidden)).astype(float)),)))
    return Graph((Input("input", (n_in,)),), pops, projs, (Output("out", "o"),), dt=1e-4)


def spikes(graph: Graph, steps: int = 100, batch: int = 2, p: float = 0.3, seed: int = 0) -> np.ndarray:
    """Bernoulli(p) binary input ``[steps, batch, *input_shape]`` for a single-input graph."""
    rng = np.random.default_rng(seed)
    return (rng.random((steps, batch, *graph.inputs[0].shape)) < p).astype(np.float64)
