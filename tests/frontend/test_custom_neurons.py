"""from_torch with a neuron class the adapters do not know: an error naming it and listing the recognised classes;
register_neuron teaches it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import spikemesh  # noqa: E402
from spikemesh.errors import FrontendError  # noqa: E402
from spikemesh.frontend import unregister_neuron  # noqa: E402
from spikemesh.ir import LIF  # noqa: E402


class MyLIF(torch.nn.Module):
    """A user's own leaky neuron: v = beta * v + x; spike when v >= 1; subtract."""

    def __init__(self, beta: float = 0.5) -> None:
        super().__init__()
        self.beta = beta
        self.v = None

    def forward(self, x):  # noqa: ANN001, ANN201
        self.v = x if self.v is None else self.beta * self.v + x
        s = (self.v >= 1.0).float()
        self.v = self.v - s
        return s


def test_unknown_neuron_names_it_and_lists_known_classes() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), MyLIF())
    with pytest.raises(FrontendError) as e:
        spikemesh.from_torch(net, torch.zeros(1, 4))
    msg = str(e.value)
    assert "\n" not in msg and "MyLIF" in msg and msg.startswith("1: unknown neuron module")
    for known in ("snntorch.Leaky", "spikingjelly.LIFNode", "sinabs.IAF"):
        assert known in msg
    assert "register_neuron" in msg


def test_registered_converter_is_used_and_runs() -> None:
    spikemesh.register_neuron(MyLIF, lambda m, name, shape: LIF(beta=m.beta, threshold=1.0))
    try:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False), MyLIF(0.5))
        g = spikemesh.from_torch(net, torch.zeros(1, 4))
        (pop,) = g.populations
        assert pop.neuron.kind == "LIF" and float(pop.neuron.beta) == 0.5
        x = np.random.default_rng(0).random((6, 2, 4)) * 2
        ref = spikemesh.simulate(g, x).spikes[pop.name]
        # the torch module itself, step by step, on the same inputs (one call = one step)
        m = MyLIF(0.5)
        with torch.no_grad():
            want = np.stack([m(net[0](torch.from_numpy(x[t]).float())).numpy() for t in range(6)])
        assert np.array_equal(ref, want.astype(bool))
        other = torch.nn.Sequential(torch.nn.Linear(4, 3), OtherNeuron())
        with pytest.raises(FrontendError) as e:
            spikemesh.from_torch(other, torch.zeros(1, 4))
        assert "OtherNeuron" in str(e.value) and "test_custom_neurons.MyLIF" in str(e.value)
    finally:
        unregister_neuron(MyLIF)


class OtherNeuron(torch.nn.Module):
    """Another unknown neuron: the list of recognised classes now also names the registered one."""

    def forward(self, x):  # noqa: ANN001, ANN201
        return x
