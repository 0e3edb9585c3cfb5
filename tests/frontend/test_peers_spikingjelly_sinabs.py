"""SpikingJelly (hard and soft reset) and sinabs: spike-exact against their own runs (peers extra)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spikemesh.frontend import FrontendWarning, from_torch, load  # noqa: E402
from spikemesh.ir.reference import run_reference  # noqa: E402

pytestmark = pytest.mark.peers
T = 100


def _inputs(shape: tuple[int, ...], seed: int, p: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(200 + seed)
    return (torch.rand((T, 3, *shape), generator=g) < p).float()


def _check(graph, x: torch.Tensor, want: dict[str, np.ndarray]) -> None:
    got = run_reference(graph, x.numpy()).spikes
    assert sum(int(v.sum()) for v in want.values()) > 0
    for k, v in want.items():
        assert got[k].shape == v.shape
        assert int((got[k] != v).sum()) == 0, k


def _run_sj(net, x: torch.Tensor) -> dict[str, np.ndarray]:
    from spikingjelly.activation_based import functional, neuron

    functional.reset_net(net)
    rec: dict[str, list] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: rec.setdefault(n, []).append(o))
             for n, m in net.named_children() if isinstance(m, neuron.BaseNode)]
    with torch.no_grad():
        for t in range(T):
            net(x[t])
    for h in hooks:
        h.remove()
    return {n: torch.stack(v).numpy() > 0 for n, v in rec.items()}


@pytest.mark.parametrize("v_reset", [0.0, None, -0.2])
@pytest.mark.parametrize("seed", [0, 1])
def test_spikingjelly_mlp_and_conv(v_reset, seed: int) -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    torch.manual_seed(seed)
    mlp = torch.nn.Sequential(layer.Linear(20, 30), neuron.LIFNode(tau=2.0, v_reset=v_reset),
                              layer.Linear(30, 6), neuron.IFNode(v_reset=v_reset, v_threshold=0.8),
                              layer.Linear(6, 4), neuron.LIFNode(tau=3.0, decay_input=False, v_reset=v_reset))
    conv = torch.nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode(v_reset=v_reset),
                               layer.AvgPool2d(2), layer.Flatten(), layer.Linear(4 * 5 * 5, 8),
                               neuron.LIFNode(tau=4.0, v_reset=v_reset))
    for net, shape in ((mlp, (20,)), (conv, (2, 10, 10)))[: 2 if seed == 0 else 1]:
        x = _inputs(shape, seed, p=0.5)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            g = from_torch(net, x[0])
        if v_reset not in (0.0, None):  # SpikingJelly starts v at v_reset; warned, and equal only from rest
            assert any("starts the membrane" in str(w.message) for w in rec)
            continue
        want = _run_sj(net, x)
        assert g.population["1"].neuron.reset == ("subtract" if v_reset is None else "zero")
        _check(g, x, want)


def test_spikingjelly_hard_reset_through_nir(tmp_path) -> None:
    pytest.importorskip("spikingjelly")
    import nir
    from spikingjelly.activation_based import layer, neuron
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    torch.manual_seed(4)
    net = torch.nn.Sequential(layer.Linear(20, 30), neuron.LIFNode(tau=2.0), layer.Linear(30, 5), neuron.IFNode())
    x = _inputs((20,), 4)
    try:
        ng = export_to_nir(net, x[0, :1], dt=1e-4)
    except TypeError as e:
        pytest.skip(f"SpikingJelly's NIR exporter fails with the installed nir/nirtorch ({e})")
    nir.write(tmp_path / "sj.nir", ng)
    g = load(tmp_path / "sj.nir")
    want = _run_sj(net, x)
    got = run_reference(g, x.numpy()).spikes
    assert [int((got[p.name] != want[k]).sum()) for p, k in zip(g.populations, ("1", "3"))] == [0, 0]


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_sinabs_iaf_and_lif(reset: str, tmp_path) -> None:
    sl = pytest.importorskip("sinabs.layers")
    from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike

    torch.manual_seed(7)
    rf = MembraneSubtract() if reset == "subtract" else MembraneReset()
    net = torch.nn.Sequential(torch.nn.Linear(20, 30), sl.IAF(spike_fn=SingleSpike, reset_fn=rf, min_v_mem=-1.0),
                              torch.nn.Linear(30, 6), sl.LIF(tau_mem=5.0, spike_fn=SingleSpike, reset_fn=rf,
                                                            norm_input=False),
                              torch.nn.Linear(6, 4), sl.LIF(tau_mem=4.0, tau_syn=3.0, spike_fn=SingleSpike,
                                                            reset_fn=rf, spike_threshold=0.5))
    with torch.no_grad():
        net[2].weight.mul_(3.0)
    x = _inputs((20,), 7, p=0.5)
    with torch.no_grad():  # sinabs layers take [B, T, ...]
        rec: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(lambda m, i, o, n=n: rec.__setitem__(n, o)) for n, m in net.named_children()
                 if n in ("1", "3", "5")]
        net(x.transpose(0, 1))
        for h in hooks:
            h.remove()
    want = {k: v.transpose(0, 1).numpy() > 0 for k, v in rec.items()}
    g = from_torch(net, x[0])
    assert g.population["5"].neuron.kind == "CubaLIF" and g.population["1"].neuron.v_min == -1.0
    _check(g, x, want)


def test_sinabs_multispike_is_warned() -> None:
    sl = pytest.importorskip("sinabs.layers")
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), sl.IAFSqueeze(batch_size=1))
    with pytest.warns(FrontendWarning, match="several spikes per step"):
        g = from_torch(net, torch.zeros(1, 4))
    assert g.population["1"].neuron.kind == "IF"


def test_sinabs_conv_sumpool_iafsqueeze() -> None:
    sl = pytest.importorskip("sinabs.layers")
    from sinabs.activation import MembraneSubtract, SingleSpike

    torch.manual_seed(8)
    B = 3

    def iaf():
        return sl.IAFSqueeze(batch_size=B, spike_fn=SingleSpike, reset_fn=MembraneSubtract())

    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(), sl.SumPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 5, bias=False), iaf())
    x = _inputs((2, 8, 8), 8, p=0.4)
    rec: dict[str, torch.Tensor] = {}
    hooks = [net[k].register_forward_hook(lambda m, i, o, k=k: rec.__setitem__(str(k), o)) for k in (1, 5)]
    with torch.no_grad():  # IAFSqueeze takes [B*T, ...], batch-major
        net(x.transpose(0, 1).reshape(B * T, 2, 8, 8))
    for h in hooks:
        h.remove()
    want = {k: v.reshape(B, T, *v.shape[1:]).transpose(0, 1).numpy() > 0 for k, v in rec.items()}
    g = from_torch(net, x[0])
    assert [type(o).__name__ for o in g.incoming("5")[0].ops] == ["SumPool2d", "Reshape", "Dense"]
    _check(g, x, want)


def test_spikemesh_export_reimported_by_spikingjelly(tmp_path) -> None:
    """save_nir output read by SpikingJelly's own NIR importer (2.0 `nir_exchange`, needs nirtorch 2.6): with the
    continuous IF convention it runs spike for spike like the reference executor (hard reset; SpikingJelly fires
    on v >= θ, as the source). The per-step convention (r = 1) is refused by SpikingJelly, which wants r = 1/dt."""
    pytest.importorskip("spikingjelly")
    try:
        from spikingjelly.activation_based.nir_exchange.from_nir import import_from_nir
    except ImportError as e:  # SpikingJelly without the nir extra (nirtorch < 2.6)
        pytest.skip(f"SpikingJelly's NIR importer is not importable here ({e})")
    from importlib.metadata import version

    from spikingjelly.activation_based import layer, neuron

    from spikemesh.frontend import save_nir

    nt = version("nirtorch")
    if tuple(int(v) for v in nt.split(".")[:2]) < (2, 6):
        pytest.skip(f"SpikingJelly's NIR importer needs nirtorch >= 2.6 (spikingjelly[nir]); installed {nt}")
    torch.manual_seed(4)
    net = torch.nn.Sequential(layer.Linear(20, 30), neuron.LIFNode(tau=2.0, v_reset=0.0), layer.Linear(30, 6),
                              neuron.IFNode(v_reset=0.0, v_threshold=0.8), layer.Linear(6, 4),
                              neuron.LIFNode(tau=3.0, decay_input=False, v_reset=0.0))
    x = _inputs((20,), 4, p=0.5)
    g = from_torch(net, x[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FrontendWarning)
        save_nir(g, tmp_path / "step.nir")
        save_nir(g, tmp_path / "cont.nir", if_convention="continuous")
    with pytest.raises(ValueError, match="1 / dt"):
        import_from_nir(tmp_path / "step.nir", dt=g.dt)
    sj = import_from_nir(tmp_path / "cont.nir", dt=g.dt)
    want = run_reference(g, x.numpy()).spikes[g.outputs[0].source]
    source = _run_sj(net, x)["5"]
    state, got = None, []
    with torch.no_grad():
        for t in range(T):
            o, state = sj(x[t], state)
            got.append(o.numpy() > 0)
    got = np.array(got)
    assert want.sum() > 20 and int((got != want).sum()) == 0 and int((got != source).sum()) == 0
