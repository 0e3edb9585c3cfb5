"""A Speck build keeps the float model it was quantized from; the async engine and ``spikemesh simulate`` report
the fidelity against that model's reference run too (``summary()["fidelity"]["float_model"]``)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import spikemesh
from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference


def _float_model() -> Graph:
    rng = np.random.default_rng(0)
    w = rng.uniform(0.02, 0.2, (4, 6)).round(4)
    w[0, 0] = 1.0  # sinabs' int8 scale is 127 / max|w|: the small weights round by up to 0.5 / 2.5 = 20 %
    return Graph((Input("in", (6,)),), (Population("n", (4,), IF(threshold=1.0)),),
                 (Projection("p", "in", "n", (Dense(w),)),), (Output("o", "n"),))


def _inputs(T: int = 60, B: int = 3) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.zeros((T, B, 6), dtype=np.int64)
    on = rng.random((T, B)) < 0.8
    x[np.nonzero(on)[0], np.nonzero(on)[1], rng.integers(0, 6, int(on.sum()))] = 1  # <= 1 event per step
    return x


def test_async_reports_fidelity_vs_the_float_model() -> None:
    g = _float_model()
    prog = spikemesh.compile(g, "speck")
    assert prog.float_graph is g and prog.graph is not g
    x = _inputs()
    q_ref, f_ref = run_reference(prog.graph, x), run_reference(g, x, mode="float")
    diff = q_ref.spikes["n"] != f_ref.spikes["n"]
    assert diff.any(), "precondition: quantization changes some spikes"
    res = prog.simulate(x, engine="async")
    # one event per step at most: the chip's spikes equal the quantized graph's reference run
    assert np.array_equal(res.spikes["n"].astype(bool), q_ref.spikes["n"])
    fid = res.summary()["fidelity"]
    assert fid["reference"] == "reference" and fid["layers"]["n"]["exact"]
    ff = fid["float_model"]
    assert ff["reference"] == "float_model"
    assert ff["layers"]["n"]["differing_fraction"] == diff.sum() / diff.size
    assert ff["layers"]["n"]["reference_spikes"] == int(f_ref.spikes["n"].sum())
    assert not ff["layers"]["n"]["exact"]
    cls_q = q_ref.spikes["n"].sum(0).argmax(1)
    cls_f = f_ref.spikes["n"].sum(0).argmax(1)
    assert ff["output_class_agreement"] == float(np.mean(cls_q == cls_f))


def test_integer_model_keeps_no_float_copy_and_a_build_round_trips(tmp_path) -> None:
    ints = Graph((Input("in", (1,)),), (Population("n", (1,), IF(threshold=3)),),
                 (Projection("p", "in", "n", (Dense([[2.0]]),)),), (Output("o", "n"),))
    p_int = spikemesh.compile(ints, "speck")
    assert p_int.float_graph is None  # already integer: nothing was quantized
    x = np.ones((4, 1, 1), dtype=np.int64)
    assert "float_model" not in p_int.simulate(x, engine="async").summary()["fidelity"]
    prog = spikemesh.compile(_float_model(), "speck")
    d = prog.save(tmp_path / "b")
    back = spikemesh.Program.load(d)
    assert back.float_graph is not None
    np.testing.assert_array_equal(back.float_graph.projections[0].ops[0].weight,
                                  prog.float_graph.projections[0].ops[0].weight)
    assert "float_graph" in json.loads((d / "program.json").read_text())
    d2 = p_int.save(tmp_path / "i")
    assert "float_graph" not in json.loads((d2 / "program.json").read_text())


def test_cli_simulate_writes_the_float_model_fidelity(tmp_path) -> None:
    prog = spikemesh.compile(_float_model(), "speck")
    d = prog.save(tmp_path / "b")
    x = _inputs(T=30, B=2)
    np.save(tmp_path / "x.npy", x)
    out = subprocess.run([sys.executable, "-m", "spikemesh.cli", "simulate", str(d), "--input",
                          str(tmp_path / "x.npy"), "--engine", "async", "--quiet"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    sim = json.loads((d / "report.json").read_text())["simulation"]
    f_ref = run_reference(prog.float_graph, x, mode="float")
    res = prog.simulate(x, engine="async", fidelity=False)
    expect = float(np.mean(res.spikes["n"].astype(np.int64) != f_ref.spikes["n"]))
    assert sim["summary"]["fidelity"]["float_model"]["layers"]["n"]["differing_fraction"] == expect
    html = (d / "report.html").read_text()
    assert "vs float model" in html and f"{expect:.4f}" in html
