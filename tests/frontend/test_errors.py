"""Bad input: one-line SpikemeshErrors naming the node; the CLI exits 2 without a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from spikemesh.cli import main as cli_main
from spikemesh.errors import FileFormatError, FrontendError, GraphError, SpikemeshError
from spikemesh.frontend import load

from .test_nir_import import DATA, needs_data, nir_graph

ROOT = Path(__file__).resolve().parents[2]


def _cli(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spikemesh.cli", "info", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir_graph(nodes, edges)


def _lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 1e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def _write(tmp: Path, name: str, g: nir.NIRGraph) -> Path:
    p = tmp / name
    nir.write(p, g)
    return p


def _cases(tmp: Path) -> list[tuple[str, Path, type, str]]:
    """(case, file, error class, text the message must contain)."""
    src = DATA / "lif_norse.nir"
    raw = src.read_bytes()
    trunc = tmp / "truncated.nir"
    trunc.write_bytes(raw[: len(raw) // 2])
    corrupt = tmp / "corrupt.nir"
    corrupt.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    unknown = tmp / "unknown.nir"
    shutil.copy(src, unknown)
    unknown.chmod(0o644)
    with h5py.File(unknown, "r+") as f:
        del f["node/nodes/1/type"]
        f["node/nodes/1/type"] = b"Hodgkin"
    inp = {"input": nir.Input(input_type={"input": np.array([5])})}
    out = {"output": nir.Output(output_type={"output": np.array([3])})}
    mismatch = _write(tmp, "mismatch.nir", _graph({**inp, "fc": nir.Linear(weight=np.ones((3, 4))), "lif": _lif(3),
                                                   **out}, [("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    w = np.ones((3, 5))
    w[1, 2] = np.nan
    nan = _write(tmp, "nan.nir", _graph({**inp, "fc": nir.Linear(weight=w), "lif": _lif(3), **out},
                                        [("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    inf_tau = _lif(3)
    inf_tau.tau[0] = np.inf
    inf = _write(tmp, "inf.nir", _graph({**inp, "fc": nir.Linear(weight=np.ones((3, 5))), "lif": inf_tau, **out},
                                        [("input", "fc"), ("fc", "lif"), ("lif", "output")]))
    cyc = _write(tmp, "cycle.nir", _graph({**inp, "a": nir.Linear(weight=np.ones((3, 5))),
                                           "b": nir.Linear(weight=np.eye(3)), "c": nir.Linear(weight=np.eye(3)),
                                           "lif": _lif(3), **out},
                                          [("input", "a"), ("a", "b"), ("b", "c"), ("c", "b"), ("b", "lif"),
                                           ("lif", "output")]))
    return [("truncated", trunc, FileFormatError, "truncated or corrupt"),
            ("corrupt", corrupt, FileFormatError, "truncated or corrupt"),
            ("unknown type", unknown, FrontendError, "1: unknown NIR node type 'Hodgkin'"),
            ("shape mismatch", mismatch, FrontendError, "fc: edge input -> fc: shape mismatch"),
            ("nan weight", nan, FrontendError, "fc: NIR Linear parameter weight holds NaN or inf"),
            ("inf parameter", inf, FrontendError, "lif: NIR LIF parameter tau holds NaN or inf"),
            ("cycle of operators", cyc, FrontendError, "cycle without delay through operators only")]


@needs_data
def test_bad_files_raise_one_line_errors_and_cli_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cases = _cases(tmp_path)
    for case, path, cls, text in cases:
        with pytest.raises(cls) as ei:
            load(path)
        msg = str(ei.value)
        assert text in msg and "\n" not in msg, case
        code = cli_main(["info", str(path)])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and text in err, (case, err)
    for case, path, _cls, text in cases[:3]:  # and as a process: exit status 2, one line, no traceback
        r = _cli(path)
        assert r.returncode == 2, (case, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (case, r.stderr)
        assert text in r.stderr, case


def test_cycle_without_delay_when_implicit_delay_is_off() -> None:
    lif = _lif(2)
    g = _graph({"input": nir.Input(input_type={"input": np.array([2])}), "lif": lif,
                "rec": nir.Linear(weight=np.eye(2)), "output": nir.Output(output_type={"output": np.array([2])})},
               [("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    with pytest.raises(GraphError, match=r"lif: cycle without delay: lif -> lif"):
        load(g, implicit_delay=False)
    assert load(g).projection["rec"].min_delay == 1


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="not found"):
        load(tmp_path / "nope.nir")
    with pytest.raises(SpikemeshError, match="discretization"):
        load(tmp_path / "nope.nir", discretization="rk4")
    with pytest.raises(SpikemeshError, match="dt must be"):
        load(tmp_path / "nope.nir", dt=0)
