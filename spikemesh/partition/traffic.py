"""Spike rates per neuron and the core-to-core matrix of spike copies.

Rates are expected spikes per neuron per time step: given (``rates``: population/input name → scalar or array
of the node's shape), measured from a reference run on ``sample_input`` (spikes / (steps × batch); an input's
rate is the mean absolute value it injects, so a binary spike input gives its spike rate), or
``DEFAULT_RATE`` = 1.0 for everything else — "every neuron fires once per step", the convention under which the
benchmarks count remote copies. A spike is counted once per distinct destination core; copies to
the source's own core are local and left out. Partial sums are sent every step for every neuron they cover
(one copy each).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph

DEFAULT_RATE = 1.0


def neuron_rates(graph: Graph, rates: dict[str, Any] | None = None, sample_input: Any = None) -> dict[str, np.ndarray]:
    """Flat float64 rate array per input and population (module docstring)."""
    out: dict[str, np.ndarray] = {}
    if sample_input is not None:
        from spikemesh.ir.reference import normalize_inputs, run_reference

        res = run_reference(graph, sample_input)
        xs, T, B = normalize_inputs(graph, sample_input)
        for name, s in res.spikes.items():
            out[name] = s.reshape(T * B, -1).mean(axis=0).astype(np.float64)
        for name, x in xs.items():
            out[name] = np.abs(np.asarray(x, dtype=np.float64)).reshape(T * B, -1).mean(axis=0)
    for node in (*graph.inputs, *graph.populations):
        n = math.prod(node.shape)
        if rates and node.name in rates:
            r = np.asarray(rates[node.name], dtype=np.float64)
            try:
                r = np.broadcast_to(r, node.shape).reshape(-1).copy()
            except ValueError:
                raise PartitionError("rates do not match the node's shape", node=node.name,
                                     needed=list(node.shape), available=list(r.shape)) from None
            if np.any(r < 0) or not np.all(np.isfinite(r)):
                raise PartitionError("rates must be finite and >= 0", node=node.name)
            out[node.name] = r
        elif node.name not in out:
            out[node.name] = np.full(n, DEFAULT_RATE)
    return out


class TrafficBuilder:
    """Accumulates (source core, destination core, copies) and sums duplicates."""

    def __init__(self) -> None:
        self._src: list[np.ndarray] = []
        self._dst: list[np.ndarray] = []
        self._w: list[np.ndarray] = []

    def add(self, src: np.ndarray, dst: int, w: np.ndarray) -> None:
        self._src.append(np.asarray(src, dtype=np.int64))
        self._dst.append(np.full(len(src), dst, dtype=np.int64))
        self._w.append(np.asarray(w, dtype=np.float64))

    def matrix(self) -> np.ndarray:
        if not self._src:
            return np.zeros((0, 3))
        s, d, w = np.concatenate(self._src), np.concatenate(self._dst), np.concatenate(self._w)
        keep = s != d
        s, d, w = s[keep], d[keep], w[keep]
        if not len(s):
            return np.zeros((0, 3))
        off = int(-s.min()) if s.min() < 0 else 0
        span = int(d.max()) + 1
        key = (s + off) * span + d
        uk, inv = np.unique(key, return_inverse=True)
        tot = np.bincount(inv, weights=w)
        out = np.empty((len(uk), 3))
        out[:, 0] = uk // span - off
        out[:, 1] = uk % span
        out[:, 2] = tot
        return out[tot > 0]
