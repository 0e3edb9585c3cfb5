"""Training the bundled demo network (scripts/train_demo.py: its init, data, loss, optimiser and schedule) with
``spikemesh.train`` reaches the accuracy of the same training in PyTorch (spikemesh/data/demo_torch.py's
surrogate forward + torch autograd + torch.optim.Adam) within 1 point, with the same mini-batch order."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import spikemesh
from spikemesh.data.demo_torch import LAYERS, DemoParams, forward, predict
from spikemesh.data.shapes import make_shapes
from spikemesh.ir import Population

ROOT = Path(__file__).resolve().parents[2]


def _recipe():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("train_demo", ROOT / "scripts" / "train_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def torch_train(w0: dict, x: np.ndarray, y: np.ndarray, epochs: int, batch: int, lr: float, seed: int) -> DemoParams:
    torch.set_num_threads(1)
    weights = {k: v.detach().clone().float().requires_grad_(True) for k, v in w0.items()}
    params = DemoParams(weights, 1.0, {n: 1.0 for n in LAYERS})
    opt = torch.optim.Adam(list(weights.values()), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    rng = np.random.default_rng(seed)  # the same mini-batch order as spikemesh.train(seed=...)
    for _ in range(epochs):
        perm = rng.permutation(x.shape[1])
        for i in range(0, x.shape[1], batch):
            idx = perm[i:i + batch]
            counts = forward(params, torch.from_numpy(x[:, idx]), surrogate_slope=5.0)["fc"].sum(0)
            loss = F.cross_entropy(counts, torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return params


def torch_accuracy(params: DemoParams, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        out = forward(params, torch.from_numpy(x.astype(np.float32)))["fc"].numpy()
    return float(np.mean(predict(out) == y))


def run(n_train: int, n_test: int, epochs: int, lr: float = 3e-3, batch: int = 50
        ) -> tuple[float, float, spikemesh.Graph]:
    td = _recipe()
    w0 = td.init_weights(torch.Generator().manual_seed(td.TORCH_SEED))
    p0 = DemoParams({k: v.detach().double() for k, v in w0.items()}, 1.0, {n: td.THRESHOLD for n in LAYERS})
    graph = td.build_graph(p0, {})
    graph = graph.replace(populations=tuple(  # the float model that is trained (bit widths come at quantization)
        Population(p.name, p.shape, p.neuron.replace(weight_bits=None, state_bits=None)) for p in graph.populations))
    x, y = make_shapes(n_train, td.TRAIN_SEED, T=td.T, size=td.SIZE)
    xt, yt = make_shapes(n_test, td.TEST_SEED, T=td.T, size=td.SIZE)
    res = spikemesh.train(graph, (x, y), epochs=epochs, lr=lr, batch=batch, surrogate=("fast_sigmoid", 5.0, True),
                          seed=0, eval_data=(xt, yt))
    ref = torch_train(w0, x, y, epochs, batch, lr, 0)
    acc_torch = torch_accuracy(ref, xt, yt)
    # the trained IR graph run by the reference executor gives the engine's accuracy too
    out = spikemesh.simulate(res.graph, xt.astype(np.float64)).output
    acc_ir = float(np.mean(np.argmax(out.sum(0), 1) == yt))
    assert math.isclose(acc_ir, res.history[-1]["eval_acc"], abs_tol=2.0 / n_test)
    print(f"demo training n_train={n_train} epochs={epochs}: spikemesh {res.history[-1]['eval_acc']:.4f}, "
          f"torch {acc_torch:.4f}, IR reference on the trained graph {acc_ir:.4f}")
    return res.history[-1]["eval_acc"], acc_torch, res.graph


@pytest.mark.slow
def test_demo_training_matches_torch_short() -> None:
    # the recipe shortened to fit the test budget: 400 samples, 4 epochs, lr 1e-2, batch 25
    acc, acc_torch, _ = run(n_train=400, n_test=400, epochs=4, lr=1e-2, batch=25)
    assert acc_torch > 0.4  # learned something (chance 0.25)
    assert abs(acc - acc_torch) <= 0.01, (acc, acc_torch)


@pytest.mark.slow
def test_demo_training_full_recipe_matches_torch() -> None:
    td = _recipe()
    acc, acc_torch, _ = run(n_train=td.N_TRAIN, n_test=td.N_TEST, epochs=12)
    assert abs(acc - acc_torch) <= 0.01, (acc, acc_torch)
