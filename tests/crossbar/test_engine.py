"""crossbar engine vs the reference executor (non-idealities off), action counts from reference rasters, early stop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.backends.crossbar.engine import early_stop_steps
from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection, SumPool2d
from spikemesh.ir.reference import run_reference

IDEAL = {"adc_bits": None}


def _same(g: Graph, x: np.ndarray, **kw: object) -> None:
    ref = run_reference(g, x, mode="int")
    res = spikemesh.simulate(g, x, engine="crossbar", **kw)
    for k in ref.spikes:
        assert np.array_equal(ref.spikes[k], res.spikes[k]), k
    for k in ref.v:
        assert np.array_equal(ref.v[k], res.v[k]), k


def test_conv_graph_fixture(conv_graph: Graph) -> None:
    x = (np.random.default_rng(1).random((6, 2, 2, 8, 8)) < 0.3).astype(np.int64)
    for cfg in (IDEAL, {"adc_bits": None, "scheme": "offset", "cell_bits": 2},
                {"adc_bits": None, "read_policy": "event"}, {"adc_bits": 4, "read_policy": "event"}):
        _same(conv_graph, x, config=cfg)


def test_demo_model_equal() -> None:
    from spikemesh.data.demo import load_demo

    g, x, _ = load_demo()
    _same(g, x[:, :4], config={"adc_bits": None, "rows_parallel": 32, "cell_bits": 2})


@st.composite
def dense_graphs(draw: st.DrawFn) -> tuple[Graph, np.ndarray, dict]:
    n_in = draw(st.integers(1, 40))
    n_h = draw(st.integers(1, 20))
    n_o = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-128, 128, (n_h, n_in)).astype(float)
    w2 = rng.integers(-20, 21, (n_o, n_h)).astype(float)
    b1 = rng.integers(-5, 6, n_h).astype(float)
    g = Graph(inputs=(Input("in", (n_in,)),),
              populations=(Population("h", (n_h,), IF(threshold=float(rng.integers(1, 200)), reset="subtract")),
                           Population("o", (n_o,), IF(threshold=float(rng.integers(1, 40)), reset="zero"))),
              projections=(Projection("a", "in", "h", (Dense(w1, b1),)), Projection("b", "h", "o", (Dense(w2),))),
              outputs=(Output("out", "o"),))
    x = rng.integers(0, draw(st.sampled_from([2, 4])), (5, 2, n_in))
    cfg = {"adc_bits": None, "rows": draw(st.sampled_from([8, 16, 32])), "cols": draw(st.sampled_from([4, 8])),
           "cell_bits": draw(st.integers(1, 4)), "scheme": draw(st.sampled_from(["differential", "offset"])),
           "rows_parallel": draw(st.sampled_from([1, 3, 8, 128])),
           "read_policy": draw(st.sampled_from(["timestep", "event"]))}
    return g, x, cfg


@settings(max_examples=25, deadline=None)
@given(dense_graphs())
def test_random_dense_graphs_equal_reference(case: tuple[Graph, np.ndarray, dict]) -> None:
    g, x, cfg = case
    _same(g, x, config=cfg)


def test_action_counts_from_reference_rasters() -> None:
    """Counts of a 2-layer dense net on 8x8 arrays (4 differential weight columns), 1-bit cells, 4 parallel rows,
    computed here from the reference rasters and the tiling formula (row tiles x column tiles x slices)."""
    rng = np.random.default_rng(3)
    n_in, n_h, n_o = 20, 10, 3
    w1 = rng.integers(-7, 8, (n_h, n_in)).astype(float)  # |w| <= 7: 3 magnitude bits -> 3 slices
    w2 = rng.integers(-7, 8, (n_o, n_h)).astype(float)
    w2[0, 0] = 7
    w1[0, 0] = 7
    g = Graph(inputs=(Input("in", (n_in,)),),
              populations=(Population("h", (n_h,), IF(threshold=5.0)), Population("o", (n_o,), IF(threshold=5.0))),
              projections=(Projection("a", "in", "h", (Dense(w1),)), Projection("b", "h", "o", (Dense(w2),))),
              outputs=(Output("out", "o"),))
    x = (rng.random((7, 3, n_in)) < 0.4).astype(np.int64)
    ref = run_reference(g, x, mode="int")
    cfg = {"rows": 8, "cols": 8, "cell_bits": 1, "adc_bits": None, "rows_parallel": 4}
    res = spikemesh.simulate(g, x, engine="crossbar", config=cfg)
    slices = 3
    row_drive = cell = conv = acc = 0
    for raster, n_out in ((x, n_h), (ref.spikes["h"].astype(np.int64), n_o)):
        col_tiles = -(-n_out // 4)
        flat = raster.reshape(-1, raster.shape[-1])
        active = flat.sum(1)
        row_drive += int(active.sum()) * col_tiles * slices
        cell += int(active.sum()) * 2 * n_out * slices
        groups = 0
        for r0 in range(0, flat.shape[1], 4):
            groups += int((flat[:, r0:r0 + 4].sum(1) > 0).sum())
        conv += groups * n_out * slices
        acc += groups * n_out * slices
    a = res.stats["actions"]
    assert a["row_drive"] == row_drive
    assert a["cell_read"] == cell
    assert a["adc_conversion"] == conv
    assert a["shift_add"] == conv
    assert a["digital_accumulate"] == acc
    assert a["neuron_update"] == (n_h + n_o) * 7 * 3
    e = res.stats["energy"]["by_action_pj"]
    assert e["adc_conversion"] == pytest.approx(conv * 0.79)  # ideal ADC billed at the exact width: 3 b + sign
    assert res.stats["tops_per_w"] == pytest.approx(2 * (n_in * n_h + n_h * n_o) * 7 * 3
                                                    / res.stats["energy"]["total_pj"])


def test_early_stop_hand_computed() -> None:
    out = np.zeros((4, 2, 2))
    out[:, 0, 0] = [4, 4, 4, 4]  # softmax([2, 0]) top-1 = 0.881 > 0.8 at step 1
    out[:, 1, 0] = [1, 1, 4, 4]  # mean/2 after 3 steps: [1, 0] -> 0.731; after 4: [1.25, 0] -> 0.777: never
    assert early_stop_steps(out, alpha=2.0, threshold=0.8).tolist() == [1, 4]


def test_conv_pool_graph_equal() -> None:
    rng = np.random.default_rng(5)
    g = Graph(inputs=(Input("in", (1, 6, 6)),),
              populations=(Population("c", (3, 6, 6), IF(threshold=4.0)), Population("d", (5,), IF(threshold=3.0))),
              projections=(Projection("a", "in", "c", (Conv2d(rng.integers(-3, 4, (3, 1, 3, 3)).astype(float),
                                                              padding=1),)),
                           Projection("b", "c", "d", (SumPool2d(2), Flatten(),
                                                      Dense(rng.integers(-4, 5, (5, 27)).astype(float))))),
              outputs=(Output("out", "d"),))
    x = (rng.random((6, 2, 1, 6, 6)) < 0.5).astype(np.int64)
    _same(g, x, config={"adc_bits": None, "rows": 4, "cols": 4})
