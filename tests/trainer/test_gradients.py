"""BPTT gradients of the training engine equal PyTorch autograd on the same SNN (same surrogate, same reset).

The torch models below are written here, independently of spikemesh: plain torch ops, a custom autograd
Function for the spike with the surrogate derivative, the neuron update of docs/semantics.md.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikemesh.ir import (
    IF,
    LIF,
    Conv2d,
    Delay,
    Dense,
    Flatten,
    Graph,
    Input,
    Integrator,
    Output,
    Population,
    Projection,
    SumPool2d,
)
from spikemesh.trainer.bptt import Surrogate, TrainingGraph
from spikemesh.trainer.losses import loss_and_grad
from spikemesh.trainer.op_rules import initial_params


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, k):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x)
        ctx.kind, ctx.k = kind, k
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        (x,) = ctx.saved_tensors
        k = ctx.k
        if ctx.kind == "fast_sigmoid":
            d = 1.0 / (1.0 + k * x.abs()) ** 2
        elif ctx.kind == "rectangular":
            d = (x.abs() < k).to(x.dtype) / (2 * k)
        else:
            e = torch.sigmoid(k * x)
            d = k * e * (1 - e)
        return g * d, None, None


def neuron_step(v, s_prev, cur, beta, thr, reset, timing, sg, spiking=True):  # noqa: ANN001, ANN201
    """One step of an IF/LIF neuron in torch; returns (v, s, h) with h = β·v + I, the membrane before reset."""
    h = beta * v + cur
    rs = (lambda s: s.detach()) if sg.detach_reset else (lambda s: s)
    if not spiking:
        return h, None, h
    if timing == "after_decay":  # the pending reset of the previous spike, then the comparison
        if reset == "subtract":
            r = h - thr * rs(s_prev)
        elif reset == "zero":
            r = h * (1 - rs(s_prev))
        else:
            r = h
        s = Spike.apply(r - thr, sg.kind, sg.param)
        return r, s, h
    s = Spike.apply(h - thr, sg.kind, sg.param)
    if reset == "subtract":
        v = h - thr * rs(s)
    elif reset == "zero":
        v = h * (1 - rs(s))
    else:
        v = h
    return v, s, h


def run_layer(cur_seq, beta, thr, reset, timing, sg, spiking=True):  # noqa: ANN001, ANN201
    v = torch.zeros_like(cur_seq[0])
    s = torch.zeros_like(cur_seq[0])
    outs, hs = [], []
    for t in range(cur_seq.shape[0]):
        v, s_new, h = neuron_step(v, s, cur_seq[t], beta, thr, reset, timing, sg, spiking)
        s = s_new if spiking else s
        h.retain_grad()
        hs.append(h)
        outs.append(s if spiking else v)
    return torch.stack(outs), hs


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# ---------------------------------------------------------------------------------------------- networks
def mlp(rng: np.random.Generator) -> tuple[Graph, dict]:
    w1, b1 = rng.normal(0, 0.45, (32, 20)), rng.normal(0, 0.1, 32)
    w2, w3 = rng.normal(0, 0.35, (16, 32)), rng.normal(0, 0.5, (5, 16))
    g = Graph(
        inputs=(Input("x", (20,)),),
        populations=(Population("h1", (32,), LIF(0.9, threshold=1.0)), Population("h2", (16,), IF(threshold=0.8)),
                     Population("o", (5,), LIF(0.8, threshold=0.7))),
        projections=(Projection("x>h1", "x", "h1", (Dense(w1, b1),)), Projection("h1>h2", "h1", "h2", (Dense(w2),)),
                     Projection("h2>o", "h2", "o", (Dense(w3),))),
        outputs=(Output("out", "o"),),
    )
    return g, {"w1": w1, "b1": b1, "w2": w2, "w3": w3}


def torch_mlp(p: dict, x: torch.Tensor, sg: Surrogate, reset: str, timing: str):  # noqa: ANN201
    h1, hs1 = run_layer(x @ p["w1"].T + p["b1"], 0.9, 1.0, reset, timing, sg)
    h2, hs2 = run_layer(h1 @ p["w2"].T, 1.0, 0.8, reset, timing, sg)
    o, hs3 = run_layer(h2 @ p["w3"].T, 0.8, 0.7, reset, timing, sg)
    return o, {"h1": hs1, "h2": hs2, "o": hs3}, {"h1": h1, "h2": h2, "o": o}


def conv(rng: np.random.Generator) -> tuple[Graph, dict]:
    w1 = rng.normal(0, 0.6, (4, 2, 3, 3))
    w2 = rng.normal(0, 0.35, (6, 4, 3, 3))
    w3 = rng.normal(0, 0.5, (3, 24))
    g = Graph(
        inputs=(Input("x", (2, 8, 8)),),
        populations=(Population("c1", (4, 8, 8), LIF(0.85, threshold=1.0)),
                     Population("c2", (6, 2, 2), IF(threshold=1.0)),
                     Population("o", (3,), Integrator())),
        projections=(Projection("x>c1", "x", "c1", (Conv2d(w1, padding=1),)),
                     Projection("c1>c2", "c1", "c2", (SumPool2d(2), Conv2d(w2, stride=2, padding=1))),
                     Projection("c2>o", "c2", "o", (Flatten(), Dense(w3)))),
        outputs=(Output("out", "o"),),
    )
    return g, {"w1": w1, "w2": w2, "w3": w3}


def torch_conv(p: dict, x: torch.Tensor, sg: Surrogate, reset: str, timing: str):  # noqa: ANN201
    T, B = x.shape[:2]
    c1, hs1 = run_layer(F.conv2d(x.flatten(0, 1), p["w1"], padding=1).reshape(T, B, 4, 8, 8), 0.85, 1.0, reset,
                        timing, sg)
    pooled = F.avg_pool2d(c1.flatten(0, 1), 2) * 4
    c2, hs2 = run_layer(F.conv2d(pooled, p["w2"], stride=2, padding=1).reshape(T, B, 6, 2, 2), 1.0, 1.0, reset,
                        timing, sg)
    o, hs3 = run_layer(c2.flatten(2) @ p["w3"].T, 1.0, 1.0, "none", timing, sg, spiking=False)
    return o, {"c1": hs1, "c2": hs2, "o": hs3}, {"c1": c1, "c2": c2, "o": o}


def recurrent(rng: np.random.Generator) -> tuple[Graph, dict]:
    w_in, w_rec, w_out = rng.normal(0, 0.5, (24, 10)), rng.normal(0, 0.3, (24, 24)), rng.normal(0, 0.5, (4, 24))
    g = Graph(
        inputs=(Input("x", (10,)),),
        populations=(Population("r", (24,), LIF(0.9, threshold=1.0)), Population("o", (4,), LIF(0.9))),
        projections=(Projection("x>r", "x", "r", (Dense(w_in),)),
                     Projection("r>r", "r", "r", (Dense(w_rec), Delay(1))),
                     Projection("r>o", "r", "o", (Dense(w_out),))),
        outputs=(Output("out", "o"),),
    )
    return g, {"w_in": w_in, "w_rec": w_rec, "w_out": w_out}


def torch_recurrent(p: dict, x: torch.Tensor, sg: Surrogate, reset: str, timing: str):  # noqa: ANN201
    T = x.shape[0]
    v = torch.zeros(x.shape[1], 24, dtype=x.dtype)
    s = torch.zeros_like(v)
    rs, hs = [], []
    for t in range(T):
        cur = x[t] @ p["w_in"].T + (rs[t - 1] @ p["w_rec"].T if t > 0 else 0)
        v, s, h = neuron_step(v, s, cur, 0.9, 1.0, reset, timing, sg)
        h.retain_grad()
        hs.append(h)
        rs.append(s)
    r = torch.stack(rs)
    o, hs2 = run_layer(r @ p["w_out"].T, 0.9, 1.0, reset, timing, sg)
    return o, {"r": hs, "o": hs2}, {"r": r, "o": o}


NETS = {"mlp": (mlp, torch_mlp, {"h1>": "x>h1"}), "conv": (conv, torch_conv, {}),
        "recurrent": (recurrent, torch_recurrent, {})}
PARAM_KEYS = {
    "mlp": {"w1": "x>h1/0/weight", "b1": "x>h1/0/bias", "w2": "h1>h2/0/weight", "w3": "h2>o/0/weight"},
    "conv": {"w1": "x>c1/0/weight", "w2": "c1>c2/1/weight", "w3": "c2>o/1/weight"},
    "recurrent": {"w_in": "x>r/0/weight", "w_rec": "r>r/0/weight", "w_out": "r>o/0/weight"},
}


def with_neuron(graph: Graph, reset: str, timing: str) -> Graph:
    pops = tuple(Population(p.name, p.shape, p.neuron.replace(reset=reset, reset_timing=timing))
                 if p.neuron.spiking else p for p in graph.populations)
    return graph.replace(populations=pops)


def engine_and_torch(net: str, T: int, sg: Surrogate, reset: str = "subtract", timing: str = "before_decay",
                     seed: int = 0, B: int = 3):
    rng = np.random.default_rng(seed)
    build, ref, _ = NETS[net]
    graph, raw = build(rng)
    graph = with_neuron(graph, reset, timing)
    shape = graph.inputs[0].shape
    x = (rng.random((T, B, *shape)) < 0.35).astype(np.float32)
    labels = rng.integers(0, graph.population["o"].shape[0], B)
    # engine
    network = TrainingGraph(graph, sg)
    params = initial_params(graph)
    trace = network.forward(params, {graph.inputs[0].name: x})
    out = trace.spikes("o", graph.population["o"].shape).astype(np.float32) if graph.population["o"].neuron.spiking \
        else trace.V["o"]
    loss, g_out, _ = loss_and_grad("ce_count", out, labels)
    grads, deltas = network.backward(params, trace, {"o": g_out})
    # torch
    tp = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in raw.items()}
    o, hs, layers = ref(tp, torch.from_numpy(x), sg, reset, timing)
    t_loss = F.cross_entropy(o.sum(0), torch.from_numpy(labels))
    t_loss.backward()
    return dict(graph=graph, network=network, trace=trace, grads=grads, deltas=deltas, loss=loss, t_loss=t_loss,
                tp=tp, hs=hs, layers=layers, x=x, labels=labels)


CASES = [
    ("mlp", Surrogate("fast_sigmoid", 5.0, True), "subtract", "before_decay"),
    ("mlp", Surrogate("sigmoid", 4.0, False), "zero", "before_decay"),
    ("mlp", Surrogate("rectangular", 0.5, False), "subtract", "after_decay"),
    ("conv", Surrogate("fast_sigmoid", 5.0, True), "subtract", "before_decay"),
    ("conv", Surrogate("rectangular", 0.5, False), "zero", "before_decay"),
    ("recurrent", Surrogate("fast_sigmoid", 5.0, False), "subtract", "before_decay"),
    ("recurrent", Surrogate("sigmoid", 4.0, True), "zero", "after_decay"),
]


@pytest.mark.parametrize("T", [4, 10])
@pytest.mark.parametrize(("net", "sg", "reset", "timing"), CASES)
def test_gradients_equal_torch(net: str, sg: Surrogate, reset: str, timing: str, T: int) -> None:
    r = engine_and_torch(net, T, sg, reset, timing)
    # same forward: spikes of every layer equal, same loss
    for name, arr in r["layers"].items():
        pop = r["graph"].population[name]
        mine = r["trace"].spikes(name, pop.shape) if pop.neuron.spiking else r["trace"].V[name]
        ref = arr.detach().numpy()
        if pop.neuron.spiking:
            assert np.array_equal(mine, ref.astype(bool)), name
            assert 0 < ref.mean() < 1, f"{name}: degenerate spiking {ref.mean()}"
        else:
            assert rel_err(mine, ref) < 1e-5
    assert abs(r["loss"] - r["t_loss"].item()) < 1e-5 * max(1.0, abs(r["t_loss"].item()))
    for k, key in PARAM_KEYS[net].items():
        ref = r["tp"][k].grad.numpy()
        assert np.abs(ref).max() > 0, k
        assert rel_err(r["grads"][key], ref) < 1e-5, (k, rel_err(r["grads"][key], ref))
    # δ = ∂L/∂H per step equals torch's gradient of the compared membrane value
    for name, hs in r["hs"].items():
        ref = torch.stack([h.grad if h.grad is not None else torch.zeros_like(h) for h in hs]).numpy()
        assert rel_err(r["deltas"][name].reshape(ref.shape), ref) < 1e-5, name
