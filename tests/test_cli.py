"""CLI: one-line errors with exit status 2; targets, info, compile, simulate and report on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikemesh.cli import main
from spikemesh.ir import Graph


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point as a user runs it (a separate process: no traceback may leak)."""
    return subprocess.run([sys.executable, "-m", "spikemesh.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt", "directory"])
def test_info_bad_file_one_line_exit_2(tmp_path: Path, conv_graph: Graph, kind: str) -> None:
    f = tmp_path / "m.smg"
    if kind == "empty":
        f.write_bytes(b"")
    elif kind == "corrupt":
        conv_graph.save(f)
        f.write_bytes(f.read_bytes()[:300])
    elif kind == "directory":
        f.mkdir()
    r = run("info", str(f))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and str(f) in lines[0]


def test_targets_lists_presets_with_resources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "tianjic" in out and "loihi" in out and "speck" in out and "156" in out and "39,936" in out


def test_info_prints_layers(tmp_path: Path, conv_graph: Graph, capsys: pytest.CaptureFixture[str]) -> None:
    conv_graph.save(tmp_path / "m.smg")
    assert main(["info", str(tmp_path / "m.smg")]) == 0
    out = capsys.readouterr().out
    assert "3,872" in out and "c1" in out and "Integrator" in out


def test_compile_simulate_report(tmp_path: Path, conv_graph: Graph, capsys: pytest.CaptureFixture[str]) -> None:
    model, build = tmp_path / "m.smg", tmp_path / "build"
    conv_graph.save(model)
    x = (np.random.default_rng(0).random((5, 1, 2, 8, 8)) < 0.5).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    assert main(["compile", str(model), "--target", "tianjic", "--out", str(build)]) == 0
    assert main(["simulate", str(build), "--input", str(tmp_path / "x.npy"), "--steps", "8",
                 "--out", str(tmp_path / "r.npz")]) == 0
    report = json.loads((build / "report.json").read_text())
    assert report["simulation"]["steps"] == 8
    with np.load(tmp_path / "r.npz") as z:
        assert z["spikes/c1"].shape == (8, 1, 4, 8, 8)
        assert report["simulation"]["spikes"]["c1"] == int(z["spikes/c1"].sum())
    capsys.readouterr()
    assert main(["report", str(build), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["neurons"] == 323
    # a build given where a model file belongs (its directory or its program.json): said as such, nothing written
    for wrong in (build, build / "program.json"):
        assert main(["compile", str(wrong), "--out", str(tmp_path / "again")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "this is a build directory, not a model file" in err, err
        assert not (tmp_path / "again").exists()


def test_compile_unknown_target_exit_2(tmp_path: Path, conv_graph: Graph) -> None:
    conv_graph.save(tmp_path / "m.smg")
    r = run("compile", str(tmp_path / "m.smg"), "--target", "nochip", "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nochip" in r.stderr
    assert not (tmp_path / "b").exists()


def test_simulate_wrong_input_shape_exit_2(tmp_path: Path, conv_graph: Graph) -> None:
    conv_graph.save(tmp_path / "m.smg")
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 3, 8, 8)))
    r = run("simulate", str(tmp_path / "m.smg"), "--input", str(tmp_path / "x.npy"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _numba_style_interrupt(args: object) -> None:
    """What a Ctrl-C during a Numba kernel's call raises: a SystemError with the KeyboardInterrupt as its context
    ("CPUDispatcher(...) returned a result with an exception set")."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise SystemError("CPUDispatcher(<function _search>) returned a result with an exception set")  # noqa: B904


def test_ctrl_c_that_comes_back_wrapped_is_still_interrupted_not_a_bug(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from spikemesh.cli import app

    monkeypatch.setattr(app, "cmd_targets", _numba_style_interrupt)
    assert app.main(["targets"]) == 130
    assert capsys.readouterr().err.strip() == "spikemesh: interrupted"

    def bug(args: object) -> None:
        raise SystemError("a real internal error")

    monkeypatch.setattr(app, "cmd_targets", bug)
    assert app.main(["targets"]) == 1
    assert "internal error: SystemError: a real internal error" in capsys.readouterr().err
