"""PRIME: a network of fixed random memristor conductances whose topology (a binary mask) is learned, run on the
crossbar with an input-aware early stop (Wang et al., "Topology optimization of random memristors for input-aware
dynamic SNN", Sci. Adv. 11, eads5340, 2025; the facts below are from its code, github.com/bo-wang-up/PRIME,
Classification/layer.py, network.py, main.py).

What carries over from PRIME:
- the weights are random device levels drawn once (``N(0, σ)``, "similar to rram"), never trained; each layer's
  effective weight is ``scale · G ⊙ mask``;
- the mask is an edge-popup supermask: trainable scores, mask = 1 for the ``keep`` fraction of largest |score| in
  each layer (PRIME's ``sparsity = 0.5`` keeps 50 %), gradient passed straight through to |score|;
- the hidden LIF neuron: hard reset, decay 0.8 (retention β = 0.2), threshold 0.5, rectangular surrogate of
  half-width 0.5; the output cell integrates without reset or leak and the prediction is the mean over time
  of its membrane; Adam (lr, weight decay 5e-4), cosine schedule, cross-entropy on the mean output;
- early stop: after each step, softmax(running mean of the output / α) with α = 2; stop once top-1 > 0.8.

Deviations (stated): PRIME clamps the membrane with LeakyReLU(0.1); the IR clamps (``v_min = 0``, a ReLU), so the
training here uses the ReLU the IR executes. Data: the generated ``shapes`` event set (spikemesh.data.shapes),
not N-MNIST. Network: 512-``hidden``-4 MLP (PRIME's NMNIST_MLP shape, scaled to 2x16x16 inputs).

Hardware mapping: G is a signed integer level in [−127, 127]; on a differential pair it is G+ − G− with one
device at g_min (the crossbar engine's encoding); a pruned synapse leaves both devices at g_min (HRS), which still
leaks current under programming noise. ``prime_graph`` gives the integer IR graph the ``crossbar`` engine runs; the
scale is chosen so the threshold is an exact integer, so torch's float model and the graph differ only by the
IR's fixed-point decay.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.ir import LIF, Dense, Flatten, Graph, Input, Integrator, Output, Population, Projection
from spikemesh.ir.neurons import DECAY_SHIFT

LEVEL_MAX = 127  # signed 8-bit device-level range of one weight (one differential pair, 7-bit cells)


@dataclass(frozen=True)
class PrimeConfig:
    """PRIME hyper-parameters (defaults from the PRIME code unless noted). ``sigma_levels``: σ of the random
    device level (of ±127); ``keep``: kept fraction per layer; ``gain``: hidden drive scale relative to a
    unit-variance drive at ``input_rate`` (chosen here, not from PRIME); ``out_gain``: the same for the output
    layer."""

    hidden: int = 128
    sigma_levels: float = 40.0
    keep: float = 0.5
    beta: float = 0.2
    threshold: float = 0.5
    surrogate_half_width: float = 0.5
    gain: float = 1.5
    out_gain: float = 2.0
    input_rate: float = 0.05
    epochs: int = 4
    batch: int = 50
    lr: float = 3e-3
    weight_decay: float = 5e-4
    alpha: float = 2.0
    stop_threshold: float = 0.8
    seed: int = 0


@dataclass(frozen=True)
class PrimeNet:
    """A trained PRIME network. ``levels*`` int64 random device levels [out, in] (fixed); ``mask*`` bool (learned);
    ``scale*``: float weight per level; ``threshold_int``: hidden threshold in integer state units."""

    cfg: PrimeConfig
    in_shape: tuple[int, ...]
    n_classes: int
    levels1: np.ndarray
    levels2: np.ndarray
    mask1: np.ndarray
    mask2: np.ndarray
    scale1: float
    scale2: float
    threshold_int: int
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def alpha_int(self) -> float:
        """Early-stop temperature α in the output's integer units (α / scale2)."""
        return self.cfg.alpha / self.scale2


def beta_q(cfg: PrimeConfig) -> float:
    """The retention β on the IR's fixed-point grid (k / 2**DECAY_SHIFT), used by training and the graph alike."""
    return round(cfg.beta * (1 << DECAY_SHIFT)) / (1 << DECAY_SHIFT)


def random_levels(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Random signed device levels round(N(0, σ)) clipped to ±127 (int64)."""
    return np.clip(np.round(rng.normal(0.0, sigma, shape)), -LEVEL_MAX, LEVEL_MAX).astype(np.int64)


def _scales(cfg: PrimeConfig, n_in: int) -> tuple[float, float, int]:
    """(scale1, scale2, threshold_int): scale1 makes a ``gain``-σ drive at ``input_rate`` and an integer
    threshold."""
    s1 = cfg.gain / (cfg.sigma_levels * math.sqrt(n_in * cfg.keep * cfg.input_rate))
    th_int = max(1, round(cfg.threshold / s1))
    s1 = cfg.threshold / th_int
    s2 = cfg.out_gain / (cfg.sigma_levels * math.sqrt(cfg.hidden * cfg.keep))
    return s1, s2, th_int


def train_prime(x: np.ndarray, y: np.ndarray, cfg: PrimeConfig = PrimeConfig(),
                n_classes: int | None = None) -> PrimeNet:
    """Learn the masks of a random-conductance network on spikes ``x`` [T, N, *in_shape] and labels ``y`` [N].
    Seeded (numpy for the levels, torch for the scores and batches; one torch thread while training), so a seed
    gives the same masks."""
    import torch

    T, N = x.shape[:2]
    in_shape = tuple(int(s) for s in x.shape[2:])
    n_in = math.prod(in_shape)
    n_cls = int(n_classes if n_classes is not None else int(np.max(y)) + 1)
    rng = np.random.default_rng(cfg.seed)
    lv1 = random_levels((cfg.hidden, n_in), cfg.sigma_levels, rng)
    lv2 = random_levels((n_cls, cfg.hidden), cfg.sigma_levels, rng)
    s1, s2, th_int = _scales(cfg, n_in)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(cfg.seed)
        scores = [torch.nn.Parameter(torch.empty(lv.shape, dtype=torch.float32)) for lv in (lv1, lv2)]
        for p in scores:  # kaiming_uniform(a=√5) = U(±1/√fan_in), as PRIME's scores
            bound = 1.0 / math.sqrt(p.shape[1])
            with torch.no_grad():
                p.uniform_(-bound, bound, generator=gen)
        w_fixed = [torch.tensor(lv1 * s1, dtype=torch.float32), torch.tensor(lv2 * s2, dtype=torch.float32)]
        xt = torch.tensor(np.asarray(x).reshape(T, N, n_in), dtype=torch.float32)
        yt = torch.tensor(np.asarray(y), dtype=torch.int64)
        opt = torch.optim.Adam(scores, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps = cfg.epochs * -(-N // cfg.batch)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        history = []
        t0 = time.perf_counter()
        for ep in range(cfg.epochs):
            perm = torch.randperm(N, generator=gen)
            tot = hit = 0.0
            for b in range(0, N, cfg.batch):
                idx = perm[b:b + cfg.batch]
                out = _forward(xt[:, idx], w_fixed, scores, cfg, th_int * s1).mean(0)
                loss = torch.nn.functional.cross_entropy(out, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                tot += float(loss.detach()) * len(idx)
                hit += float((out.detach().argmax(1) == yt[idx]).sum())
            history.append({"epoch": ep, "loss": tot / N, "train_acc": hit / N,
                            "seconds": round(time.perf_counter() - t0, 3)})
        masks = [_mask(p.detach().abs(), cfg.keep).numpy().astype(bool) for p in scores]
    finally:
        torch.set_num_threads(threads)
    return PrimeNet(cfg, in_shape, n_cls, lv1, lv2, masks[0], masks[1], s1, s2, th_int, history)


def _mask(score: Any, keep: float) -> Any:
    """1 where |score| is among the ``keep`` fraction of largest in the layer (PRIME's GetSubnet)."""
    import torch

    flat = score.flatten()
    k = int(round((1.0 - keep) * flat.numel()))
    if k <= 0:
        return torch.ones_like(score)
    thr = flat.kthvalue(k).values
    return (score > thr).to(score.dtype)


def _forward(x: Any, w_fixed: list[Any], scores: list[Any], cfg: PrimeConfig, threshold: float) -> Any:
    """Output membrane [T, B, classes] of the float model (the IR's LIF with v_min = 0 and an Integrator)."""
    import torch

    class _Subnet(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, s: Any) -> Any:  # type: ignore[override]
            return _mask(s, cfg.keep)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:  # type: ignore[override]
            return g  # straight-through to |score|

    class _Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, u: Any) -> Any:  # type: ignore[override]
            ctx.save_for_backward(u)
            return (u >= 0).to(u.dtype)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:  # type: ignore[override]
            (u,) = ctx.saved_tensors
            h = cfg.surrogate_half_width
            return g * (u.abs() < h).to(g.dtype) / (2 * h)

    w1 = w_fixed[0] * _Subnet.apply(scores[0].abs())
    w2 = w_fixed[1] * _Subnet.apply(scores[1].abs())
    T, B = x.shape[:2]
    beta = beta_q(cfg)
    v = torch.zeros(B, w1.shape[0])
    o = torch.zeros(B, w2.shape[0])
    outs = []
    for t in range(T):
        u = beta * v + x[t] @ w1.T
        s = _Spike.apply(u - threshold)
        v = torch.relu(u * (1 - s))  # zero reset before decay, then the v_min = 0 clamp
        o = o + s @ w2.T
        outs.append(o)
    return torch.stack(outs)


def float_outputs(net: PrimeNet, x: np.ndarray) -> np.ndarray:
    """Output membrane [T, B, classes] of the float (torch) model, in float units."""
    import torch

    T, B = x.shape[:2]
    w = [torch.tensor(net.levels1 * net.mask1 * net.scale1, dtype=torch.float32),
         torch.tensor(net.levels2 * net.mask2 * net.scale2, dtype=torch.float32)]
    ones = [torch.ones(m.shape) for m in (net.mask1, net.mask2)]
    cfg = net.cfg
    with torch.no_grad():
        xt = torch.tensor(np.asarray(x).reshape(T, B, -1), dtype=torch.float32)
        out = _forward(xt, w, ones, PrimeConfig(**{**cfg.__dict__, "keep": 1.0}), net.threshold_int * net.scale1)
    return out.numpy()


def prime_graph(net: PrimeNet, state_bits: int = 16) -> Graph:
    """The integer IR graph: Flatten → Dense(G1 ⊙ m1) → LIF(β, zero reset, v_min 0) → Dense(G2 ⊙ m2) → Integrator.
    Output units: one per ``scale2`` (so the early-stop α is ``net.alpha_int``)."""
    w1 = (net.levels1 * net.mask1).astype(np.int64)
    w2 = (net.levels2 * net.mask2).astype(np.int64)
    hid = LIF(beta_q(net.cfg), threshold=net.threshold_int, reset="zero", v_reset=0, reset_timing="before_decay",
              comparison=">=", v_min=0, weight_bits=8, state_bits=state_bits)
    out = Integrator(weight_bits=8, state_bits=24)  # digital accumulator: no saturation over T
    return Graph(
        inputs=(Input("events", net.in_shape),),
        populations=(Population("hidden", (net.cfg.hidden,), hid), Population("out", (net.n_classes,), out)),
        projections=(Projection("events->hidden", "events", "hidden", (Flatten(), Dense(w1))),
                     Projection("hidden->out", "hidden", "out", (Dense(w2),))),
        outputs=(Output("class", "out"),),
        dt=1e-3,
        metadata={"name": "PRIME random-conductance MLP (learned mask)", "scale1": net.scale1,
                  "scale2": net.scale2, "alpha_int": net.alpha_int, "keep": net.cfg.keep,
                  "training": net.history},
    )


def stop_predictions(output: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Class per sample from the running mean of ``output`` [T, B, C] at each sample's stop step (1-based)."""
    out = np.asarray(output, dtype=np.float64)
    cum = np.cumsum(out, axis=0)
    return np.argmax(cum[np.asarray(steps) - 1, np.arange(out.shape[1])], axis=1)
