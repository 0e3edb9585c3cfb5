"""A compiled and simulated digits build shared by the report tests (module scope keeps the suite fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import spikemesh
from spikemesh.data.digits import load_digits_demo


@pytest.fixture(scope="package")
def digits() -> tuple[Any, Any, Any]:
    return load_digits_demo(12)


@pytest.fixture(scope="package")
def mesh_program(digits: tuple[Any, Any, Any]) -> Any:
    graph, _, _ = digits
    return spikemesh.compile(graph, "tianjic", seed=0, time_limit=1.0, placer="anneal")


@pytest.fixture(scope="package")
def cycle_result(mesh_program: Any, digits: tuple[Any, Any, Any]) -> Any:
    _, x, _ = digits
    return spikemesh.simulate(mesh_program, x, engine="cycle", record=["conv2", "fc"])


@pytest.fixture
def build(tmp_path: Path, mesh_program: Any) -> Path:
    return mesh_program.save(tmp_path / "build")
