"""FP / BP / WG op counts of the engine equal counts measured from instrumented torch tensors (exact integers).

The torch side records each layer's spikes and the autograd gradient of its membrane (δ = ∂L/∂H, via
retain_grad in tests/trainer/test_gradients.py's reference models) and counts with torch ops of its own:
all-ones kernels for "spiking inputs reaching a neuron" and "fan-in".
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikemesh.trainer.bptt import Surrogate
from spikemesh.trainer.counts import count_ops
from tests.trainer.test_gradients import engine_and_torch


def _deltas(hs: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([h.grad if h.grad is not None else torch.zeros_like(h) for h in hs])


def torch_counts(net: str, r: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{projection: (fp, bp, wg)} per target neuron, from torch tensors only."""
    x = torch.from_numpy(r["x"]).double()
    lay = {k: v.detach().double() for k, v in r["layers"].items()}
    dl = {k: (_deltas(v) != 0).double() for k, v in r["hs"].items()}
    T, B = x.shape[:2]
    out = {}

    def dense(src_mask: torch.Tensor, n_out: int) -> torch.Tensor:  # spiking inputs reaching each target
        return src_mask.flatten(2).sum(-1, keepdim=True).expand(T, B, n_out)

    def record(name: str, reach: torch.Tensor, fan_in: torch.Tensor | None, dmask: torch.Tensor,
               valid: torch.Tensor | None = None) -> None:
        reach, dmask = reach.flatten(2), dmask.flatten(2)
        fp = reach.sum((0, 1))
        wg = (reach * dmask).sum((0, 1))
        if fan_in is None:
            bp = torch.zeros_like(fp)
        else:
            dm = dmask if valid is None else dmask * valid.reshape(T, 1, 1)
            bp = dm.sum((0, 1)) * fan_in.flatten()
        out[name] = tuple(a.round().long().numpy() for a in (fp, bp, wg))

    if net == "mlp":
        record("x>h1", dense(x != 0, 32), None, dl["h1"])
        record("h1>h2", dense(lay["h1"], 16), torch.full((16,), 32.0), dl["h2"])
        record("h2>o", dense(lay["h2"], 5), torch.full((5,), 16.0), dl["o"])
    elif net == "conv":
        ones1 = torch.ones(4, 2, 3, 3, dtype=torch.float64)
        ones2 = torch.ones(6, 4, 3, 3, dtype=torch.float64)
        reach1 = F.conv2d((x != 0).double().flatten(0, 1), ones1, padding=1).reshape(T, B, 4, 8, 8)
        record("x>c1", reach1, None, dl["c1"])

        def pooled_conv(a: torch.Tensor) -> torch.Tensor:
            return F.conv2d(F.avg_pool2d(a, 2) * 4, ones2, stride=2, padding=1)

        reach2 = pooled_conv(lay["c1"].flatten(0, 1)).reshape(T, B, 6, 2, 2)
        fan2 = pooled_conv(torch.ones(1, 4, 8, 8, dtype=torch.float64))[0]
        record("c1>c2", reach2, fan2, dl["c2"])
        o_mask = dl["o"].reshape(T, B, 3)
        record("c2>o", dense(lay["c2"], 3), torch.full((3,), 24.0), o_mask)
    else:
        record("x>r", dense(x != 0, 24), None, dl["r"])
        delayed = torch.cat([torch.zeros_like(lay["r"][:1]), lay["r"][:-1]])  # r[t-1] arrives at t
        valid = (torch.arange(T) >= 1).double()
        record("r>r", dense(delayed, 24), torch.full((24,), 24.0), dl["r"], valid)
        record("r>o", dense(lay["r"], 4), torch.full((4,), 24.0), dl["o"])
    return out


@pytest.mark.parametrize("T", [4, 10])
@pytest.mark.parametrize(("net", "sg"), [("mlp", Surrogate("rectangular", 0.5, True)),
                                         ("conv", Surrogate("rectangular", 0.3, False)),
                                         ("recurrent", Surrogate("rectangular", 0.5, True)),
                                         ("mlp", Surrogate("fast_sigmoid", 5.0, True))])
def test_op_counts_equal_torch(net: str, sg: Surrogate, T: int) -> None:
    r = engine_and_torch(net, T, sg)
    mine = count_ops(r["network"], r["trace"], r["deltas"])
    ref = torch_counts(net, r)
    assert set(ref) == set(mine.fp)
    for name, (fp, bp, wg) in ref.items():
        assert np.array_equal(mine.fp[name], fp), name
        assert np.array_equal(mine.bp[name], bp), name
        assert np.array_equal(mine.wg[name], wg), name
    tot = mine.totals()
    assert tot["fp"] > 0 and tot["bp"] > 0 and tot["wg"] > 0
    if sg.kind == "rectangular":  # output-gradient sparsity: WG strictly below the dense-δ count
        assert tot["wg"] < tot["fp"]
