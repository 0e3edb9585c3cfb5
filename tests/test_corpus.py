"""The bad-input corpus (tests/corpus/, written by tests/corpus/make_corpus.py): every case, run through the CLI,
exits with status 2, prints exactly one line on stderr (no traceback), and leaves every file as it was (no
partial output, no user file replaced). Cases that are too big must be refused quickly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikemesh.cli import main

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = json.loads((CORPUS / "cases.json").read_text())


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns) if p.is_file() else (-1, 0)
    return out


@pytest.fixture(scope="module")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus files copied once (cases must not change them; each test checks its own copy is unchanged)."""
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS / "files", root / "files")
    return root / "files"


def argv_of(case: dict, corpus: Path, scratch: Path) -> list[str]:
    return [a.replace("{C}", str(corpus)).replace("{T}", str(scratch)) for a in case["argv"]]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus_case_is_a_one_line_error(case: dict, corpus_copy: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from spikemesh.frontend.nir import read

    monkeypatch.setattr(read, "READ_TIMEOUT", 3.0)  # nir-heap_loop: the HDF5 library loops until stopped
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    before, before_scratch = snapshot(corpus_copy), snapshot(scratch)
    t0 = time.perf_counter()
    code = main(argv_of(case, corpus_copy, scratch))
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("spikemesh") and ": error: " in lines[0], err
    assert "Traceback" not in err and ".sm-" not in err  # never a temporary's path
    assert snapshot(corpus_copy) == before, "a corpus file was changed"
    assert snapshot(scratch) == before_scratch, "partial output left behind"
    assert elapsed < (2.0 if case["issue"] == "2" and case["kind"] != "nir" else 30.0), f"took {elapsed:.1f} s"


def test_corpus_names_the_user_file(corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Errors about a file name the path the user gave."""
    for name in ("smg-dt_text", "toml-neurons_lots", "nir-weight_text", "input-strings", "build-report_list"):
        case = next(c for c in CASES if c["name"] == name)
        argv = argv_of(case, corpus_copy, tmp_path)
        assert main(argv) == 2
        err = capsys.readouterr().err
        given = [a for a in argv if str(corpus_copy) in a and "good" not in a]
        assert any(g in err for g in given), err


@pytest.mark.parametrize("kind", sorted({c["kind"] for c in CASES}))
def test_corpus_in_a_real_process(kind: str, tmp_path: Path) -> None:
    """One case per kind as a user runs it: a separate process, nothing but one line on stderr."""
    case = next(c for c in CASES if c["kind"] == kind)
    corpus = tmp_path / "files"
    shutil.copytree(CORPUS / "files", corpus)
    env = {**os.environ, "PYTHONPATH": str(CORPUS.parent.parent)}  # this checkout's spikemesh
    r = subprocess.run([sys.executable, "-m", "spikemesh.cli", *argv_of(case, corpus, tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
