"""The mesh a Target describes: chips in a grid, cores (routers) in a grid per chip, directed links.

Conventions shared by placement, routing and the simulator: a slot is a physical core, numbered chip-major:
``slot = chip * cores_per_chip + y * cores_x + x`` with ``chip = chip_y * chips_x + chip_x``. Global router
coordinates are ``gx = chip_x * cores_x + x``, ``gy = chip_y * cores_y + y``; N = +y, E = +x. A hop between routers
costs 1; a hop that crosses a chip border costs ``interchip_weight`` = interchip_hop_cycles / hop_cycles (the
Target's link costs), so placement cost = Σ traffic × weighted XY distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikemesh.target.model import Target

DIRS = ("E", "W", "N", "S")
STEP = ((1, 0), (-1, 0), (0, 1), (0, -1))


@dataclass(frozen=True)
class Mesh:
    """Slot geometry of a target. ``gx``/``gy``/``chip_x``/``chip_y`` are int64 arrays indexed by slot."""

    cores_x: int
    cores_y: int
    chips_x: int
    chips_y: int
    interchip_weight: float

    @staticmethod
    def of(target: Target) -> Mesh:
        w = max(1.0, target.noc.interchip_hop_cycles / max(1, target.noc.hop_cycles)) if target.n_chips > 1 else 1.0
        return Mesh(target.cores_x, target.cores_y, target.chips_x, target.chips_y, float(w))

    @property
    def per_chip(self) -> int:
        return self.cores_x * self.cores_y

    @property
    def n_slots(self) -> int:
        return self.per_chip * self.chips_x * self.chips_y

    @property
    def width(self) -> int:
        return self.cores_x * self.chips_x

    @property
    def height(self) -> int:
        return self.cores_y * self.chips_y

    def slot_coords(self) -> np.ndarray:
        """int32 [n_slots, 4] (chip_x, chip_y, x, y) per slot."""
        s = np.arange(self.n_slots)
        chip, local = np.divmod(s, self.per_chip)
        cy, cx = np.divmod(chip, self.chips_x)
        y, x = np.divmod(local, self.cores_x)
        return np.stack([cx, cy, x, y], axis=1).astype(np.int32)

    def slot_of(self, coords: np.ndarray) -> np.ndarray:
        c = np.asarray(coords, dtype=np.int64).reshape(-1, 4)
        return (c[:, 1] * self.chips_x + c[:, 0]) * self.per_chip + c[:, 3] * self.cores_x + c[:, 2]

    def global_xy(self, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(coords, dtype=np.int64).reshape(-1, 4)
        return c[:, 0] * self.cores_x + c[:, 2], c[:, 1] * self.cores_y + c[:, 3]

    def slot_xy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.global_xy(self.slot_coords())

    def split(self, gx: int, gy: int) -> tuple[int, int, int, int]:
        return gx // self.cores_x, gy // self.cores_y, gx % self.cores_x, gy % self.cores_y

    def crosses(self, gx: int, gy: int, d: int) -> bool:
        """Whether the link leaving router (gx, gy) in direction d crosses a chip border."""
        nx, ny = gx + STEP[d][0], gy + STEP[d][1]
        return nx // self.cores_x != gx // self.cores_x or ny // self.cores_y != gy // self.cores_y
