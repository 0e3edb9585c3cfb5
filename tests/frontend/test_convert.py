"""ANN → SNN conversion on the real trained ANN of the NIR paper (pretrained_ann_weights.pth, the network
cnn_sinabs.nir was converted from)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spikemesh.errors import FrontendError  # noqa: E402
from spikemesh.frontend import convert_ann  # noqa: E402
from spikemesh.frontend.convert import snn_classes  # noqa: E402

from .test_nir_import import DATA, needs_data  # noqa: E402

T = 64


def paper_ann() -> torch.nn.Module:
    """The architecture of cnn_sinabs.nir with ReLUs (its weights equal the state dict's; no biases). The
    pooling is AvgPool2d here; as the network has no biases, SumPool would only scale the logits by 16."""
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(2, 16, 5, 2, 1, bias=False), nn.ReLU(), nn.Conv2d(16, 16, 3, 1, 1, bias=False),
                      nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(16, 8, 3, 1, 1, bias=False), nn.ReLU(), nn.AvgPool2d(2),
                      nn.Flatten(), nn.Linear(128, 256, bias=False), nn.ReLU(), nn.Linear(256, 10, bias=False))
    m.load_state_dict(torch.load(DATA / "pretrained_ann_weights.pth", map_location="cpu", weights_only=True))
    return m.eval()


def strokes(n: int, seed: int) -> np.ndarray:
    """Event-count frames [n, 2, 34, 34] of 2-4 jittered line strokes per polarity (N-MNIST-like)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 2, 34, 34))
    t = np.linspace(0, 1, 40)[:, None]
    for i in range(n):
        for _ in range(rng.integers(2, 5)):
            p0, p1 = rng.uniform(5, 29, 2), rng.uniform(5, 29, 2)
            for c in range(2):
                pts = np.clip(p0 + t * (p1 - p0) + rng.normal(0, 0.7, (40, 2)), 0, 33).astype(int)
                np.add.at(out[i, c], (pts[:, 0], pts[:, 1]), 1)
    return out


def class_inputs(model: torch.nn.Module, per_class: int, seed: int, steps: int = 12) -> torch.Tensor:
    """N-MNIST is not available offline: inputs the ANN assigns to each of the 10 classes, made from stroke
    frames by a few steps of gradient descent on the ANN's cross-entropy, kept non-negative (event counts)."""
    torch.manual_seed(seed)
    p = torch.tensor(strokes(10 * per_class, seed), dtype=torch.float32).requires_grad_(True)
    target = torch.arange(10).repeat_interleave(per_class)
    opt = torch.optim.Adam([p], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(p.clamp(min=0)), target).backward()
        opt.step()
    return p.detach().clamp(min=0)


@pytest.fixture(scope="module")
def paper() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    if not (DATA / "pretrained_ann_weights.pth").is_file():
        pytest.skip("pretrained ANN not available")
    m = paper_ann()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the synthesised inputs do not depend on how reductions are split
    try:
        return m, class_inputs(m, 6, 10), class_inputs(m, 6, 11)
    finally:
        torch.set_num_threads(threads)


def _agreement_case(paper, method: str) -> None:
    model, cal, test = paper
    want = model(test).argmax(1).numpy()
    assert np.bincount(want, minlength=10).min() >= 5  # every class is represented
    g, report = convert_ann(model, cal, T, method=method, report_samples=8)
    got = snn_classes(g, test.numpy(), T)
    agree = float(np.mean(got == want))
    assert agree >= 0.95, agree
    layers = [k for k in report if k != "agreement"]
    assert layers == [p.name for p in g.populations]
    for k in layers:
        r = report[k]
        assert r["scale"] > 0 and 0 <= r["clipped"] <= 1 and 0 <= r["rate_error"] < 0.5
        assert r["scale"] <= r["activation_max"] + 1e-9
    if method == "max":
        assert all(report[k]["clipped"] == 0 for k in layers)  # max balancing clips nothing on its own data
    else:
        assert any(report[k]["clipped"] > 0 for k in layers)  # the 99.9th percentile clips the tail
    assert all(p.neuron.kind == "IF" and p.neuron.reset == "subtract" for p in g.populations)


@needs_data
def test_paper_ann_class_agreement_at_t64_max(paper) -> None:
    _agreement_case(paper, "max")


@needs_data
@pytest.mark.slow  # the same path with the percentile scale is covered by test_percentile_balancing_small
def test_paper_ann_class_agreement_at_t64_percentile(paper) -> None:
    _agreement_case(paper, "percentile")


def test_percentile_balancing_small() -> None:
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()
    x = torch.rand(200, 6)
    a = m[1](m[0](x)).detach().numpy()
    gm, rm = convert_ann(m, x, 64, method="max", report_samples=50)
    gp, rp = convert_ann(m, x, 64, method="percentile", percentile=99.0, report_samples=50)
    assert rm["1"]["scale"] == pytest.approx(float(a.max()))
    assert rp["1"]["scale"] == pytest.approx(float(np.percentile(a[a > 0], 99.0)))
    assert rp["1"]["clipped"] == pytest.approx(float(np.mean(a > rp["1"]["scale"])))
    want = m(x[:50]).argmax(1).numpy()
    assert np.mean(snn_classes(gp, x[:50].numpy(), 64) == want) >= 0.9


def test_bias_handling_and_errors() -> None:
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    x = torch.rand(50, 6)
    g, rep = convert_ann(m, x, 32)
    d = g.projections[0].ops[0]
    lam = rep["1"]["scale"]
    np.testing.assert_allclose(d.bias, m[0].bias.detach().numpy() / lam, rtol=1e-6)
    np.testing.assert_allclose(d.weight, m[0].weight.detach().numpy() / lam, rtol=1e-6)
    g0, _ = convert_ann(m, x, 32, bias=False)
    assert g0.projections[0].ops[0].bias is None
    with pytest.raises(FrontendError, match="unknown method"):
        convert_ann(m, x, 32, method="mean")
    bad = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Sigmoid())
    with pytest.raises(FrontendError, match=r"^1: unsupported module"):
        convert_ann(bad, x, 32)
    from spikemesh.frontend import from_torch

    with pytest.raises(FrontendError, match=r"Conv2d expects input \[C, L, L\] \(available \[8, 8\]\); hint: .*"
                                            r"\[B, \*shape\]") as e:  # sample_input without its batch axis
        from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), torch.zeros(1, 8, 8))
    assert str(e.value).count("available") == 1

    class Block(torch.nn.Module):  # a home-made neuron the tracer enters: its threshold is an unknown function
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (self.fc(x) >= 1.0).float()

    with pytest.raises(FrontendError, match=r"unsupported function ge inside module 0 \(Block\); hint: .*"
                                            r"register_neuron\(Block"):
        from_torch(torch.nn.Sequential(Block()), torch.zeros(1, 4))
    pool = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    with pytest.raises(FrontendError, match=r"^2: unsupported module .*MaxPool2d; hint: max pooling is not linear"):
        convert_ann(pool, torch.rand(4, 1, 8, 8), 32)
