"""``SimResult``: what every engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.fileio import atomic_open, npz_bytes


@dataclass
class SimResult:
    """Spikes of every spiking population (bool ``[T, B, *shape]``), state traces ``v`` of recorded and of
    non-spiking populations, the output nodes' arrays, and engine-specific statistics (``stats``: counts,
    latency in cycles and seconds, energy in pJ by action)."""

    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    engine: str
    steps: int
    mode: str = "float"
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray | None:
        """The first output node's array ``[T, B, *shape]``."""
        return next(iter(self.outputs.values()), None)

    def spike_counts(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.spikes.items()}

    def save_rasters(self, path: str | Path) -> None:
        """Spike rasters (and traces) as a compressed npz, written atomically."""
        arrays = {f"spikes/{k}": v for k, v in self.spikes.items()}
        arrays.update({f"v/{k}": v for k, v in self.v.items()})
        with atomic_open(path, "wb") as fh:
            fh.write(npz_bytes(arrays))
