"""Crossbar tiles as partition cores: compile for a crossbar target runs partition (one core per array group),
place, route (deadlock certificate) and emits the crossbar configuration; the engine runs the compiled Program."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.errors import SimulationError
from spikemesh.ir import IF, LIF, Conv2d, Dense, Flatten, Graph, Input, Integrator, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.target.model import Target

IDEAL = {"adc_bits": None}


def small_arrays(rows: int = 16, cols: int = 8) -> Target:
    """The crossbar preset with rows x cols arrays (weight_cols = cols / 2 differential pairs)."""
    t = spikemesh.target("crossbar")
    return replace(t, extra={"crossbar": {**t.extra["crossbar"], "rows": rows, "cols": cols}})


def two_path_graph() -> Graph:
    """in [2,6,6] -> grouped conv (2 groups of 1->4, k3, p1) -> A [8,6,6]; A -> Dense 288->10 -> B; in -> Dense
    72->10 -> B (a second projection into B); B -> Dense 10->3 -> out (Integrator)."""
    rng = np.random.default_rng(3)
    return Graph(
        inputs=(Input("in", (2, 6, 6)),),
        populations=(Population("A", (8, 6, 6), LIF(0.75, threshold=6, weight_bits=8, state_bits=16)),
                     Population("B", (10,), IF(threshold=20, weight_bits=8, state_bits=16)),
                     Population("out", (3,), Integrator(weight_bits=8, state_bits=16))),
        projections=(
            Projection("in->A", "in", "A", (Conv2d(rng.integers(-2, 6, (8, 1, 3, 3)), padding=1, groups=2),)),
            Projection("A->B", "A", "B", (Flatten(), Dense(rng.integers(-5, 8, (10, 288))))),
            Projection("in->B", "in", "B", (Flatten(), Dense(rng.integers(-5, 8, (10, 72))))),
            Projection("B->out", "B", "out", (Dense(rng.integers(-9, 10, (3, 10))),)),
        ),
        outputs=(Output("o", "out"),),
    )


@pytest.fixture(scope="module")
def compiled() -> spikemesh.Program:
    return spikemesh.compile(two_path_graph(), small_arrays(), placer="zigzag", time_limit=2.0)


def test_one_core_per_array_group(compiled: spikemesh.Program) -> None:
    part, pl = compiled.partition, compiled.placement
    # hand count, 16-row arrays with 4 weight columns: conv 2 groups x 1 x 1; A->B ceil(288/16)=18 x ceil(10/4)=3;
    # in->B ceil(72/16)=5 x 3; B->out 1 x 1
    assert part.strategy == "crossbar_tiles"
    assert part.n_cores == 2 + 54 + 15 + 1
    assert len(compiled.config.tiles) == part.n_cores
    assert pl.coords.shape == (72, 4) and len({tuple(c) for c in pl.coords}) == 72  # one router slot per core
    for c in part.cores:
        assert c.use["axons"] <= 16 and c.use["neurons"] <= 4
    # cores are numbered in projection order, row tile major: A->B (row tile r, col tile c) is core 2 + 3r + c
    assert part.neuron_core["B"].tolist() == [2, 2, 2, 2, 3, 3, 3, 3, 4, 4]
    assert part.neuron_core["A"].reshape(8, 36)[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    a_b = {(t.row_tile, t.col_tile): t.core for t in compiled.config.tiles if t.projection == "A->B"}
    assert part.cores[a_b[(5, 1)]].role == "partial_sum" and part.cores[a_b[(5, 1)]].merge_into == 3
    in_b = [t for t in compiled.config.tiles if t.projection == "in->B"]
    assert all(part.cores[t.core].role == "partial_sum" for t in in_b)  # second projection into B sums into A->B's
    assert part.cores[a_b[(0, 2)]].role == "neurons"


def test_traffic_hand_counts(compiled: spikemesh.Program) -> None:
    tr = {(int(s), int(d)): w for s, d, w in compiled.partition.traffic}
    a_b = {(t.row_tile, t.col_tile): t.core for t in compiled.config.tiles if t.projection == "A->B"}
    # partial sums: one copy per covered neuron per step (col tile 2 covers neurons 8, 9)
    assert tr[(a_b[(5, 1)], 3)] == 4 and tr[(a_b[(7, 2)], 4)] == 2
    # rows 32..47 of flattened A are channels 0 (32..35) and 1 (36..47), both held by core 0; rate 1 each
    assert tr[(0, a_b[(2, 0)])] == 16
    # conv group 1 reads input channel 1: 36 input neurons, entering as graph input 0 (source -1)
    assert tr[(-1, 1)] == 36 and tr[(-1, 0)] == 36


def test_routing_certified_and_config_emitted(compiled: spikemesh.Program, tmp_path: Path) -> None:
    assert compiled.certificate is not None and compiled.certificate.report["deadlock_free"] is True
    assert compiled.report["routing"]["deadlock_free"] is True
    assert set(compiled.report["time"]) >= {"lower", "partition", "place", "route", "crossbar"}
    out = compiled.save(tmp_path / "p")
    import json

    cfg = json.loads((out / "crossbar_config.json").read_text())
    assert len(cfg["tiles"]) == 72 and cfg["crossbar"]["rows"] == 16
    coords = {tuple(t["coords"]) for t in cfg["tiles"]}
    assert len(coords) == 72


def test_compiled_program_equals_reference(compiled: spikemesh.Program, tmp_path: Path) -> None:
    x = (np.random.default_rng(5).random((6, 3, 2, 6, 6)) < 0.4).astype(np.int64)
    ref = run_reference(compiled.graph, x, mode="int")
    assert ref.spikes["B"].any() and ref.spikes["A"].any()
    res = compiled.simulate(x, engine="crossbar", config=IDEAL)
    assert res.stats["compiled"] and res.stats["cores"] == 72
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], res.spikes[k]), k
    assert np.array_equal(ref.output, res.output)
    loaded = spikemesh.Program.load(compiled.save(tmp_path / "q"))
    again = loaded.simulate(x, engine="crossbar", config=IDEAL)
    assert np.array_equal(again.output, ref.output)


def test_compiled_levels_must_match(compiled: spikemesh.Program) -> None:
    x = np.zeros((2, 1, 2, 6, 6), dtype=np.int64)
    with pytest.raises(SimulationError, match="fix the compiled tiling"):
        compiled.simulate(x, engine="crossbar", config={"rows": 32})
    cp = compiled.config
    key = ("B->out", 0)
    bad = dict(cp.levels)
    lv = bad[key].copy()
    lv[0, 0, 0, 0] ^= 1
    bad[key] = lv
    tampered = compiled.with_section("config", replace(cp, levels=bad))
    with pytest.raises(SimulationError, match="do not encode"):
        tampered.simulate(x, engine="crossbar", config=IDEAL)


def test_digital_only_population_gets_cores(conv_graph: Graph) -> None:
    from spikemesh.backends.crossbar.tiles import crossbar_partition

    g, _ = spikemesh.quantize(conv_graph)
    part = crossbar_partition(g, small_arrays())
    # conv: 18 rows -> 2 row tiles x 1 col tile (4 cols); c: 64 rows -> 4 x 1; p (64 neurons, SumPool+Flatten
    # only) -> 16 digital cores of 4 neurons, numbered after the 6 tiles
    assert part.report["tiles"] == 2 + 4 and part.report["digital_cores"] == 16
    assert part.neuron_core["p"].tolist() == [6 + i // 4 for i in range(64)]
    assert part.cores[1].role == "partial_sum" and part.cores[1].merge_into == 0


def test_cli_compile_crossbar(tmp_path: Path) -> None:
    from spikemesh.cli import main
    from spikemesh.data.demo import demo_paths, load_demo

    build = tmp_path / "b"
    assert main(["compile", str(demo_paths()[0]), "--target", "crossbar", "--out", str(build),
                 "--placer", "zigzag"]) == 0
    prog = spikemesh.Program.load(build)
    assert prog.partition.n_cores == 3 and prog.certificate.report["deadlock_free"]
    g, x, _ = load_demo()
    res = prog.simulate(x[:, :8], engine="crossbar", config=IDEAL)
    assert np.array_equal(res.output, run_reference(g, x[:, :8]).output)
