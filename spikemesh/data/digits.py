"""The `make demo` data: scikit-learn's handwritten digits, encoded as spikes, and the conv SNN trained on them.

The data set is the one scikit-learn ships inside its package (``sklearn.datasets.load_digits``: 1,797 images of
8x8 pixels with intensities 0..16, ten classes; a copy of the UCI "Optical Recognition of Handwritten Digits" test
set). Nothing is downloaded.

Split: ``numpy.random.default_rng(SPLIT_SEED).permutation(1797)``; the first ``N_TEST`` indices are the test set
(the demo's inputs), the rest the training set of ``scripts/train_digits.py``.

Encoding (deterministic rate code, ``encode``): over ``T`` = 16 steps a pixel of intensity ``v`` (0..16) spikes
``v`` times, evenly spaced: at step ``t`` when ``floor((t + 1) v / 16) > floor(t v / 16)``. The input is
``[T, B, 1, 8, 8]`` uint8.

``digits_model.smg`` (written by ``scripts/train_digits.py``): Conv2d(1->6, k3, p1) -> IF ``conv1`` [6, 8, 8] ->
SumPool2d(2) -> Conv2d(6->16, k3, p1) -> IF ``conv2`` [16, 4, 4] -> Flatten -> Dense(256->10) -> IF ``fc`` [10];
8-bit weights, 16-bit states, no biases. The class is the argmax of the ``fc`` spike counts (``demo.accuracy``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spikemesh.errors import FileFormatError, SpikemeshError
from spikemesh.ir import Graph

DIGITS_MODEL = "digits_model.smg"
DATA_DIR = Path(__file__).resolve().parent
T = 16
LEVELS = 16  # sklearn's digits have intensities 0..16
N_SAMPLES = 1797
N_TEST = 360
SPLIT_SEED = 0


def encode(images: np.ndarray, steps: int = T) -> np.ndarray:
    """Rate-code images ``[N, 64]`` (or ``[N, 8, 8]``) with intensities 0..16 into spikes ``[steps, N, 1, 8, 8]``
    (uint8): ``floor(v * steps / 16)`` spikes, evenly spaced (see the module docstring)."""
    img = np.asarray(images, dtype=np.int64).reshape(-1, 8, 8)
    if img.size and (img.min() < 0 or img.max() > LEVELS):
        raise SpikemeshError("digit intensities must lie in 0..16", node="digits", needed="0..16",
                             available=f"{img.min()}..{img.max()}")
    t = np.arange(steps + 1)[:, None, None, None]
    level = (t * img[None]) // LEVELS  # floor(t v / 16): rises by at most 1 per step since v <= 16
    spikes = np.diff(level, axis=0) > 0
    return spikes[:, :, None].astype(np.uint8)


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SpikemeshError("the digits demo needs scikit-learn", node="sklearn",
                             hint="pip install 'scikit-learn>=1.3' (it ships the digits data; nothing is downloaded)"
                             ) from None
    d = load_digits()
    return np.asarray(d.data, dtype=np.int64), np.asarray(d.target, dtype=np.int64)


def split_indices() -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices) into the 1,797 samples."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(N_SAMPLES)
    return np.sort(perm[N_TEST:]), np.sort(perm[:N_TEST])


def load_digits_data(split: str = "test", steps: int = T) -> tuple[np.ndarray, np.ndarray]:
    """(spikes uint8 ``[steps, N, 1, 8, 8]``, labels int64 ``[N]``) of the ``"train"`` or ``"test"`` split."""
    if split not in ("train", "test"):
        raise SpikemeshError("unknown digits split", node="digits", needed="train | test", available=split)
    images, labels = _sklearn_digits()
    if len(labels) != N_SAMPLES:
        raise SpikemeshError("unexpected digits data set size", node="sklearn", needed=N_SAMPLES,
                             available=len(labels))
    idx = split_indices()[0 if split == "train" else 1]
    return encode(images[idx], steps), labels[idx]


def load_digits_model(path: str | Path | None = None) -> Graph:
    """The bundled trained digits SNN (or the graph file at ``path``)."""
    p = DATA_DIR / DIGITS_MODEL if path is None else Path(path)
    if not p.is_file():
        raise FileFormatError("digits model file not found", node=str(p),
                              hint="re-create it with scripts/train_digits.py")
    return Graph.load(p)


def load_digits_demo(samples: int | None = None) -> tuple[Graph, np.ndarray, np.ndarray]:
    """The trained digits model, the test inputs ``[T, N, 1, 8, 8]`` and labels ``[N]`` (first ``samples``)."""
    graph = load_digits_model()
    x, y = load_digits_data("test")
    if samples is not None:
        x, y = x[:, :samples], y[:samples]
    return graph, x, y
