"""Cost model and GPU traffic model against hand-computed values on small networks; the trainer preset and its
TOML section; the `spikemesh train` CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import spikemesh
from spikemesh.cli import main
from spikemesh.errors import SpikemeshError, TargetError
from spikemesh.ir import LIF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.target.registry import target_from_dict, target_to_dict
from spikemesh.trainer.bptt import Surrogate, TrainingGraph
from spikemesh.trainer.chip_cost import engine_cost
from spikemesh.trainer.counts import count_ops
from spikemesh.trainer.gpu_baseline import gpu_traffic
from spikemesh.trainer.layout import distribute
from spikemesh.trainer.loop import grad_step
from spikemesh.trainer.op_rules import initial_params
from spikemesh.trainer.spec import trainer_spec


def one_layer(n_in: int = 8, n: int = 4) -> Graph:
    w = np.random.default_rng(0).normal(0, 0.8, (n, n_in))
    return Graph(inputs=(Input("x", (n_in,)),), populations=(Population("o", (n,), LIF(0.9)),),
                 projections=(Projection("x>o", "x", "o", (Dense(w),)),), outputs=(Output("out", "o"),))


def run(graph: Graph, T: int = 5, B: int = 3, surrogate: Surrogate | None = None):  # noqa: ANN201
    rng = np.random.default_rng(1)
    x = (rng.random((T, B, *graph.inputs[0].shape)) < 0.3).astype(np.float32)
    y = rng.integers(0, graph.population["o"].shape[0], B)
    net = TrainingGraph(graph, surrogate or Surrogate("rectangular", 0.5))
    _, _, tr, deltas, _ = grad_step(net, initial_params(graph), x, y, "ce_count")
    return net, tr, deltas, x


def test_energy_flops_and_traffic_by_hand() -> None:
    g = one_layer()
    net, tr, deltas, x = run(g)
    counts = count_ops(net, tr, deltas)
    t = spikemesh.target("trainer")
    s = trainer_spec(t)
    c = engine_cost(net, counts, tr, deltas, t, cores=1, optimizer="sgd")
    T, B, n_in, n = 5, 3, 8, 4
    fp = int((x != 0).sum()) * n  # every input spike reaches the 4 neurons
    assert c["ops"]["fp"] == fp
    assert c["ops"]["bp"] == 0  # the source is the input: no δ to propagate
    d = (deltas["o"].reshape(T, B, n) != 0)
    assert c["ops"]["wg"] == int(((x != 0).sum(-1)[..., None] * d).sum())
    assert c["dense_flops"] == 6 * n_in * n * T * B
    nsteps = T * B * n
    assert c["energy_pj"]["fp"] == pytest.approx(fp * s.add_pj + nsteps * (s.mul_pj + 2 * s.add_pj + s.cmp_pj))
    assert c["energy_pj"]["wg"] == pytest.approx(c["ops"]["wg"] * s.add_pj + n_in * n * (s.mul_pj + s.add_pj))
    # DRAM: the weights stay resident (updated in place), SGD keeps no moments: only the input spikes at 1 bit
    assert c["traffic_bytes"]["dram"] == pytest.approx(n_in * T * B / 8)
    # Adam: both FP32 moments read and written once per mini-batch (16 B per weight)
    ca = engine_cost(net, counts, tr, deltas, t, cores=1, optimizer="adam")
    assert ca["traffic_bytes"]["dram"] == pytest.approx(16 * n_in * n + n_in * T * B / 8)
    assert c["tflops_per_w_core"] == pytest.approx(c["dense_flops"] / c["energy_core_pj"])


def test_spill_by_dataflow_when_weights_and_trace_exceed_the_buffer() -> None:
    g = one_layer(8, 64)
    net, tr, deltas, _ = run(g, T=10, B=2)
    counts = count_ops(net, tr, deltas)
    t = spikemesh.target("trainer")
    small = replace(trainer_spec(t), sram_bytes=1000, sram_split={"params": 0.6, "state": 0.4})
    T, B, w = 10, 2, 8 * 64
    excess = w - 600 / 6  # 600 B of params share at 2 B value + 4 B accumulator per weight hold 100 weights
    state = 64 * T * 17 / 8  # one sample's trace: H at 16 bits + S at 1 bit, T steps
    # per micro-batch W is read in FP and in BP (2 B each), the 4 B accumulator spills between micro-batches,
    # the fused update writes W once; step-major streams W twice and the accumulator in and out every step
    want = {"step_major": (excess * (2 * 2 + 2 * 4) * T * B, 2 * B * (state - 400)),
            "sample_serial": (excess * (2 * 2 * B + 2 * 4 * (B - 1) + 2), 2 * B * (state - 400)),
            "batch_stationary": (excess * (2 * 2 + 2), 2 * (B * state - 400))}
    got = {}
    for flow, (p, s) in want.items():
        c = engine_cost(net, counts, tr, deltas, t, cores=1, optimizer="sgd", spec=replace(small, dataflow=flow))
        assert c["dataflow"] == flow
        assert c["traffic_bytes"]["dram_spill_params"] == pytest.approx(p), flow
        assert c["traffic_bytes"]["dram_spill_state"] == pytest.approx(s), flow
        got[flow] = c["cycles"]["total"]
    auto = engine_cost(net, counts, tr, deltas, t, cores=1, optimizer="sgd", spec=small)
    # B = 2: the micro-batch counts are 2 (sample-serial) and 1 (batch-stationary); auto takes the faster
    assert auto["cycles"]["total"] == pytest.approx(min(got["sample_serial"], got["batch_stationary"]))
    assert auto["micro_batches"] == (2 if got["sample_serial"] <= got["batch_stationary"] else 1)
    assert auto["cycles"]["total"] <= got["step_major"]
    big = engine_cost(net, counts, tr, deltas, t, cores=1, optimizer="sgd")
    assert big["traffic_bytes"]["dram_spill_state"] == big["traffic_bytes"]["dram_spill_params"] == 0


def test_gpu_model_by_hand() -> None:
    g = one_layer(8, 4)
    net = TrainingGraph(g, Surrogate("fast_sigmoid", 5.0, True))
    T, B, n_in, n, w = 5, 3, 8, 4, 32
    e = B * n  # elements of the population's state
    fwd = e + (3 * e * T + e) + 14 * e * T + (B * n_in + w + e) * T  # zero state, readout, neuron, projection
    bwd = 11 * e * T + (3 + 2) * e * (T - 1) + (e + B * n_in + w) * T + 3 * w * (T - 1)  # no input gradient
    total = (fwd + bwd + 19 * w + n_in * T * B) * 4 + 2 * e * T  # + the spike comparison's 1-byte mask
    assert gpu_traffic(net, T, B)["total"] == total


def test_fused_gpu_lower_bound_by_hand() -> None:
    from spikemesh.trainer.gpu_baseline import gpu_traffic_fused

    net = TrainingGraph(one_layer(8, 4), Surrogate("fast_sigmoid", 5.0, True))
    T, B, n_in, n, w = 5, 3, 8, 4, 32
    # H and S of 4 neurons x 3 samples x 5 steps written and read; W twice, dW once; Adam: W, dW, W + m, v r/w
    want = (4 * n * B * T + 3 * w + n_in * T * B) * 2 + w * (3 * 2 + 16)
    assert gpu_traffic_fused(net, T, B, gpu_bytes=2)["total"] == want
    assert gpu_traffic_fused(net, T, B, gpu_bytes=2)["total"] < gpu_traffic(net, T, B, gpu_bytes=2)["total"]


def test_distribution_and_per_core_counts() -> None:
    from tests.trainer.test_gradients import mlp

    g, _ = mlp(np.random.default_rng(0))
    net, tr, deltas, x = run(g)
    d = distribute(net, 6, 5)
    assert d.n_cores == 6 and all(len(np.unique(v)) >= 1 for v in d.neuron_core.values())
    cores = set()
    for v in d.neuron_core.values():
        cores |= set(v.tolist())
    assert cores == set(range(6))
    counts = count_ops(net, tr, deltas)
    t = spikemesh.target("trainer")
    c6 = engine_cost(net, counts, tr, deltas, t, cores=6)
    c1 = engine_cost(net, counts, tr, deltas, t, cores=1)
    assert sum(c6["per_core"]["fp_ops"]) == counts.totals()["fp"] == c1["ops"]["fp"]
    assert c6["cycles"]["compute"] < c1["cycles"]["compute"]  # work spread over cores
    # one core: only the host's input spikes cross the NoC, a 32-bit packet each
    assert c1["traffic_bytes"]["noc_fp"] == 4 * int((x != 0).sum())
    assert c6["traffic_bytes"]["noc_fp"] > c1["traffic_bytes"]["noc_fp"]


def test_distribution_is_contiguous_and_balanced() -> None:
    from spikemesh.trainer.layout import fan_in
    from tests.trainer.test_gradients import mlp

    g, _ = mlp(np.random.default_rng(0))
    net = TrainingGraph(g, Surrogate())
    order = [nm for _, ms in net.schedule for nm in ms]
    work = np.concatenate([fan_in(net, nm) + 1.0 for nm in order])
    # fan-in by hand: every neuron of a dense layer has all of the previous layer as synapses
    sizes = [g.shape_of(pr.source)[0] for nm in order for pr in g.incoming(nm)]
    assert work.tolist() == sum(([float(s + 1)] * g.population[nm].size for s, nm in zip(sizes, order, strict=True)),
                                [])
    for k in (1, 2, 3, 5):
        d = distribute(net, k, 5)
        cores = np.concatenate([d.neuron_core[nm] for nm in order])
        assert np.all(np.diff(cores) >= 0) and d.n_cores == k  # contiguous runs in schedule order
        per = np.bincount(cores, weights=work, minlength=k)
        assert per.max() - work.sum() / k <= work.max()  # no core exceeds its equal share by more than one neuron


def test_trainer_preset_and_toml_section(tmp_path) -> None:  # noqa: ANN001
    t = spikemesh.target("trainer")
    assert t.family == "trainer" and t.n_cores == 20
    s = trainer_spec(t)
    assert s.value_bits == 16 and s.add_pj == pytest.approx(0.4 * 28 / 45 * 0.81)
    d = target_to_dict(t)
    d["extra"]["trainer"]["sram_bytes"] = 1024
    assert trainer_spec(target_from_dict(d)).sram_bytes == 1024
    d["extra"]["trainer"]["bogus"] = 1
    with pytest.raises(TargetError, match="bogus"):
        trainer_spec(target_from_dict(d))
    toml = tmp_path / "t.toml"
    toml.write_text('name = "mytrainer"\nfamily = "trainer"\n[core]\nneurons = 1024\naxons = 1024\n'
                    'synapse_bits = 100000\n[extra.trainer]\nfp_ops_per_cycle = 8\n')
    assert trainer_spec(spikemesh.target(str(toml))).fp_ops_per_cycle == 8
    with pytest.raises(SpikemeshError, match="not a training target"):
        trainer_spec(spikemesh.target("tianjic"))


def test_cli_train(tmp_path, capsys) -> None:  # noqa: ANN001
    from tests.trainer.test_gradients import mlp
    from tests.trainer.test_train import data

    g, _ = mlp(np.random.default_rng(0))
    g.save(tmp_path / "m.smg")
    x, y = data()
    np.savez(tmp_path / "d.npz", inputs=x, labels=y)
    out = tmp_path / "build"
    rc = main(["train", str(tmp_path / "m.smg"), "--target", "trainer", "--data", str(tmp_path / "d.npz"),
               "--epochs", "2", "--out", str(out)])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())["training"]
    assert len(rep["history"]) == 2 and rep["cost"]["gpu_dram_bytes"] > rep["cost"]["traffic_bytes"]["dram"]
    assert (out / "loss.png").stat().st_size > 0
    trained = spikemesh.Graph.load(out / "model.smg")
    assert not np.array_equal(trained.projection["x>h1"].ops[0].weight, g.projection["x>h1"].ops[0].weight)
    rc = main(["train", str(tmp_path / "m.smg"), "--data", str(tmp_path / "missing.npz"), "--out", str(out)])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


def test_fp_engine_equals_reference(conv_graph) -> None:  # noqa: ANN001
    x = (np.random.default_rng(3).random((12, 4, 2, 8, 8)) < 0.3).astype(np.float64)
    ref = spikemesh.simulate(conv_graph, x)
    mine = spikemesh.simulate(conv_graph, x, engine="trainer")
    for k, v in ref.spikes.items():
        assert v.any() and np.array_equal(mine.spikes[k], v), k
    np.testing.assert_allclose(mine.output, ref.output, rtol=1e-6)


def test_layout_from_partition_stage() -> None:
    from spikemesh.partition import partition
    from tests.trainer.test_gradients import mlp
    from tests.trainer.test_train import data

    g, _ = mlp(np.random.default_rng(0))
    x, y = data(n=20)
    part = partition(g, "trainer", seed=0, time_limit=5.0)
    res = spikemesh.train(g, (x, y), epochs=1, batch=10)
    assert res.report["layout"].startswith("partition stage")
    assert res.report["last_batch"]["cores"] == part.n_cores
    own = spikemesh.train(g, (x, y), epochs=1, batch=10, layout="own")
    assert own.report["last_batch"]["cores"] == 20  # the cost model's distribution uses every core


def test_noc_link_load_multicast_vs_unicast_by_hand() -> None:
    from spikemesh.trainer.layout import Distribution

    g = one_layer(8, 4)
    net, tr, deltas, x = run(g)
    counts = count_ops(net, tr, deltas)
    t = spikemesh.target("trainer")
    d = Distribution(2, {"o": np.array([0, 0, 1, 1])}, np.array([[0, 0], [1, 0]]))
    spikes = int((x != 0).sum())  # every input spike is needed by both cores
    multi = engine_cost(net, counts, tr, deltas, t, dist=d)
    assert multi["cycles"]["noc"] == pytest.approx(32 * spikes / 64)  # one packet per spike on the host link
    uni = engine_cost(net, counts, tr, deltas, replace(t, features=t.features - {"multicast"}), dist=d)
    assert uni["cycles"]["noc"] == pytest.approx(2 * 32 * spikes / 64)  # one copy per destination core
    assert multi["traffic_bytes"]["noc_fp"] == uni["traffic_bytes"]["noc_fp"] == 2 * 4 * spikes  # delivered
