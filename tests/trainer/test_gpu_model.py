"""The GPU baseline traffic model (cost.gpu_traffic) against bytes counted kernel by kernel on the same BPTT step
written in eager PyTorch: a TorchDispatchMode sees every aten kernel the step launches and adds the bytes of its
tensor operands and of its results (views move nothing; an in-place kernel writes its target). This fixes the
model's kernel inventory (passes per neuron and step, weight reads, gradient accumulation, the optimiser); it
says nothing about the DRAM bytes of a real GPU, where caches and fusion change them (benchmarks/trainer.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from spikemesh.ir import LIF, Delay, Dense, Graph, Input, Output, Population, Projection
from spikemesh.trainer.bptt import Surrogate, TrainingGraph
from spikemesh.trainer.gpu_baseline import gpu_traffic


class KernelBytes(TorchDispatchMode):
    """Bytes read and written per phase by the dispatched kernels (tensors of one element are scalars: skipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = "forward"
        self.bytes: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        ins = [a for a in tree_flatten((args, kwargs or {}))[0] if isinstance(a, torch.Tensor) and a.numel() > 1]
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor) and o.numel() > 1]
        ptrs = {a.untyped_storage().data_ptr() for a in ins}
        if not func._schema.is_mutable and any(o.untyped_storage().data_ptr() in ptrs for o in outs):
            return out  # a view of an input
        self.bytes[self.phase] += sum(a.numel() * a.element_size() for a in ins + outs)
        return out


class Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x)
        ctx.kind = kind
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        (x,) = ctx.saved_tensors
        if ctx.kind == "fast_sigmoid":  # abs, mul, add, pow, div: 11 element passes
            return g / (1 + 5.0 * x.abs()) ** 2, None
        if ctx.kind == "sigmoid":  # mul, sigmoid, rsub, mul, mul, mul: 14
            e = torch.sigmoid(4.0 * x)
            return 4.0 * (e * (1 - e)) * g, None
        # rectangular, half-width 0.5: abs, lt (1-byte mask), cast, div, mul: 9 + the mask
        return g * ((x.abs() < 0.5).to(g.dtype) / (2 * 0.5)), None


def lif(v, cur, detach):  # noqa: ANN001, ANN201
    h = 0.9 * v + cur
    s = Spike.apply(h - 1.0, KIND[0])
    return h - 1.0 * (s.detach() if detach else s), s


KIND = ["fast_sigmoid"]


def measure(step, T: int, B: int, weights: list[torch.Tensor]) -> Counter:  # noqa: ANN001
    torch.manual_seed(0)
    x = (torch.rand(T, B, weights[0].shape[1]) < 0.1).float()
    y = torch.zeros(B, dtype=torch.long)
    opt = torch.optim.Adam(weights, lr=1e-3)

    def run(m: KernelBytes) -> None:
        loss = torch.nn.functional.cross_entropy(step(x).sum(0), y)
        m.phase = "backward"
        opt.zero_grad()
        loss.backward()
        m.phase = "optimizer"
        opt.step()

    run(KernelBytes())  # warm-up: Adam creates its state on the first step
    with KernelBytes() as m:
        run(m)
    return m.bytes


def check(net: TrainingGraph, T: int, B: int, measured: Counter) -> None:
    model = gpu_traffic(net, T, B, gpu_bytes=4)
    for phase in ("forward", "backward", "optimizer"):
        assert model[phase] == pytest.approx(measured[phase], rel=0.01), (phase, model[phase], measured[phase])
    assert model["total"] - model["inputs"] == pytest.approx(sum(measured.values()), rel=0.005)


@pytest.mark.parametrize(("kind", "param", "detach"), [("fast_sigmoid", 5.0, True), ("fast_sigmoid", 5.0, False),
                                                      ("sigmoid", 4.0, True), ("rectangular", 0.5, True)])
def test_gpu_model_equals_dispatched_kernel_bytes_mlp(kind: str, param: float, detach: bool) -> None:
    KIND[0] = kind
    T, B, sizes = 6, 8, (50, 32, 10)
    rng = np.random.default_rng(0)
    ws = [torch.tensor(rng.normal(0, 0.5, (sizes[i + 1], sizes[i])), dtype=torch.float32, requires_grad=True)
          for i in range(2)]

    def step(x: torch.Tensor) -> torch.Tensor:
        v = [torch.zeros(B, s) for s in sizes[1:]]
        out = []
        for t in range(T):
            v[0], s1 = lif(v[0], x[t] @ ws[0].T, detach)
            v[1], s2 = lif(v[1], s1 @ ws[1].T, detach)
            out.append(s2)
        return torch.stack(out)

    g = Graph(inputs=(Input("x", (50,)),),
              populations=(Population("a", (32,), LIF(0.9)), Population("b", (10,), LIF(0.9))),
              projections=(Projection("x>a", "x", "a", (Dense(ws[0].detach().double().numpy()),)),
                           Projection("a>b", "a", "b", (Dense(ws[1].detach().double().numpy()),))),
              outputs=(Output("o", "b"),))
    check(TrainingGraph(g, Surrogate(kind, param, detach)), T, B, measure(step, T, B, ws))


def test_gpu_model_equals_dispatched_kernel_bytes_recurrent() -> None:
    KIND[0] = "rectangular"
    T, B = 6, 8
    rng = np.random.default_rng(1)
    shapes = [(24, 40), (24, 24), (5, 24)]
    ws = [torch.tensor(rng.normal(0, 0.4, s), dtype=torch.float32, requires_grad=True) for s in shapes]

    def step(x: torch.Tensor) -> torch.Tensor:
        v, s = torch.zeros(B, 24), torch.zeros(B, 24)
        vo = torch.zeros(B, 5)
        out = []
        for t in range(T):
            v, s = lif(v, x[t] @ ws[0].T + s @ ws[1].T, True)
            vo, so = lif(vo, s @ ws[2].T, True)
            out.append(so)
        return torch.stack(out)

    g = Graph(inputs=(Input("x", (40,)),),
              populations=(Population("r", (24,), LIF(0.9)), Population("o", (5,), LIF(0.9))),
              projections=(Projection("x>r", "x", "r", (Dense(ws[0].detach().double().numpy()),)),
                           Projection("r>r", "r", "r", (Dense(ws[1].detach().double().numpy()), Delay(1))),
                           Projection("r>o", "r", "o", (Dense(ws[2].detach().double().numpy()),))),
              outputs=(Output("out", "o"),))
    check(TrainingGraph(g, Surrogate("rectangular", 0.5, True)), T, B, measure(step, T, B, ws))
