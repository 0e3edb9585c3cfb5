"""CLI conventions: one-line usage errors with exit 2, help shows defaults and choices, --json, -q,
-o on every writer, the default target named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spikemesh.cli import build_parser, main
from spikemesh.ir import Graph


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spikemesh.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("argv", [["simulate"], ["compile", "m.smg"], ["simulate", "d", "-i", "x", "-e", "nope"],
                                  ["bogus"], ["report", "d", "--nope"]])
def test_usage_errors_are_one_line_exit_2(argv: list[str]) -> None:
    r = run(*argv)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], r.stderr


@pytest.mark.parametrize("argv, hint", [
    (["simulte", "d"], "did you mean simulate?"),
    (["targets", "--enrgy"], "did you mean --energy?"),
    (["compile", "m.smg", "-o", "b", "--tim-limit=3", "--seeed", "2"], "did you mean --time-limit, --seed?"),
    (["simulate", "d", "-i", "x", "-e", "fsat"], "did you mean fast?"),
])
def test_misspelt_command_option_or_choice_gets_a_suggestion(argv: list[str], hint: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and hint in err, err
    assert main(["targets", "--zzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err  # nothing close: no guess


def _subparsers() -> dict[str, object]:
    import argparse

    p = build_parser()
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_help_shows_default_and_choices() -> None:
    for name, sp in _subparsers().items():
        text = sp.format_help()  # type: ignore[attr-defined]
        for action in sp._actions:  # type: ignore[attr-defined]
            if not action.option_strings or action.dest in ("help",):
                continue
            if action.choices:
                for c in action.choices:
                    assert str(c) in text, (name, action.dest, c)
        helps = {a.dest: sp._get_formatter()._get_help_string(a)  # type: ignore[attr-defined]
                 for a in sp._actions if a.option_strings and a.dest not in ("help", "quiet", "verbose")  # type: ignore[attr-defined]
                 and not a.required}
        for dest, h in helps.items():
            assert "default" in h, (name, dest, h)


def test_every_writer_takes_dash_o() -> None:
    for name in ("compile", "simulate", "export", "demo", "train"):
        sp = _subparsers()[name]
        assert any("-o" in a.option_strings and "--out" in a.option_strings for a in sp._actions), name  # type: ignore[attr-defined]


def test_targets_json_and_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"tianjic", "speck"} <= {r["name"] for r in rows}
    assert main(["targets", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_compile_names_default_target_and_json(tmp_path: Path, conv_graph: Graph,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    conv_graph.save(tmp_path / "m.smg")
    assert main(["compile", str(tmp_path / "m.smg"), "-o", str(tmp_path / "b"), "--time-limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "default target tianjic" in out and "report.html" in out
    assert main(["compile", str(tmp_path / "m.smg"), "-o", str(tmp_path / "b"), "-t", "tianjic", "--json",
                 "--time-limit", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["report"]["target"]["name"] == "tianjic" and Path(data["report_html"]).is_file()
