"""The DVS pre-processing layer of Speck: polarity merge → sum pooling → crop (ROI) → mirror → swap, the order of
sinabs' ``DVSLayer.forward`` (sinabs/backend/dynapcnn/dvs_layer.py). Merge sums the 2 polarities into 1 channel;
pooling floors the size; the crop keeps pooled rows ``[top, bottom)`` and columns ``[left, right)``; ``flip_y`` /
``flip_x`` reverse rows / columns of the cropped window; ``swap_xy`` transposes it. The chip config is
``origin = (left, top)``, ``cut = (right − 1, bottom − 1)``, ``mirror{x, y}``, ``mirror_diagonal = swap_xy``, in
pooled coordinates (sinabs ``DVSLayer.get_config_dict``).

Two forms of the same map: ``DvsSpec.events`` per event (what the ``async`` engine applies) and
``DvsSpec.frames`` on count arrays (to drive ``reference`` with what the cores receive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.errors import PartitionError

MAX_SENSOR = 128  # 128x128 pixel array (Richter et al., arXiv:2304.06793; sinabs Speck documentation)


@dataclass(frozen=True)
class DvsSpec:
    """The DVS layer. ``shape``: (C, H, W) of the events the engine takes (the sensor array when ``sensor``,
    else the graph input); ``pooling``; ``destinations`` (layer, feature_shift); ``merge``: polarities summed;
    ``origin`` (x, y) and ``crop_hw`` (H, W; None = the whole pooled array) in pooled coordinates; ``mirror``
    (x, y); ``swap_xy``; ``sensor``: inputs are raw sensor events (compile option ``dvs``)."""

    shape: tuple[int, int, int]
    pooling: int
    destinations: tuple[tuple[str, int], ...]
    merge: bool
    origin: tuple[int, int] = (0, 0)
    mirror: tuple[bool, bool] = (False, False)
    pass_sensor_events: bool = False
    crop_hw: tuple[int, int] | None = None
    swap_xy: bool = False
    sensor: bool = False

    @property
    def pooled_hw(self) -> tuple[int, int]:
        return self.shape[1] // self.pooling, self.shape[2] // self.pooling

    @property
    def window_hw(self) -> tuple[int, int]:
        """(H, W) after the crop, before the swap."""
        return self.crop_hw if self.crop_hw is not None else self.pooled_hw

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C, H, W) the destination cores receive."""
        c = 1 if self.merge else self.shape[0]
        h, w = self.window_hw
        return (c, w, h) if self.swap_xy else (c, h, w)

    def events(self, c: np.ndarray, y: np.ndarray, x: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per event (channel, row, column) -> (kept mask, channel, row, column) at the DVS output."""
        c = np.zeros_like(c) if self.merge else c
        py, px = y // self.pooling, x // self.pooling
        (ox, oy), (h, w) = self.origin, self.window_hw
        ry, rx = py - oy, px - ox
        keep = (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
        if self.mirror[1]:
            ry = h - 1 - ry
        if self.mirror[0]:
            rx = w - 1 - rx
        if self.swap_xy:
            ry, rx = rx, ry
        return keep, c, ry, rx

    def frames(self, x: np.ndarray) -> np.ndarray:
        """Counts ``[..., C, H, W]`` -> the counts at the DVS output ``[..., *out_shape]``."""
        a = np.asarray(x)
        if self.merge:
            a = a.sum(axis=-3, keepdims=True)
        p = self.pooling
        (ph, pw), (ox, oy), (h, w) = self.pooled_hw, self.origin, self.window_hw
        a = a[..., : ph * p, : pw * p].reshape(*a.shape[:-2], ph, p, pw, p).sum(axis=(-3, -1))
        a = a[..., oy:oy + h, ox:ox + w]
        if self.mirror[1]:
            a = a[..., ::-1, :]
        if self.mirror[0]:
            a = a[..., :, ::-1]
        if self.swap_xy:
            a = np.swapaxes(a, -1, -2)
        return np.ascontiguousarray(a)

    def config(self, core: dict[str, int]) -> dict[str, Any]:
        """The ``dvs_layer`` section of speck_config.json (sinabs / samna field names)."""
        (ox, oy), (h, w) = self.origin, self.window_hw
        return {"merge": self.merge, "mirror": {"x": self.mirror[0], "y": self.mirror[1]},
                "mirror_diagonal": self.swap_xy, "origin": {"x": ox, "y": oy},
                "cut": {"x": ox + w - 1, "y": oy + h - 1},
                "pooling": {"x": self.pooling, "y": self.pooling},
                "pass_sensor_events": self.pass_sensor_events,
                "destinations": [{"layer": core[n], "enable": True, "feature_shift": sh}
                                 for n, sh in self.destinations]}


def _pair(v: Any, what: str) -> tuple[int, int]:
    t = (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v)
    if len(t) != 2:
        raise PartitionError(f"dvs {what} must be one number or a pair", node="dvs", available=v)
    return t  # type: ignore[return-value]


def from_options(opts: dict[str, Any], graph_input: tuple[int, ...], graph_pool: int,
                 destinations: tuple[tuple[str, int], ...]) -> DvsSpec:
    """The DVS layer of the compile option ``dvs`` = {"input_shape": (H, W) of the sensor (default 128x128),
    "pool": 1|2|4, "crop": ((top, bottom), (left, right)) in pooled pixels, "flip_x", "flip_y", "swap_xy",
    "merge_polarities"}; its output must be the graph input. ``graph_pool``: pooling the graph applies to its
    input (folded into the DVS pooling; not allowed after a crop or mirror, as in sinabs)."""
    unknown = set(opts) - {"input_shape", "pool", "crop", "flip_x", "flip_y", "swap_xy", "merge_polarities"}
    if unknown:
        raise PartitionError(f"unknown dvs options {sorted(unknown)}", node="dvs",
                             needed="input_shape, pool, crop, flip_x, flip_y, swap_xy, merge_polarities")
    hs, ws = _pair(opts.get("input_shape", (MAX_SENSOR, MAX_SENSOR)), "input_shape")
    if not (1 <= hs <= MAX_SENSOR and 1 <= ws <= MAX_SENSOR):
        raise PartitionError("the DVS pixel array is at most 128x128", node="dvs", needed="<= 128x128",
                             available=(hs, ws))
    py, px = _pair(opts.get("pool", 1), "pool")
    if py != px:
        raise PartitionError("DVS pooling must be square", node="dvs", available=(py, px))
    merge = bool(opts.get("merge_polarities", False))
    flip_x, flip_y, swap = bool(opts.get("flip_x", False)), bool(opts.get("flip_y", False)), \
        bool(opts.get("swap_xy", False))
    crop = opts.get("crop")
    moved = crop is not None or flip_x or flip_y or swap
    if graph_pool != 1 and moved:
        raise PartitionError("pooling right after a cropped or mirrored DVS layer cannot run on the chip",
                             node="dvs", available=f"graph pools its input by {graph_pool}",
                             hint="put the pooling into the dvs option's 'pool' (sinabs: DVSLayer(pool=...))")
    pool = py * graph_pool
    if pool not in (1, 2, 4):
        raise PartitionError("DVS pooling must be 1, 2 or 4", node="dvs", needed=(1, 2, 4), available=pool)
    ph, pw = hs // pool, ws // pool
    if crop is None:
        (top, bottom), (left, right) = (0, ph), (0, pw)
    else:
        (top, bottom), (left, right) = _pair(crop[0], "crop rows"), _pair(crop[1], "crop columns")
    if not (0 <= top < bottom <= ph and 0 <= left < right <= pw):
        raise PartitionError("the DVS crop must lie inside the pooled pixel array", node="dvs",
                             needed=f"0 <= top < bottom <= {ph}, 0 <= left < right <= {pw}",
                             available=((top, bottom), (left, right)))
    spec = DvsSpec(shape=(2, hs, ws), pooling=pool, destinations=destinations, merge=merge, origin=(left, top),
                   mirror=(flip_x, flip_y), crop_hw=(bottom - top, right - left), swap_xy=swap, sensor=True)
    want = spec.out_shape if graph_pool == 1 else (spec.out_shape[0], spec.shape[1] // py, spec.shape[2] // py)
    if tuple(graph_input) != want:
        raise PartitionError("the DVS layer output does not match the graph input", node="dvs",
                             needed=tuple(graph_input), available=want,
                             hint="the graph input is what the DVS layer sends: (1 if merged else 2, H, W) after "
                                  "pooling, crop and swap")
    return spec
