"""The README's Python example runs as written (keeps the README true)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    ns: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)  # noqa: S102 - the example is ours
    result = ns["result"]
    assert result.spikes["hidden"].shape == (100, 4, 64)  # type: ignore[attr-defined]
    assert (tmp_path / "build" / "model" / "report.json").is_file()
