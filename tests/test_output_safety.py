"""--out safety: which paths a build may replace, crash-safe replacement, stale temporaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spikemesh.cli import main
from spikemesh.errors import OutputError
from spikemesh.fileio import check_output_dir, clean_stale, is_build, replace_dir
from spikemesh.program import Program

GOOD_BUILD = Path(__file__).resolve().parent / "corpus" / "files" / "builds" / "good"
GOOD_MODEL = Path(__file__).resolve().parent / "corpus" / "files" / "smg" / "good.smg"


@pytest.fixture(scope="module")
def program() -> Program:
    return Program.load(GOOD_BUILD)


def test_check_output_dir_rules(tmp_path: Path) -> None:
    check_output_dir(tmp_path / "new")  # absent
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty")
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match=r"user: refusing to replace .*available a directory with 1 entries.*"
                                          r"hint: .*--force"):
        check_output_dir(user)
    check_output_dir(user, force=True)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(OutputError, match="available a file"):
        check_output_dir(tmp_path / "f.txt")
    (user / "program.json").write_text('{"format": "not-ours"}')
    assert not is_build(user)
    (user / "program.json").write_text('{"format": "spikemesh-program"}')
    assert is_build(user)
    check_output_dir(user)


def test_force_never_replaces_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="working directory"):
        check_output_dir(".", force=True)
    with pytest.raises(OutputError, match="working directory"):
        check_output_dir(tmp_path.parent, force=True)


def test_save_replaces_a_build_keeps_user_files_and_force(program: Program, tmp_path: Path) -> None:
    out = tmp_path / "b"
    program.save(out)
    (out / "stale.txt").write_text("from the old build")
    program.save(out)  # an earlier build: replaced as a whole
    assert not (out / "stale.txt").exists() and Program.load(out).graph == program.graph
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(OutputError):
        program.save(user)
    assert (user / "notes.txt").read_text() == "mine"
    program.save(user, force=True)
    assert is_build(user) and not (user / "notes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "user"]  # no temporaries left


def test_save_into_an_unwritable_place_is_a_one_line_error(program: Program) -> None:
    with pytest.raises(OutputError, match="cannot write the build"):
        program.save("/proc/spikemesh-build")


def test_two_rename_fallback_and_recovery(program: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import spikemesh.fileio as fileio

    out = tmp_path / "b"
    program.save(out)
    monkeypatch.setattr(fileio, "_exchange", lambda a, b: False)  # e.g. a filesystem without RENAME_EXCHANGE
    program.save(out)
    assert is_build(out) and sorted(p.name for p in tmp_path.iterdir()) == ["b"]
    # a kill between the two renames leaves the old build aside and nothing at `out`: the next run puts it back
    old = tmp_path / ".b.sm-999999999-abc.old"
    os.replace(out, old)
    clean_stale(out)
    assert is_build(out) and not old.exists()


def test_stale_temporaries_of_dead_runs_are_removed(program: Program, tmp_path: Path) -> None:
    out = tmp_path / "b"
    dead = tmp_path / ".b.sm-999999999-xyz.new"
    dead.mkdir()
    (dead / "weights.npz").write_bytes(b"half")
    (tmp_path / ".b.sm-999999999-xyz.old").mkdir()
    live = tmp_path / f".b.sm-{os.getppid()}-abc.new"  # a running process's temporary is left alone
    live.mkdir()
    (tmp_path / ".b.other").mkdir()  # not ours
    program.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.other", live.name, "b"]


def test_replace_dir_swaps_atomically(tmp_path: Path) -> None:
    old, new = tmp_path / "out", tmp_path / "new"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    replace_dir(new, old)
    assert (old / "a").read_text() == "new" and not new.exists()


KILL_LOOP = """
import sys
from spikemesh.program import Program
p = Program.load(sys.argv[1])
print("ready", flush=True)
while True:
    p.save(sys.argv[2])
"""


def test_kill_at_any_instant_leaves_a_complete_build(program: Program, tmp_path: Path) -> None:
    """A process saving the same build over and over is killed (SIGKILL) at several instants: the path always
    holds a complete build, and the next save removes what the killed one left."""
    out = tmp_path / "b"
    program.save(out)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for delay in (0.05, 0.13, 0.21, 0.34, 0.55):
        proc = subprocess.Popen([sys.executable, "-c", KILL_LOOP, str(GOOD_BUILD), str(out)], env=env,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert Program.load(out).graph == program.graph
    program.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_cli_refuses_out_holding_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = tmp_path / "b"
    assert main(["compile", str(GOOD_MODEL), "-o", str(build), "--placer", "rowmajor", "--routing", "xy",
                 "--time-limit", "1"]) == 0
    model = build / "model.smg"
    model.write_bytes(GOOD_MODEL.read_bytes())
    capsys.readouterr()
    assert main(["compile", str(model), "-o", str(build), "--force"]) == 2
    err = capsys.readouterr().err
    assert "holds an input of this run" in err and model.exists()


def test_cli_force_replaces_a_user_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user = tmp_path / "u"
    user.mkdir()
    (user / "x.txt").write_text("x")
    args = ["compile", str(GOOD_MODEL), "-o", str(user), "--placer", "rowmajor", "--routing", "xy",
            "--time-limit", "1"]
    assert main(args) == 2 and (user / "x.txt").exists()
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0 and is_build(user)
