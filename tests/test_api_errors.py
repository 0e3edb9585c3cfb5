"""Python API misuse: each raises a SpikemeshError subclass with a one-line message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import spikemesh
from spikemesh.errors import SpikemeshError
from spikemesh.ir import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import IF, LIF, Neuron
from spikemesh.ir.operators import Dense
from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

MODEL = Path(__file__).resolve().parent / "corpus" / "files" / "smg" / "good.smg"


def small() -> Graph:
    return Graph([Input("x", (4,))], [Population("h", (3,), IF())],
                 [Projection("w", "x", "h", (Dense(np.ones((3, 4))),))], [Output("y", "h")])


CASES: dict[str, Any] = {
    "compile(42)": lambda: spikemesh.compile(42),
    "compile(None)": lambda: spikemesh.compile(None),
    "compile(seed='abc')": lambda: spikemesh.compile(small(), "tianjic", seed="abc"),
    "compile(seed=2**70)": lambda: spikemesh.compile(small(), "tianjic", seed=2**70),
    "compile(time_limit=nan)": lambda: spikemesh.compile(small(), "tianjic", time_limit=float("nan")),
    "compile(time_limit=0)": lambda: spikemesh.compile(small(), "tianjic", time_limit=0),
    "compile(target=3)": lambda: spikemesh.compile(small(), 3),
    "compile(strategy='best')": lambda: spikemesh.compile(small(), "tianjic", strategy="best"),
    "simulate(path string)": lambda: spikemesh.simulate(str(MODEL), np.zeros((2, 1, 4))),
    "simulate(ragged list)": lambda: spikemesh.simulate(small(), [[[1, 0, 0, 1]], [[1, 0]]]),
    "simulate(complex)": lambda: spikemesh.simulate(small(), np.ones((2, 1, 4)) * 1j),
    "simulate(text)": lambda: spikemesh.simulate(small(), "inputs.npy"),
    "simulate(zero steps)": lambda: spikemesh.simulate(small(), np.zeros((0, 1, 4))),
    "simulate(zero batch)": lambda: spikemesh.simulate(small(), np.zeros((3, 0, 4))),
    "simulate(2**62)": lambda: spikemesh.simulate(small(), np.full((2, 1, 4), 2**62, dtype=np.int64)),
    "simulate(engine=3)": lambda: spikemesh.simulate(small(), np.zeros((2, 1, 4)), engine=3),
    "simulate(record=[ghost])": lambda: spikemesh.simulate(small(), np.zeros((2, 1, 4)), record=["ghost"]),
    "simulate(10**9 steps)": lambda: spikemesh.simulate(small(), np.broadcast_to(np.zeros(4), (10**9, 10**4, 4))),
    "save under /proc": lambda: spikemesh.compile(small(), "tianjic", placer="rowmajor", routing="xy",
                                                  time_limit=1).save("/proc/spikemesh-build"),
    "Program.load(42)": lambda: spikemesh.Program.load(42),
    "load_model(None)": lambda: spikemesh.load_model(None),
    "target('tianjic:1000x1000')": lambda: spikemesh.target("tianjic:1000x1000"),
    "Graph(dt=0)": lambda: Graph([Input("x", (4,))], [], [], [], dt=0),
    "Graph(dt=nan)": lambda: Graph([Input("x", (4,))], [], [], [], dt=float("nan")),
    "Input(shape='big')": lambda: Input("x", "big"),
    "Input(shape=huge)": lambda: Input("x", (10**6, 10**6)),
    "LIF(beta=1.5)": lambda: LIF(1.5),
    "LIF(beta=-0.1)": lambda: LIF(-0.1),
    "IF(threshold=0)": lambda: IF(0.0),
    "IF(threshold=-1)": lambda: IF(-1.0),
    "Neuron(kind='Zombie')": lambda: Neuron("Zombie"),
    "Neuron(threshold='high')": lambda: Neuron("IF", threshold="high"),
    "Dense(weight='w')": lambda: Dense("w"),
    "Dense(weight=complex)": lambda: Dense(np.ones((2, 2)) * 1j),
    "Target(family='quantum')": lambda: Target("t", family="quantum"),
    "Target(clock_hz=-1)": lambda: Target("t", clock_hz=-1.0),
    "NocSpec(hop_cycles=-1)": lambda: NocSpec(hop_cycles=-1),
    "NocSpec(buffer_flits=0)": lambda: NocSpec(buffer_flits=0),
    "EnergyTable(synop_pj=nan)": lambda: EnergyTable(synop_pj=float("nan")),
    "CoreSpec(neurons='lots')": lambda: CoreSpec("lots", 1, 1),
    "Target(features='LIF')": lambda: Target("t", features="LIF"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_api_misuse_is_a_one_line_spikemesh_error(name: str) -> None:
    with pytest.raises(SpikemeshError) as e:
        CASES[name]()
    msg = str(e.value)
    assert msg and "\n" not in msg and "needed None" not in msg


def test_features_string_is_not_read_letter_by_letter() -> None:
    with pytest.raises(SpikemeshError, match="features must be a list") as e:
        Target("t", features="LIF")
    assert "'F'" not in str(e.value)


def test_duplicate_population_names_are_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(SpikemeshError, match="duplicate name"):
        Graph([Input("x", (4,))], [Population("h", (3,), IF()), Population("h", (3,), LIF(0.5))], [], [])


def test_misspelt_engine_gets_a_suggestion() -> None:
    with pytest.raises(SpikemeshError, match=r"unknown engine 'fsat'.*did you mean engine='fast'\?"):
        spikemesh.simulate(small(), np.zeros((2, 1, 4)), engine="fsat")
    with pytest.raises(SpikemeshError, match=r"unknown engine 'zzz'.*use engine='reference'"):
        spikemesh.simulate(small(), np.zeros((2, 1, 4)), engine="zzz")
