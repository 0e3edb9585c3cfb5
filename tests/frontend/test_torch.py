"""from_torch structure: residual fan-in, BatchNorm folding, dropped layers, fx → module-walk fallback,
unsupported modules (snnTorch neurons; peers extra)."""

from __future__ import annotations

import numpy as np
import pytest

snn = pytest.importorskip("snntorch")
torch = pytest.importorskip("torch")
from snntorch import utils as snn_utils  # noqa: E402

from spikemesh.errors import FrontendError  # noqa: E402
from spikemesh.frontend import from_torch  # noqa: E402
from spikemesh.ir.operators import BatchNorm, Conv  # noqa: E402
from spikemesh.ir.reference import run_reference  # noqa: E402

pytestmark = pytest.mark.peers


class Residual(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.lif1 = snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(4)
        self.drop = torch.nn.Dropout(0.3)
        self.lif2 = snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True, reset_mechanism="zero")
        self.fc = torch.nn.Linear(4 * 6 * 6, 3)
        self.lif3 = snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True)

    def forward(self, x):
        s1 = self.lif1(self.bn1(self.conv1(x)))
        s2 = self.lif2(self.drop(self.bn2(self.conv2(s1))) + s1)
        return self.lif3(self.fc(torch.flatten(s2, 1)))


def test_residual_batchnorm_dropout_spike_exact() -> None:
    torch.manual_seed(0)
    net = Residual()
    for bn in (net.bn1, net.bn2):  # non-trivial running statistics
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.1, 0.1)
    net.eval()
    x = (torch.rand(100, 2, 2, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    g = from_torch(net, x[0])
    assert g.metadata["frontend"] == "torch.fx"
    assert sorted(p.source for p in g.incoming("lif2")) == ["lif1", "lif1"]  # conv path + identity shortcut
    assert not any(isinstance(o, BatchNorm) for p in g.projections for o in p.ops)  # folded
    assert any(isinstance(o, Conv) and o.bias is not None for o in g.incoming("lif2")[0].ops)  # BN shift → bias
    snn_utils.reset(net)
    rec = {"lif1": [], "lif2": [], "lif3": []}
    hooks = [getattr(net, k).register_forward_hook(lambda m, i, o, k=k: rec[k].append(o)) for k in rec]
    with torch.no_grad():
        for t in range(100):
            net(x[t])
    for h in hooks:
        h.remove()
    got = run_reference(g, x.numpy()).spikes
    assert sum(int(torch.stack(v).sum()) for v in rec.values()) > 0
    for k, v in rec.items():
        assert int((got[k] != (torch.stack(v).numpy() > 0)).sum()) == 0, k


class Guarded(torch.nn.Sequential):
    """fx cannot trace a branch on a tensor value: from_torch falls back to walking the children."""

    def forward(self, x):
        if x.sum() >= 0:
            for m in self:
                x = m(x)
        return x


def test_module_walk_fallback_conv1d_identity() -> None:
    torch.manual_seed(2)
    net = Guarded(torch.nn.Conv1d(2, 3, 3, padding=1), torch.nn.Identity(), snn.Leaky(beta=0.9, init_hidden=True),
                  torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8, 4)),
                  snn.Leaky(beta=0.9, threshold=0.3, init_hidden=True))
    x = (torch.rand(50, 2, 2, 8, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    g = from_torch(net, x[0])
    assert g.metadata["frontend"] == "module walk"
    assert [p.name for p in g.populations] == ["2", "4"]
    snn_utils.reset(net)
    with torch.no_grad():
        out = torch.stack([net(x[t]) for t in range(50)]).numpy() > 0
    got = run_reference(g, x.numpy()).spikes["4"]
    assert out.sum() > 0 and int((got != out).sum()) == 0


def test_unsupported_module_names_it() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(FrontendError, match=r"^1: unsupported module torch\.nn\.modules\.activation\.ReLU") as e:
        from_torch(net, torch.zeros(1, 4))
    assert "\n" not in str(e.value)
    bad = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True), torch.nn.Linear(5, 2))
    with pytest.raises(FrontendError, match=r"^2: shape mismatch"):
        from_torch(bad, torch.zeros(1, 4))
    nan = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True))
    with torch.no_grad():
        nan[0].weight[0, 0] = float("nan")
    with pytest.raises(Exception, match="NaN or inf"):
        from_torch(nan, torch.zeros(1, 4))


def test_scalar_and_tensor_parameters_broadcast() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.Leaky(beta=torch.tensor([0.5, 0.6, 0.7]), threshold=2.0,
                                                               init_hidden=True))
    n = from_torch(net, torch.zeros(1, 4)).population["1"].neuron
    np.testing.assert_allclose(n.beta, [0.5, 0.6, 0.7])
    np.testing.assert_allclose(n.threshold, [2.0, 2.0, 2.0])
