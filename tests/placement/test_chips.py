"""Chip-level annealing (the chip assignment beyond the CP-SAT model): capacity, hand-known optimum, agreement of
its objective with the placement's inter-chip traffic, determinism, and its use by ``auto`` at scale."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from spikemesh.placement import place
from spikemesh.placement.chips import anneal_chips, chip_cost
from spikemesh.placement.place import _within_chips
from spikemesh.placement.problem import Problem, evaluate
from spikemesh.target.model import CoreSpec, NocSpec, Target
from spikemesh.target.topology import Mesh


def target(cx: int, cy: int, chips: tuple[int, int]) -> Target:
    return Target(name="m", cores_x=cx, cores_y=cy, chips_x=chips[0], chips_y=chips[1],
                  core=CoreSpec(256, 256, 1 << 20), noc=NocSpec(interchip_hop_cycles=20))


def cliques(k: int, size: int) -> np.ndarray:
    return np.array([(c * size + i, c * size + j, 1.0) for c in range(k) for i in range(size)
                     for j in range(size) if i != j])


def test_four_cliques_end_on_four_chips_with_no_interchip_traffic() -> None:
    # 4 cliques of 9 cores, 2x2 chips of 3x3: the optimum keeps each clique on one chip (0 inter-chip traffic)
    mesh = Mesh.of(target(3, 3, (2, 2)))
    pb = Problem.of(36, cliques(4, 9))
    start = np.random.default_rng(0).permutation(np.repeat(np.arange(4), 9))
    assert chip_cost(pb, mesh, start) > 0
    chip = anneal_chips(pb, mesh, start, seed=1, moves_per_core=2000)
    assert np.bincount(chip, minlength=4).max() <= 9
    assert chip_cost(pb, mesh, chip) == 0.0
    assert all(len(set(chip[c * 9:(c + 1) * 9].tolist())) == 1 for c in range(4))


def test_chip_cost_is_the_interchip_traffic_of_the_placement() -> None:
    mesh = Mesh.of(target(4, 3, (3, 2)))
    rng = np.random.default_rng(2)
    n = 60
    traffic = np.array([(s, d, float(rng.integers(1, 5))) for s in range(-1, n) for d in range(n)
                        if s != d and rng.random() < 0.1])
    pb = Problem.of(n, traffic)
    start = np.repeat(np.arange(6), 12)[:n]
    chip = anneal_chips(pb, mesh, start, seed=0)
    assert np.bincount(chip, minlength=6).max() <= 12
    assert chip_cost(pb, mesh, chip) < chip_cost(pb, mesh, start)
    slot = _within_chips(pb, mesh, chip)
    assert np.array_equal(slot // mesh.per_chip, chip)
    assert chip_cost(pb, mesh, chip) == evaluate(pb, slot, mesh)["interchip_traffic"]
    assert np.array_equal(chip, anneal_chips(pb, mesh, start, seed=0))  # same seed, same chips


def test_auto_beyond_the_cpsat_chip_model_uses_chip_annealing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("spikemesh.placement.place"), "CHIP_ASSIGN_MAX_VARS", 10)
    t = target(3, 3, (2, 2))
    n = 32
    rng = np.random.default_rng(0)
    traffic = np.array([(i, j, 1.0) for c0 in (0, 16) for i in range(c0, c0 + 16) for j in range(c0, c0 + 16)
                        if i != j and rng.random() < 0.3])
    auto = place(n, traffic, t, "auto", seed=0, time_limit=1.0)
    zz = place(n, traffic, t, "zigzag")
    info = auto.report["solver"]["chip_assignment"]
    assert info["status"] == "chip-level annealing" and info["interchip"] <= info["start_interchip"]
    chips = auto.coords[:, 1] * 2 + auto.coords[:, 0]
    assert np.bincount(chips).max() <= 9 and len({tuple(c) for c in auto.coords}) == n
    assert auto.report["interchip_traffic"] == info["interchip"] < zz.report["interchip_traffic"]
