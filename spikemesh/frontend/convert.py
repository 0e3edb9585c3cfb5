"""ANN → SNN conversion: a ReLU network becomes an IF network with data-based threshold balancing.

Method (Diehl et al. 2015 "max" normalisation; Rueckauer et al. 2017 robust percentile normalisation): run the
ANN on calibration inputs and take, per ReLU layer l, the scale λ_l = max (or the p-th percentile, default 99.9)
of its activations. Each ReLU becomes an IF population (threshold 1, reset by subtraction, fires on ``>=``),
whose incoming weights are multiplied by λ_src/λ_l and biases divided by λ_l (λ of the graph input = 1: the
input is injected as a constant current every step). A spike rate r_l ∈ [0, 1] per step then approximates
a_l/λ_l, clipped at 1. The last layer (no ReLU) becomes an IF layer too, balanced on its positive outputs; the
class is the output neuron with the most spikes. Pooling, Flatten, BatchNorm (folded) and Dropout carry over
as in ``from_torch``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spikemesh.errors import FrontendError
from spikemesh.frontend.torch import build
from spikemesh.ir.graph import Graph, Input, Population, Projection
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import BatchNorm, Conv, Delay, Dense, Op, Reshape, Scale, SumPool2d
from spikemesh.ir.reference import run_reference

METHODS = ("max", "percentile")


def _if(name: str, shape: tuple[int, ...]) -> Neuron:
    return Neuron("IF", threshold=1.0, comparison=">=", reset="subtract", reset_timing="before_decay")


def _scaled(ops: tuple[Op, ...], src_shape: tuple[int, ...], lam_src: np.ndarray, lam_tgt: np.ndarray,
            keep_bias: bool) -> tuple[Op, ...]:
    """``ops`` with the first weighted op's weights × λ_src/λ_tgt (per input / output channel) and bias ÷ λ_tgt
    (or dropped). λ arrays broadcast to the source / target population shapes."""
    out = list(ops)
    lam = np.broadcast_to(lam_src, src_shape).astype(np.float64)
    for i, op in enumerate(out):
        if isinstance(op, (Dense, Conv)):
            n_out = op.weight.shape[0]
            t = np.broadcast_to(np.asarray(lam_tgt, dtype=np.float64).reshape(-1, *([1] * 0)), (1,)) \
                if np.size(lam_tgt) == 1 else np.asarray(lam_tgt, dtype=np.float64).reshape(n_out, -1)[:, 0]
            t = np.broadcast_to(t.reshape(-1), (n_out,))
            if isinstance(op, Dense):
                f = lam.reshape(-1)[None, :] / t[:, None]
                b = None if op.bias is None or not keep_bias else op.bias / t
                out[i] = Dense(op.weight * f, b)
            else:
                c_in = lam.reshape(lam.shape[0], -1)[:, 0]  # channel-constant source scales
                cin_g = op.weight.shape[1]
                cout_g = n_out // op.groups
                ci = (np.arange(n_out)[:, None] // cout_g) * cin_g + np.arange(cin_g)[None, :]
                f = c_in[ci] / t[:, None]
                w = op.weight * f.reshape(n_out, cin_g, *([1] * op.ndim))
                b = None if op.bias is None or not keep_bias else op.bias / t
                out[i] = Conv(w, b, op.stride, op.padding, op.dilation, op.groups)
            return tuple(out)
        lam = _carry(op, lam)
    if np.size(lam_tgt) != 1 or np.unique(lam).size != 1:
        raise FrontendError("a projection without weights needs one scale per layer", node="convert_ann",
                            hint="use granularity='layer'")
    return (*out, Scale(float(lam.reshape(-1)[0]) / float(np.asarray(lam_tgt).reshape(-1)[0])))


def _carry(op: Op, lam: np.ndarray) -> np.ndarray:
    """A per-element scale map through a non-weighted op (pooling keeps each channel's scale)."""
    shape = op.out_shape(lam.shape)
    if isinstance(op, Reshape):
        return lam.reshape(shape)
    if isinstance(op, SumPool2d):
        return lam[:, : shape[1], : shape[2]] if lam.shape[1] >= shape[1] else np.broadcast_to(
            lam[:, :1, :1], shape)
    if isinstance(op, (Delay, BatchNorm)):
        return lam
    raise FrontendError(f"{type(op).__name__} before the weights is not supported by the conversion",
                        node="convert_ann")


def _activations(model: Any, x: Any, modules: dict[str, str], batch: int = 64) -> dict[str, np.ndarray]:
    """Outputs of the named ReLU modules (by module path) and of the model, concatenated over batches."""
    import torch

    mods = dict(model.named_modules())
    got: dict[str, list[np.ndarray]] = {k: [] for k in modules.values()}
    got["<output>"] = []
    hooks = []
    for mod_name in modules.values():
        if mod_name not in mods:
            raise FrontendError("ReLU calls that are not modules cannot be calibrated", node=mod_name,
                                hint="use nn.ReLU modules")
        hooks.append(mods[mod_name].register_forward_hook(
            lambda m, i, o, n=mod_name: got[n].append(o.detach().double().numpy())))
    try:
        with torch.no_grad():
            for k in range(0, x.shape[0], batch):
                got["<output>"].append(model(x[k:k + batch]).detach().double().numpy())
    finally:
        for h in hooks:
            h.remove()
    return {k: np.concatenate(v) for k, v in got.items()}


def _scale(a: np.ndarray, method: str, percentile: float, channel: bool) -> np.ndarray:
    """λ of a layer (0-d) or, with ``channel``, one per channel (axis 1 of ``a [N, C, ...]``) shaped to broadcast
    against the layer shape; the max or the percentile of the positive activations (1 when none)."""
    def one(v: np.ndarray) -> float:
        pos = v[v > 0]
        if pos.size == 0:
            return 1.0
        return float(pos.max() if method == "max" else np.percentile(pos, percentile))

    if not channel:
        return np.array(one(a))
    per = np.array([one(a[:, c]) for c in range(a.shape[1])])
    return per.reshape((-1,) + (1,) * (a.ndim - 2))


def convert_ann(model: Any, calibration_inputs: Any, timesteps: int = 64, method: str = "max",
                percentile: float = 99.9, bias: bool = True, dt: float = 1e-3, granularity: str = "layer",
                report_samples: int = 16) -> tuple[Graph, dict[str, Any]]:
    """Convert a ReLU ``model`` (torch, eval mode) to an IF ``ir.Graph``; returns (graph, report).

    calibration_inputs: a tensor ``[N, *input_shape]`` of ANN inputs. method: "max" or "percentile"
    (``percentile``-th of the positive activations, default 99.9). bias: keep biases (divided by λ) or drop
    them. The SNN input is the ANN input repeated as a constant current for ``timesteps`` steps
    (``encode(x, timesteps)``). ``report[layer]`` holds ``scale`` (λ), ``activation_max``, ``clipped``
    (fraction of activations above λ), and the conversion error on ``report_samples`` calibration inputs:
    ``rate_error`` = mean |λ·rate − a| / mean a over the layer (a = ANN activation); ``report["agreement"]`` is
    the class agreement on those samples.
    """
    import torch

    if method not in METHODS:
        raise FrontendError(f"unknown method {method!r}", node="convert_ann", needed=METHODS, available=method)
    if granularity not in ("layer", "channel"):
        raise FrontendError(f"unknown granularity {granularity!r}", node="convert_ann", needed=("layer", "channel"),
                            available=granularity)
    if not 0 < percentile <= 100:
        raise FrontendError("percentile must be in (0, 100]", node="convert_ann", available=percentile)
    if int(timesteps) != timesteps or timesteps < 1:
        raise FrontendError("timesteps must be a positive integer", node="convert_ann", available=timesteps)
    x = torch.as_tensor(calibration_inputs, dtype=torch.float32)
    model = model.eval()
    b, how = build(model, [x[:1]], float(dt), relu_neuron=_if)
    if len(b.outputs) != 1:
        raise FrontendError("the ANN must have exactly one output", node="convert_ann", available=len(b.outputs))
    out_pop = b.outputs[0].source
    acts = _activations(model, x, b.relu_pops)
    lam: dict[str, np.ndarray] = {i.name: np.array(1.0) for i in b.inputs}
    act_of: dict[str, np.ndarray] = {}
    shapes = {i.name: i.shape for i in b.inputs}
    for p in b.pops:
        a = acts["<output>"] if p.name == out_pop and p.name not in b.relu_pops else acts[b.relu_pops.get(p.name, "")]
        act_of[p.name] = a
        lam[p.name] = _scale(a, method, percentile, granularity == "channel")
        shapes[p.name] = p.shape
    pops = [Population(p.name, p.shape, _if(p.name, p.shape)) if not p.neuron.spiking else p for p in b.pops]
    projs = [Projection(pr.name, pr.source, pr.target,
                        _scaled(pr.ops, shapes[pr.source], lam[pr.source], lam[pr.target], bias))
             for pr in b.projs]
    g = Graph(b.inputs, pops, projs, b.outputs, dt=float(dt),
              metadata={"source": "ann", "frontend": how, "conversion": {
                  "method": method, "percentile": percentile if method == "percentile" else None,
                  "granularity": granularity, "scales": {k: np.asarray(lam[k]).reshape(-1).tolist() for k in act_of},
                  "timesteps": int(timesteps)}})
    from spikemesh.ir.passes import fold_batchnorm

    g = fold_batchnorm(g)
    report: dict[str, Any] = {}
    n = min(int(report_samples), x.shape[0])
    res = run_reference(g, encode(x[:n].numpy(), timesteps, g.inputs[0]))
    for name, a in act_of.items():
        rate = res.spikes[name].mean(axis=0)  # [n, *shape]
        a_n = a[:n]
        lam_full = np.broadcast_to(lam[name], a.shape[1:])
        err = float(np.mean(np.abs(lam_full * rate - np.maximum(a_n, 0)))
                    / max(float(np.mean(np.maximum(a_n, 0))), 1e-12))
        sc = np.asarray(lam[name]).reshape(-1)
        report[name] = {"scale": float(sc[0]) if sc.size == 1 else [float(sc.min()), float(sc.max())],
                        "activation_max": float(a.max()), "clipped": float(np.mean(a > lam_full)),
                        "threshold": 1.0, "rate_error": err}
    counts = res.spikes[out_pop].sum(axis=0).reshape(n, -1)
    report["agreement"] = float(np.mean(counts.argmax(1) == acts["<output>"][:n].reshape(n, -1).argmax(1)))
    return g, report


def encode(x: np.ndarray, timesteps: int, inp: Input | None = None) -> np.ndarray:
    """Constant-current encoding: ``x [N, *shape]`` repeated as ``[timesteps, N, *shape]``."""
    x = np.asarray(x, dtype=np.float64)
    return np.broadcast_to(x[None], (int(timesteps), *x.shape)).copy()


def snn_classes(graph: Graph, x: np.ndarray, timesteps: int) -> np.ndarray:
    """Class per sample: the output neuron with the most spikes over ``timesteps`` (ties: lowest index)."""
    res = run_reference(graph, encode(x, timesteps))
    out = res.output
    return out.sum(axis=0).reshape(out.shape[1], -1).argmax(1)
