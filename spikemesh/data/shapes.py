"""Deterministic generator of a small event-camera-like classification data set ("shapes").

A sample is a moving or changing bright object on a ``size x size`` pixel array, observed by an idealised
dynamic vision sensor: an ON event (channel 0) where a pixel turns bright between two steps, an OFF event
(channel 1) where it turns dark. Every sample is ``T`` time steps long.

Classes (label: description)

0. *bar left->right*: a vertical bar (1-2 px wide, 6-16 px long, random vertical offset) enters at the left
   edge and sweeps right at 0.5-1.1 px/step, starting at step 0-3.
1. *bar top->bottom*: the same bar transposed, sweeping downwards.
2. *expanding square*: a filled square, centred at a random pixel in [4, 11]^2, grows from half-side 0-1 px at
   0.3-0.7 px/step, starting at step 0-5. It emits ON events on its growing border.
3. *blinking blob*: a disc of radius 1.5-3 px at a random position that is alternately on and off with a
   period of 4-8 steps and a random phase; it emits whole-disc ON / OFF bursts.

Nuisances keep the task from being trivial: every true event is dropped with probability ``p_drop`` (0.1)
and independent background-noise events are added with probability ``p_noise`` (0.02) per pixel, polarity
and step. All randomness comes from ``np.random.default_rng(seed)``, so a seed gives byte-identical output.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 4
CLASS_NAMES = ("bar left->right", "bar top->bottom", "expanding square", "blinking blob")


def _bar_frames(rng: np.random.Generator, T: int, size: int) -> np.ndarray:
    """Intensity frames [T+1, size, size] of a vertical bar sweeping left to right."""
    width = int(rng.integers(1, 3))
    length = int(rng.integers(6, size + 1))
    y0 = int(rng.integers(0, size - length + 1))
    speed = rng.uniform(0.5, 1.1)  # px / step
    t0 = int(rng.integers(0, 4))
    x_start = rng.uniform(-width - 1.0, 0.0)  # the bar enters from outside the left edge
    frames = np.zeros((T + 1, size, size), dtype=bool)
    for t in range(t0 + 1, T + 1):
        x = int(np.floor(x_start + speed * (t - t0)))
        lo, hi = max(x, 0), min(x + width, size)
        if lo < hi:
            frames[t, y0 : y0 + length, lo:hi] = True
    return frames


def _square_frames(rng: np.random.Generator, T: int, size: int) -> np.ndarray:
    """Intensity frames of a filled square growing about a random centre."""
    cy, cx = (int(c) for c in rng.integers(4, size - 4, size=2))
    r0 = rng.uniform(0.0, 1.0)
    speed = rng.uniform(0.3, 0.7)  # half-side growth, px / step
    t0 = int(rng.integers(0, 6))
    frames = np.zeros((T + 1, size, size), dtype=bool)
    for t in range(t0 + 1, T + 1):
        r = int(np.floor(r0 + speed * (t - t0)))
        frames[t, max(cy - r, 0) : cy + r + 1, max(cx - r, 0) : cx + r + 1] = True
    return frames


def _blob_frames(rng: np.random.Generator, T: int, size: int) -> np.ndarray:
    """Intensity frames of a disc blinking with a random period and phase."""
    radius = rng.uniform(1.5, 3.0)
    cy, cx = rng.uniform(3.0, size - 3.0, size=2)
    period = int(rng.integers(4, 9))
    phase = int(rng.integers(0, period))
    yy, xx = np.mgrid[0:size, 0:size]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    on = ((np.arange(T + 1) + phase) % period) < (period // 2)
    on[0] = False  # frame 0 is the dark reference
    return on[:, None, None] & disc[None]


def make_shapes(
    n: int,
    seed: int,
    T: int = 20,
    size: int = 16,
    p_noise: float = 0.02,
    p_drop: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` samples, balanced over the 4 classes in a seeded random order.

    Returns ``(spikes, labels)``: ``spikes`` uint8 ``[T, n, 2, size, size]`` with values in {0, 1}
    (channel 0 = ON, 1 = OFF events) and ``labels`` int64 ``[n]`` in ``0..3`` (see the module docstring).
    """
    if n < 0 or T < 1 or size < 12:
        raise ValueError(f"make_shapes needs n >= 0, T >= 1, size >= 12 (got n={n}, T={T}, size={size})")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % N_CLASSES)
    makers = (_bar_frames, _bar_frames, _square_frames, _blob_frames)
    spikes = np.zeros((T, n, 2, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        frames = makers[label](rng, T, size)
        if label == 1:
            frames = frames.transpose(0, 2, 1)  # bar sweeping top -> bottom
        diff = frames[1:].astype(np.int8) - frames[:-1].astype(np.int8)
        spikes[:, i, 0] = diff > 0
        spikes[:, i, 1] = diff < 0
    keep = rng.random(spikes.shape) >= p_drop
    noise = rng.random(spikes.shape) < p_noise
    spikes = ((spikes.astype(bool) & keep) | noise).astype(np.uint8)
    return spikes, labels
