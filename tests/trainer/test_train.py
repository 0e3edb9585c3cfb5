"""spikemesh.train: the optimiser loop equals the same loop in torch (weights after a few Adam steps with the
cosine schedule), data-parallel workers equal one worker, federated averaging equals averaging independently
trained workers; bad input raises SpikemeshError. (The demo-accuracy comparison is in test_demo_training.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import spikemesh
from spikemesh.errors import SpikemeshError
from spikemesh.trainer.bptt import Surrogate
from spikemesh.trainer.op_rules import initial_params
from tests.trainer.test_gradients import mlp, torch_mlp


def data(n: int = 40, T: int = 6, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    rates = np.full((n, 20), 0.1)
    rates[np.arange(n), y * 4] = 0.8
    x = (rng.random((T, n, 20)) < rates[None]).astype(np.float32)
    return x, y


def test_train_equals_torch_adam_cosine() -> None:
    graph, raw = mlp(np.random.default_rng(0))
    x, y = data()
    sg = Surrogate("fast_sigmoid", 5.0, True)
    res = spikemesh.train(graph, (x, y), epochs=2, lr=5e-3, batch=10, surrogate=sg, seed=3)
    tp = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in raw.items()}
    opt = torch.optim.Adam(list(tp.values()), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    rng = np.random.default_rng(3)
    for _ in range(2):
        perm = rng.permutation(x.shape[1])
        for i in range(0, x.shape[1], 10):
            idx = perm[i:i + 10]
            o, _, _ = torch_mlp(tp, torch.from_numpy(x[:, idx]), sg, "subtract", "before_decay")
            loss = F.cross_entropy(o.sum(0), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    keys = {"w1": "x>h1/0/weight", "b1": "x>h1/0/bias", "w2": "h1>h2/0/weight", "w3": "h2>o/0/weight"}
    for k, key in keys.items():
        np.testing.assert_allclose(res.params[key], tp[k].detach().numpy(), rtol=0, atol=2e-5)
    assert not np.allclose(res.params["x>h1/0/weight"], raw["w1"])  # it moved
    # the trained graph carries the weights
    w = res.graph.projection["x>h1"].ops[0].weight
    np.testing.assert_allclose(w, res.params["x>h1/0/weight"], rtol=1e-7)
    assert len(res.history) == 2 and res.cost["traffic_bytes"]["dram"] > 0


def test_data_parallel_equals_single_worker() -> None:
    graph, _ = mlp(np.random.default_rng(0))
    x, y = data()
    one = spikemesh.train(graph, (x, y), epochs=1, lr=1e-3, batch=20, optimizer="sgd", seed=0, schedule=None)
    four = spikemesh.train(graph, (x, y), epochs=1, lr=1e-3, batch=20, optimizer="sgd", seed=0, schedule=None,
                           workers=4)
    for k in one.params:
        np.testing.assert_allclose(four.params[k], one.params[k], rtol=0, atol=1e-6)
    assert four.report["last_batch"]["traffic_bytes"]["allreduce"] > 0
    assert one.report["last_batch"]["traffic_bytes"]["allreduce"] == 0


def test_federated_average_of_independent_workers() -> None:
    graph, _ = mlp(np.random.default_rng(0))
    x, y = data(n=40)
    fed = spikemesh.train(graph, (x, y), epochs=1, lr=1e-2, batch=20, optimizer="sgd", seed=5, schedule=None,
                          workers=2, federated=True, sync_every=100)
    # independently: the same shards (seeded split), one epoch each, then the size-weighted mean
    rng = np.random.default_rng(5)
    shards = np.array_split(rng.permutation(40), 2)
    orders = [rng.permutation(s) for s in shards]
    from spikemesh.trainer.bptt import TrainingGraph
    from spikemesh.trainer.loop import grad_step
    from spikemesh.trainer.optimisers import SGD

    net = TrainingGraph(graph, None)
    ws = []
    for o in orders:
        p = initial_params(graph)
        opt = SGD(p, 1e-2)
        for b in range(1):  # 20 samples per shard, batch 20
            idx = o[b * 20:(b + 1) * 20]
            _, g, *_ = grad_step(net, p, x[:, idx], y[idx], "ce_count")
            opt.step(p, g)
        ws.append(p)
    for k in ws[0]:
        np.testing.assert_allclose(fed.params[k], (ws[0][k] + ws[1][k]) / 2, rtol=0, atol=1e-6)


def test_bad_inputs() -> None:
    graph, _ = mlp(np.random.default_rng(0))
    x, y = data()
    with pytest.raises(SpikemeshError, match="do not match the graph input"):
        spikemesh.train(graph, (x[..., :5], y))
    with pytest.raises(SpikemeshError, match="not a training target"):
        spikemesh.train(graph, (x, y), target="tianjic")
    with pytest.raises(SpikemeshError, match="unknown surrogate"):
        spikemesh.train(graph, (x, y), surrogate="nope")
    with pytest.raises(SpikemeshError, match="labels do not match"):
        spikemesh.train(graph, (x, y[:3]))
