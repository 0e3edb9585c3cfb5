"""DVS layer on the async engine: merge, pooling, crop, mirror and swap applied to sensor events as the chip's
pre-processing layer does (sinabs DVSLayer order: merge → sum pool → crop → flip → swap), worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.errors import PartitionError
from spikemesh.ir import IF, Conv2d, Graph, Input, Output, Population, Projection


def relay(c: int, h: int, w: int) -> Graph:
    """One IF layer, conv k1 with identity weights = θ = 1: every input event fires its own neuron once."""
    wt = np.eye(c).reshape(c, c, 1, 1)
    return Graph((Input("in", (c, h, w)),), (Population("L", (c, h, w), IF(threshold=1.0, reset="subtract")),),
                 (Projection("p", "in", "L", (Conv2d(wt),)),), (Output("out", "L"),))


def events(shape: tuple[int, ...], T: int, evs: list[tuple[int, int, int, int]]) -> np.ndarray:
    x = np.zeros((T, 1, *shape), dtype=np.int64)
    for t, c, y, xx in evs:
        x[t, 0, c, y, xx] += 1
    return x


def fired(r) -> set[tuple[int, int, int, int]]:
    return {tuple(int(v) for v in i) for i in np.argwhere(r.spikes["L"][:, 0])}


def test_pool_crop_flip_x_by_hand(tmp_path: Path) -> None:
    # sensor 8x8, pool 2 -> 4x4, crop rows [1, 4) cols [0, 3) -> 3x3, flip_x: x' = 2 - x
    dvs = {"input_shape": (8, 8), "pool": 2, "crop": ((1, 4), (0, 3)), "flip_x": True}
    p = spikemesh.compile(relay(2, 3, 3), "speck", dvs=dvs)
    x = events((2, 8, 8), 4, [
        (0, 1, 5, 1),  # pooled (2, 0) -> window (1, 0) -> flipped (1, 2)
        (0, 0, 1, 7),  # pooled row 0 < top 1: cropped away
        (1, 0, 7, 4),  # pooled (3, 2) -> (2, 2) -> (2, 0)
        (1, 1, 4, 6),  # pooled column 3 >= right 3: cropped away
        (2, 0, 2, 2), (2, 0, 3, 3),  # one pooled pixel (1, 1) -> (0, 1) -> (0, 1), two events
    ])
    r = p.simulate(x, engine="async")
    assert fired(r) == {(0, 1, 1, 2), (1, 0, 2, 0), (2, 0, 0, 1)}
    assert r.stats["samples"][0]["input_events"] == 4 and r.stats["spike_events"]["L"] == 4
    p.save(tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "speck_config.json").read_text())["dvs_layer"]
    assert cfg["origin"] == {"x": 0, "y": 1} and cfg["cut"] == {"x": 2, "y": 3}
    assert cfg["mirror"] == {"x": True, "y": False} and cfg["mirror_diagonal"] is False
    assert cfg["pooling"] == {"x": 2, "y": 2} and cfg["merge"] is False
    q = spikemesh.Program.load(tmp_path / "b")  # the DVS settings survive save / load
    assert fired(q.simulate(x, engine="async")) == fired(r)


def test_merge_flip_y_swap_by_hand() -> None:
    # sensor 8x8, no pooling, crop rows [2, 6) cols [1, 4) -> 4x3 window, flip_y: y' = 3 - y, swap -> 3x4, merged
    dvs = {"input_shape": (8, 8), "crop": ((2, 6), (1, 4)), "flip_y": True, "swap_xy": True,
           "merge_polarities": True}
    p = spikemesh.compile(relay(1, 3, 4), "speck", dvs=dvs)
    x = events((2, 8, 8), 3, [
        (0, 1, 2, 3),  # window (0, 2) -> flip_y (3, 2) -> swap (2, 3), polarity merged to 0
        (1, 0, 5, 1),  # window (3, 0) -> (0, 0) -> (0, 0)
        (2, 1, 6, 2),  # row 6 >= bottom 6: cropped
    ])
    assert fired(p.simulate(x, engine="async")) == {(0, 0, 2, 3), (1, 0, 0, 0)}
    assert p.config.dvs.config({"L": 0})["mirror_diagonal"] is True


def test_async_equals_reference_on_dvs_frames() -> None:
    # sparse events, no pooling: no neuron receives two events in a step, so async == reference on the
    # frames the DVS layer makes (the array form of the same map)
    dvs = {"input_shape": (16, 12), "crop": ((3, 13), (2, 9)), "flip_x": True, "flip_y": True}
    p = spikemesh.compile(relay(2, 10, 7), "speck", dvs=dvs)
    rng = np.random.default_rng(0)
    x = (rng.random((30, 2, 2, 16, 12)) < 0.03).astype(np.int64)
    a = p.simulate(x, engine="async")
    frames = p.config.dvs.frames(x)
    assert frames.shape == (30, 2, 2, 10, 7) and frames.sum() > 20
    ref = p.simulate(frames, engine="reference")
    assert np.array_equal(a.spikes["L"], ref.spikes["L"])


def test_frames_equal_events_map() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        hs, ws, pool = int(rng.integers(4, 20)), int(rng.integers(4, 20)), int(rng.choice([1, 2, 4]))
        ph, pw = hs // pool, ws // pool
        if ph < 1 or pw < 1:
            continue
        top, left = int(rng.integers(0, ph)), int(rng.integers(0, pw))
        bottom, right = int(rng.integers(top + 1, ph + 1)), int(rng.integers(left + 1, pw + 1))
        from spikemesh.backends.speck.dvs import from_options

        opts = {"input_shape": (hs, ws), "pool": pool, "crop": ((top, bottom), (left, right)),
                "flip_x": bool(rng.random() < .5), "flip_y": bool(rng.random() < .5),
                "swap_xy": bool(rng.random() < .5), "merge_polarities": bool(rng.random() < .5)}
        h, w = bottom - top, right - left
        c = 1 if opts["merge_polarities"] else 2
        spec = from_options(opts, (c, w, h) if opts["swap_xy"] else (c, h, w), 1, ())
        x = rng.integers(0, 3, (2, hs, ws))
        want = spec.frames(x)
        got = np.zeros(spec.out_shape, dtype=np.int64)
        cc, yy, xx = np.nonzero(x)
        cc, yy, xx = (np.repeat(v, x[cc, yy, xx]) for v in (cc, yy, xx))
        keep, c2, y2, x2 = spec.events(cc, yy, xx)
        np.add.at(got, (c2[keep], y2[keep], x2[keep]), 1)
        assert np.array_equal(got, want)


def test_dvs_option_errors() -> None:
    with pytest.raises(PartitionError, match="dvs: the DVS layer output does not match the graph input"):
        spikemesh.compile(relay(2, 3, 3), "speck", dvs={"input_shape": (8, 8), "pool": 2})
    with pytest.raises(PartitionError, match="dvs: the DVS crop must lie inside"):
        spikemesh.compile(relay(2, 3, 3), "speck", dvs={"input_shape": (8, 8), "pool": 2, "crop": ((2, 5), (0, 3))})
    with pytest.raises(PartitionError, match="128x128"):
        spikemesh.compile(relay(2, 3, 3), "speck", dvs={"input_shape": (200, 8)})
    p = spikemesh.compile(relay(2, 3, 3), "speck", dvs={"input_shape": (3, 3)})
    with pytest.raises(spikemesh.SpikemeshError, match="sensor events"):
        p.simulate(np.zeros((2, 1, 2, 4, 4)), engine="async")
