"""NIR import: the NIR paper files, every primitive against independent NumPy/torch computations, nesting,
recurrence, repairs and discretisation."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from spikemesh.errors import GraphError
from spikemesh.frontend import FrontendWarning, load
from spikemesh.frontend.nir.read import RawNode
from spikemesh.ir.reference import run_reference

#: the NIR paper's example graphs (github.com/neuromorphs/NIR, paper/), where the machine keeps them
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nir_paper"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/nir_paper")
PAPER = ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract", "cnn_sinabs", "lif_norse",
         "lif_rockpool", "two_lif_neurons"]
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="NIR paper files not available")
DT = 1e-4


def nir_graph(nodes: dict, edges: list) -> nir.NIRGraph:
    """A NIRGraph without nir's own type check (nir >= 1.0.5 checks on construction): some tests build
    graphs that only spikemesh's repairs accept."""
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    except TypeError:  # nir 1.0.4: no type check on construction
        return nir.NIRGraph(nodes=nodes, edges=edges)


def arr(*v: float) -> np.ndarray:
    return np.array(v, dtype=np.float64)


def chain(*nodes: object, shape: tuple[int, ...], out: tuple[int, ...] | None = None) -> nir.NIRGraph:
    """Input(shape) -> nodes... -> Output (its shape: ``out``, else the last node's output type)."""
    names = ["input", *[f"n{i}" for i in range(len(nodes))], "output"]
    if out is None:
        last = (getattr(nodes[-1], "output_type", None) or {}).get("output")
        out = tuple(np.asarray(last).reshape(-1)) if last is not None else None
    d = {"input": nir.Input(input_type={"input": np.array(shape)}),
         "output": nir.Output(output_type={"output": None if out is None else np.array(out)})}
    d.update({f"n{i}": n for i, n in enumerate(nodes)})
    return nir_graph(d, list(zip(names[:-1], names[1:])))


def readout(g, x: np.ndarray) -> np.ndarray:
    """Value of the graph's single output per step (readout population or spikes)."""
    return run_reference(g, x).output


# ------------------------------------------------------------------------------------------ paper files
@needs_data
@pytest.mark.parametrize("name", PAPER)
def test_paper_files_import_and_run(name: str) -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        g = load(DATA / f"{name}.nir")
    msgs = [str(w.message) for w in rec if issubclass(w.category, FrontendWarning)]
    if name == "lif_rockpool":
        assert any("type_check" in m and "[1, 1, 1]" in m for m in msgs)
    else:
        assert not msgs
    x = (np.random.default_rng(1).random((30, 2, *g.inputs[0].shape)) < 0.5).astype(float)
    res = run_reference(g, x)
    assert res.output.shape[:2] == (30, 2)
    assert g.metadata["nir_import"]["dt"] == DT


@needs_data
def test_cnn_sinabs_structure_and_topological_order() -> None:
    g = load(DATA / "cnn_sinabs.nir")
    # nir.read lists nodes alphabetically ("10" before "2"); execution order follows the edges
    assert list(nir.read(DATA / "cnn_sinabs.nir").nodes)[:3] == ["0", "1", "10"]
    assert g.layers() == ["1", "3", "6", "10", "12"]
    assert [g.population[n].shape for n in g.layers()] == [(16, 16, 16), (16, 16, 16), (8, 8, 8), (256,), (10,)]
    assert g.inputs[0].shape == (2, 34, 34)
    for p in g.populations:  # IF with r = 1: per-step convention, gain 1, threshold 1, strict comparison
        assert p.neuron.kind == "IF" and np.all(p.neuron.gain == 1) and p.neuron.comparison == ">"
        assert g.metadata["nir_import"]["layers"][p.name]["if_convention"].startswith("step")
    assert g.summary()["synapses"] > 0


@needs_data
def test_lif_norse_matches_exact_solution_and_snntorch_trace() -> None:
    exact = np.loadtxt(DATA / "lif_exact.csv", delimiter=",")
    snn = np.loadtxt(DATA / "lif_snntorch.csv", delimiter=",")
    x = exact[:, :1][:, None, :]  # [T, 1, 1]: the input current column
    want = np.nonzero(exact[:, 2])[0]
    g = load(DATA / "lif_norse.nir", discretization="exact")
    assert g.population["1"].neuron.beta == pytest.approx(np.exp(-DT / 2.5e-3))
    got = np.nonzero(run_reference(g, x).spikes["1"][:, 0, 0])[0]
    assert len(got) == len(want) == 4
    assert np.all(np.abs(got - want) <= 1)
    # forward Euler reproduces snnTorch's voltage trace; snnTorch integrates the input with gain 1 instead of
    # dt/tau, so its membrane is ours times tau/dt = 25 (its threshold is scaled the same way)
    ge = load(DATA / "lif_norse.nir")
    assert ge.population["1"].neuron.beta.item() == pytest.approx(1 - DT / 2.5e-3)
    res = run_reference(ge, x, record=["1"])
    v = res.v["1"][:, 0, 0] * 2.5e-3 / DT
    np.testing.assert_allclose(v, snn[:, 1], atol=2e-5)
    assert np.array_equal(res.spikes["1"][:, 0, 0], snn[:, 2] > 0)


@needs_data
def test_braille_recurrence_gets_one_step_delay() -> None:
    g = load(DATA / "braille_noDelay_bias_zero.nir")
    assert g.metadata["nir_import"]["implicit_delays"] == ["lif1.w_rec"]
    rec = g.projection["lif1.w_rec"]
    assert rec.source == rec.target == "lif1.lif" and rec.min_delay == 1
    n = g.population["lif1.lif"].neuron  # tau_syn 2.22e-4, tau_mem 1e-3, r 10, w_in 2.22 at dt 1e-4
    raw = nir.read(DATA / "braille_noDelay_bias_zero.nir").nodes["lif1.lif"]
    np.testing.assert_allclose(n.alpha, 1 - DT / raw.tau_syn)
    np.testing.assert_allclose(n.beta, 1 - DT / raw.tau_mem)
    np.testing.assert_allclose(n.gain, raw.r * DT / raw.tau_mem)
    np.testing.assert_allclose(n.syn_gain, raw.w_in * DT / raw.tau_syn)
    # independent NumPy simulation: the recurrent input at step t is the hidden spikes of step t-1
    nodes = nir.read(DATA / "braille_noDelay_bias_zero.nir").nodes
    x = (np.random.default_rng(3).random((40, 12)) < 0.4).astype(float)
    W1, b1, Wr, br = nodes["fc1"].weight, nodes["fc1"].bias, nodes["lif1.w_rec"].weight, nodes["lif1.w_rec"].bias
    i = np.zeros(38)
    v = np.zeros(38)
    s = np.zeros(38)
    spikes = []
    for t in range(40):
        drive = W1 @ x[t] + b1 + Wr @ s + br
        i = n.alpha * i + n.syn_gain * drive
        v = n.beta * v + n.gain * i
        s = (v > raw.v_threshold).astype(float)
        v = np.where(s > 0, 0.0, v)
        spikes.append(s)
    got = run_reference(g, x[:, None, :]).spikes["lif1.lif"][:, 0]
    assert np.array_equal(got, np.array(spikes, dtype=bool))
    with pytest.raises(GraphError, match="cycle without delay"):
        load(DATA / "braille_noDelay_bias_zero.nir", implicit_delay=False)


# ------------------------------------------------------------------------------------------ primitives
def test_operator_primitives_against_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 1, 2, 9, 9))
    xt = torch.tensor(x[:, 0])
    w2 = rng.normal(size=(3, 2, 3, 3))
    b2 = rng.normal(size=3)
    conv = nir.Conv2d(input_shape=(9, 9), weight=w2, stride=np.array([2, 1]), padding=np.array([1, 0]),
                      dilation=np.array([1, 2]), groups=1, bias=b2)
    want = torch.nn.functional.conv2d(xt, torch.tensor(w2), torch.tensor(b2), stride=(2, 1), padding=(1, 0),
                                      dilation=(1, 2)).numpy()
    np.testing.assert_allclose(readout(load(chain(conv, shape=(2, 9, 9))), x)[:, 0], want, rtol=1e-10)
    for node, ref in [  # output shape from torch
        (nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1])),
         9 * torch.nn.functional.avg_pool2d(xt, 3, 2, 1, count_include_pad=True)),
        (nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
         torch.nn.functional.avg_pool2d(xt, 2, 2)),
        (nir.Flatten(input_type={"input": np.array([2, 9, 9])}, start_dim=0, end_dim=-1), xt.reshape(3, -1)),
        (nir.Scale(scale=np.full((2, 9, 9), 0.5)), 0.5 * xt),
    ]:
        g = load(chain(node, shape=(2, 9, 9), out=tuple(ref.shape[1:])))
        np.testing.assert_allclose(readout(g, x)[:, 0], ref.numpy(), rtol=1e-10)
    x1 = rng.normal(size=(3, 1, 2, 10))
    w1 = rng.normal(size=(4, 2, 3))
    c1 = nir.Conv1d(input_shape=10, weight=w1, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4))
    want1 = torch.nn.functional.conv1d(torch.tensor(x1[:, 0]), torch.tensor(w1), padding=1).numpy()
    np.testing.assert_allclose(readout(load(chain(c1, shape=(2, 10))), x1)[:, 0], want1, rtol=1e-10)
    xa = rng.normal(size=(4, 1, 5))
    W, b = rng.normal(size=(3, 5)), rng.normal(size=3)
    np.testing.assert_allclose(readout(load(chain(nir.Affine(weight=W, bias=b), shape=(5,))), xa)[:, 0],
                               xa[:, 0] @ W.T + b, rtol=1e-12)
    np.testing.assert_allclose(readout(load(chain(nir.Linear(weight=W), shape=(5,))), xa)[:, 0], xa[:, 0] @ W.T,
                               rtol=1e-12)


def test_delay_node_shifts_by_steps() -> None:
    g = load(chain(nir.Delay(delay=np.array([3 * DT, 0.0])), nir.IF(r=arr(1, 1), v_threshold=arr(0.5, 0.5)),
                   shape=(2,)))
    x = np.zeros((8, 1, 2))
    x[1] = 1.0
    s = run_reference(g, x).spikes["n1"][:, 0]
    assert np.nonzero(s[:, 0])[0].tolist() == [4] and np.nonzero(s[:, 1])[0].tolist() == [1]


def test_neuron_primitives_hand_computed() -> None:
    x = np.array([[[1.0]], [[1.0]], [[0.0]], [[1.0]]])  # [T=4, B=1, 1]
    tau, r = 4 * DT, 2.0
    # LIF, Euler: beta = 0.75, gain = r*dt/tau = 0.5, leak = 0.25*v_leak(=0.4) = 0.1, threshold 1.1 (strict)
    g = load(chain(nir.LIF(tau=arr(tau), r=arr(r), v_leak=arr(0.4), v_threshold=arr(1.1)), shape=(1,)))
    res = run_reference(g, x, record=["n0"])
    vv, out, trace = 0.0, [], []
    for t in range(4):  # by hand: v = 0.75 v + 0.5 x + 0.1; fire on v > 1.1, reset to 0
        vv = 0.75 * vv + 0.5 * x[t, 0, 0] + 0.1
        s = vv > 1.1
        out.append(s)
        vv = 0.0 if s else vv
        trace.append(vv)
    np.testing.assert_allclose(res.v["n0"][:, 0, 0], trace)
    assert res.spikes["n0"][:, 0, 0].tolist() == out and any(out)
    # LI and I, IF, Threshold, CubaLIF, CubaLI
    li = run_reference(load(chain(nir.LI(tau=arr(tau), r=arr(r), v_leak=arr(0.0)), shape=(1,))), x).output[:, 0, 0]
    np.testing.assert_allclose(li, [0.5, 0.875, 0.65625, 0.9921875])
    i_ = run_reference(load(chain(nir.I(r=arr(1.0)), shape=(1,))), x).output[:, 0, 0]
    np.testing.assert_allclose(i_, [1, 2, 2, 3])
    th = run_reference(load(chain(nir.Threshold(threshold=arr(0.5)), shape=(1,))), x).output[:, 0, 0]
    assert th.tolist() == [True, True, False, True]
    iff = run_reference(load(chain(nir.IF(r=arr(1.0), v_threshold=arr(1.0)), shape=(1,))), x).output[:, 0, 0]
    assert iff.tolist() == [False, True, False, False]  # v = 1, 2 > 1 fires, 0, 1 (not > 1)
    # CubaLI (nir >= 1.0.5): as a file's node would read, RawNode form
    cuba = RawNode("CubaLI", {"tau_syn": arr(2 * DT), "tau_mem": arr(tau), "r": arr(r), "v_leak": arr(0.0),
                              "w_in": arr(1.0)})
    raw = RawNode("NIRGraph", {}, {"input": RawNode("Input", {"shape": arr(1)}), "n0": cuba,
                                   "output": RawNode("Output", {"shape": arr(1)})}, [("input", "n0"), ("n0", "output")])
    out = run_reference(load(raw), x).output[:, 0, 0]
    ii, vv, want = 0.0, 0.0, []
    for t in range(4):  # alpha = 0.5, syn_gain = 0.5, beta = 0.75, gain = 0.5
        ii = 0.5 * ii + 0.5 * x[t, 0, 0]
        vv = 0.75 * vv + 0.5 * ii
        want.append(vv)
    np.testing.assert_allclose(out, want)
    clif = nir.CubaLIF(tau_syn=arr(2 * DT), tau_mem=arr(tau), r=arr(r), v_leak=arr(0.0), v_threshold=arr(0.3),
                       w_in=arr(1.0))
    sp = run_reference(load(chain(clif, shape=(1,))), x).output[:, 0, 0]
    ii, vv, want = 0.0, 0.0, []
    for t in range(4):
        ii = 0.5 * ii + 0.5 * x[t, 0, 0]
        vv = 0.75 * vv + 0.5 * ii
        want.append(vv > 0.3)
        vv = 0.0 if vv > 0.3 else vv
    assert sp.tolist() == want


def test_exact_versus_euler_discretisation() -> None:
    node = nir.LIF(tau=arr(1e-3), r=arr(1.0), v_leak=arr(0.0), v_threshold=arr(1.0))
    eu = load(chain(node, shape=(1,))).population["n0"].neuron
    ex = load(chain(node, shape=(1,)), discretization="exact").population["n0"].neuron
    assert eu.beta.item() == pytest.approx(0.9) and eu.gain.item() == pytest.approx(0.1)
    assert ex.beta.item() == pytest.approx(np.exp(-0.1)) and ex.gain.item() == pytest.approx(1 - np.exp(-0.1))
    norse = load(chain(node, shape=(1,)), dt=1e-3).population["n0"].neuron
    assert norse.beta.item() == pytest.approx(0.0)


def test_if_conventions_detected() -> None:
    step = load(chain(nir.IF(r=arr(1.0), v_threshold=arr(1.0)), shape=(1,)))
    cont = load(chain(nir.IF(r=arr(1 / DT), v_threshold=arr(1.0)), shape=(1,)))
    for g, tag in ((step, "step"), (cont, "continuous")):
        assert g.population["n0"].neuron.gain.item() == pytest.approx(1.0)
        assert g.metadata["nir_import"]["layers"]["n0"]["if_convention"].startswith(tag)
    with pytest.warns(FrontendWarning, match="neither 1 nor 1/dt"):
        odd = load(chain(nir.IF(r=arr(5.0), v_threshold=arr(1.0)), shape=(1,)))
    assert odd.population["n0"].neuron.gain.item() == pytest.approx(5 * DT)
    forced = load(chain(nir.IF(r=arr(5.0), v_threshold=arr(1.0)), shape=(1,)), if_convention="step")
    assert forced.population["n0"].neuron.gain.item() == 5.0


# ------------------------------------------------------------------------------------------ structure
def test_nested_subgraph_with_recurrence_matches_flat_graph() -> None:
    rng = np.random.default_rng(2)
    W, Wr = rng.normal(size=(4, 3)), rng.normal(size=(4, 4))
    lif = nir.LIF(tau=np.full(4, 2e-3), r=np.full(4, 20.0), v_leak=np.zeros(4), v_threshold=np.ones(4))
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}), "lif": lif,
                              "w_rec": nir.Linear(weight=Wr),
                              "output": nir.Output(output_type={"output": np.array([4])})},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    top = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}), "fc": nir.Linear(weight=W),
                              "rnn": sub, "output": nir.Output(output_type={"output": np.array([4])})},
                       edges=[("input", "fc"), ("fc", "rnn"), ("rnn", "output")])
    g = load(top)
    assert [p.name for p in g.populations] == ["rnn.lif"]
    assert g.projection["rnn.w_rec"].min_delay == 1
    x = (rng.random((25, 1, 3)) < 0.5).astype(float)
    got = run_reference(g, x).spikes["rnn.lif"][:, 0]
    v, s, want = np.zeros(4), np.zeros(4), []
    for t in range(25):  # beta = 0.95, gain = 20 * 0.05 = 1
        v = 0.95 * v + (W @ x[t, 0] + Wr @ s)
        s = (v > 1).astype(float)
        v = np.where(s > 0, 0, v)
        want.append(s > 0)
    assert np.array_equal(got, np.array(want))


def test_fan_in_sums_and_delay_breaks_cycle() -> None:
    a = nir.IF(r=np.ones(2), v_threshold=np.ones(2))
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}), "p": nir.Linear(weight=np.eye(2)),
             "q": nir.Linear(weight=2 * np.eye(2)), "a": a, "d": nir.Delay(delay=np.full(2, 2 * DT)),
             "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("input", "p"), ("input", "q"), ("p", "a"), ("q", "a"), ("a", "d"), ("d", "a"), ("a", "output")]
    g = load(nir_graph(nodes, edges))
    assert g.metadata["nir_import"]["implicit_delays"] == []  # the explicit Delay already breaks the cycle
    assert sorted(p.name for p in g.incoming("a")) == ["d", "p", "q"]
    x = np.zeros((6, 1, 2))
    x[0, 0, 0] = 0.4  # 0.4 + 0.8 = 1.2 > 1: spike at 0; the delayed spike arrives at step 2 (v = 1, no spike)
    s = run_reference(g, x).spikes["a"][:, 0, 0]
    assert s.tolist() == [True, False, False, False, False, False]


def test_repairs_batch_axis_zero_d_and_torch_tensors() -> None:
    W = np.arange(6.0).reshape(2, 3) / 10
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 3])}),
             "fc": nir.Affine(weight=torch.tensor(W), bias=torch.zeros(2)),
             "lif": nir.LIF(tau=np.array(1e-3), r=np.array(10.0), v_leak=np.array(0.0), v_threshold=np.array(5.0)),
             "output": nir.Output(output_type={"output": np.array([2])})}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        g = load(nir_graph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    msgs = " | ".join(str(w.message) for w in rec if issubclass(w.category, FrontendWarning))
    assert "batch axis" in msgs and "0-d" in msgs and "torch tensors" in msgs
    assert g.inputs[0].shape == (3,) and g.population["lif"].shape == (2,)
    assert g.population["lif"].neuron.beta.shape == (2,)
    x = np.ones((3, 1, 3))
    v = run_reference(g, x, record=["lif"]).v["lif"][:, 0]
    np.testing.assert_allclose(v[0], W @ np.ones(3))  # gain = 10 * 0.1 = 1
