"""Crossbar energy by core: every array action on the array group (partition core) that performs it, every
neuron update on the core holding the neuron's state; the per-core figures sum to the total."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import spikemesh
from spikemesh.backends.crossbar.engine import energy_pj_unit
from spikemesh.backends.crossbar.peripherals import adc_bits_needed
from spikemesh.backends.crossbar.target import crossbar_config
from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection, Scale
from spikemesh.target.registry import target as get_target
from tests.crossbar.test_engine import dense_graphs

ACTS = ("row_drive", "cell_read", "adc_conversion", "shift_add", "digital_accumulate", "neuron_update")


def _sums_to_total(res: spikemesh.SimResult) -> dict:
    sm = res.summary()
    total = sm["energy_per_inference_uJ"] * sm["batch"] * 1e6
    assert sum(sm["energy_by_core_pJ"]) == pytest.approx(total, rel=1e-12)
    assert sum(sm["energy_by_layer_pJ"].values()) == pytest.approx(total, rel=1e-12)
    by_core = res.stats["actions_by_core"]
    for a in ACTS:
        assert sum(by_core[a]) == pytest.approx(res.stats["actions"][a], rel=1e-12), a
    return sm


def test_hand_computed_two_by_two_groups() -> None:
    """3 inputs x 3 neurons on 2-row arrays with 2 weight columns (4 cells, differential): row tiles [0, 2) and
    [2, 3), column tiles [0, 2) and [2, 3) -> groups 0 (r0 c0), 1 (r0 c1), 2 (r1 c0), 3 (r1 c1); |w| <= 3 on 2-bit
    cells = 1 slice; one row per read. A digital projection (Scale) feeds "o": its 3 neurons get digital cores of
    2 weight columns each, 4 (o0, o1) and 5 (o2)."""
    w = np.array([[1.0, -2.0, 3.0], [2.0, 1.0, -1.0], [-3.0, 1.0, 2.0]])
    g = Graph((Input("in", (3,)),),
              (Population("h", (3,), IF(threshold=100.0)), Population("o", (3,), IF(threshold=100.0))),
              (Projection("a", "in", "h", (Dense(w),)), Projection("b", "h", "o", (Scale(2.0),))),
              (Output("out", "o"),))
    x = np.array([[[1, 1, 0]], [[0, 0, 1]]])  # step 0: rows 0, 1 (row tile 0); step 1: row 2 (row tile 1)
    cfg = {"rows": 2, "cols": 4, "cell_bits": 2, "adc_bits": None, "rows_parallel": 1}
    res = spikemesh.simulate(g, x, engine="crossbar", config=cfg, fidelity=False)
    got = res.stats["actions_by_core"]
    # active rows per row tile: r0 = 2, r1 = 1; columns per column tile: c0 = 2, c1 = 1
    assert got["row_drive"] == [2, 2, 1, 1, 0, 0]  # active rows of the group's row tile x 1 slice
    assert got["cell_read"] == [8, 4, 4, 2, 0, 0]  # x 2 cells per differential column
    assert got["adc_conversion"] == [4, 2, 2, 1, 0, 0]  # one read per active row, one conversion per column
    assert got["shift_add"] == [4, 2, 2, 1, 0, 0]
    assert got["digital_accumulate"] == [4, 2, 2, 1, 0, 0]
    assert got["neuron_update"] == [4, 2, 0, 0, 4, 2]  # 2 steps: h0, h1 on group 0, h2 on group 1, o0 o1 | o2
    ccfg = crossbar_config(get_target("crossbar"), **cfg)
    unit = energy_pj_unit(ccfg, adc_bits_needed(ccfg.rows_parallel * ccfg.levels, True))
    expect = [sum(got[a][c] * unit[a] for a in ACTS) for c in range(6)]
    sm = _sums_to_total(res)
    assert sm["energy_by_core_pJ"] == pytest.approx(expect, rel=1e-12)
    assert "energy_by_core" not in sm["notes"]


def test_compiled_program_cores_and_early_stop() -> None:
    rng = np.random.default_rng(2)
    g = Graph((Input("in", (20,)),), (Population("h", (12,), IF(threshold=4.0)), Population("o", (3,),
                                                                                            IF(threshold=1.0))),
              (Projection("a", "in", "h", (Dense(rng.integers(-7, 8, (12, 20)).astype(float)),)),
               Projection("b", "h", "o", (Dense(rng.integers(-7, 8, (3, 12)).astype(float)),))),
              (Output("out", "o"),))
    prog = spikemesh.compile(g, "crossbar", quantize=False, seed=0)
    x = (rng.random((8, 4, 20)) < 0.4).astype(np.int64)
    res = prog.simulate(x, engine="crossbar", fidelity=False)
    sm = _sums_to_total(res)
    part = prog.partition
    assert len(sm["energy_by_core_pJ"]) == len(part.cores)
    nu = np.zeros(len(part.cores))
    for cores in part.neuron_core.values():
        nu += np.bincount(np.asarray(cores).reshape(-1), minlength=len(part.cores))
    assert res.stats["actions_by_core"]["neuron_update"] == (nu * 8 * 4).tolist()
    arrays = [c.index for c in part.cores if c.use.get("arrays")]
    assert all(res.stats["actions_by_core"]["row_drive"][c] >= 0 for c in arrays)
    assert sum(res.stats["actions_by_core"]["row_drive"][c] for c in arrays) == res.stats["actions"]["row_drive"]
    stop = prog.simulate(x, engine="crossbar", fidelity=False, early_stop={"alpha": 0.5, "threshold": 0.4})
    assert stop.stats["mean_steps"] < 8, "precondition: the early stop cuts some steps"
    _sums_to_total(stop)


@settings(max_examples=15, deadline=None)
@given(dense_graphs())
def test_random_graphs_by_core_sums_to_total(case) -> None:
    g, x, cfg = case
    _sums_to_total(spikemesh.simulate(g, x, engine="crossbar", config=cfg, fidelity=False))
