"""Forwarding modes of the deadlock certificate (NocSpec.forwarding): relay edges under cut-through, the core-level
phase order under phased forwarding, on a hand-built XY instance whose relay edges close a cycle."""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.backends.base import NocSpec
from spikemesh.errors import PlacementError, TargetError
from spikemesh.placement import certify
from spikemesh.placement.deadlock import forwarding_levels, forwarding_phases
from spikemesh.placement.routing import ALGORITHMS, tree
from spikemesh.placement.topology import Mesh

from .test_placement import mesh_target


def relay_ring() -> tuple[list, Mesh, np.ndarray, dict[int, int]]:
    """3x3 mesh. P=0 at (2,1) merges into M=1 at (0,0) and also sends to Q=2 at (0,2); Q merges into R=3 at
    (1,0); R merges into P. XY trees: P: (2,1)W (1,1)W, then branches (0,1)S to M and (0,1)N to Q; Q: (0,2)E (1,2)S
    (1,1)S to R; R: (1,0)E (2,0)N to P. Relay edges (delivering channel -> first channel towards the merge core):
    (0,1)N -> (0,2)E, (1,1)S -> (1,0)E, (2,0)N -> (2,1)W, which with the tree edges (1,1)W -> (0,1)N,
    (1,2)S -> (1,1)S and (1,0)E -> (2,0)N close a cycle of 8 channels. The trees alone are acyclic (all XY)."""
    mesh = Mesh.of(mesh_target(3, 3))
    coords = np.array([[0, 0, 2, 1], [0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 1, 0]], dtype=np.int32)
    xy = ALGORITHMS["xy"]
    routes = [tree(0, (1, 2), coords, mesh, xy), tree(2, (3,), coords, mesh, xy), tree(3, (0,), coords, mesh, xy)]
    return routes, mesh, coords, {0: 1, 2: 3, 3: 0}


def test_cut_through_relays_close_a_cycle_phased_forwarding_certifies() -> None:
    routes, mesh, coords, relays = relay_ring()
    with pytest.raises(PlacementError, match="channel-dependency cycle") as e:
        certify(routes, mesh, coords, relays, forwarding="cut_through")
    assert "8 channels" in str(e.value)
    cert = certify(routes, mesh, coords, relays, forwarding="phased")
    # channels: P's tree 4 links, Q's 3, R's 2; tree dependencies: P 3 (two at the branch), Q 2, R 1
    assert cert.report == {"deadlock_free": True, "channels": 9, "dependencies": 6, "forwarding": "phased",
                           "forwarding_phases": 4}  # Q waits for nothing, R for Q, P for R, M for P: 4 phases


def test_forwarding_phases_by_hand_and_cycles_reported() -> None:
    assert forwarding_phases({}) == 1
    # leaves send first; a parent one phase after its deepest child (the 6-core tree of the partition tests)
    assert forwarding_levels({1: 0, 2: 0, 3: 1, 4: 1, 5: 2}) == {1: 2, 2: 2, 3: 1, 4: 1, 5: 1}
    assert forwarding_phases({1: 3, 2: 3, 3: 5, 4: 5}) == 3  # 1 -> 3 -> 5
    assert forwarding_phases({7: 6, 6: 5, 5: 4, 9: 4}) == 4
    with pytest.raises(PlacementError, match="wait for each other") as e:
        forwarding_phases({1: 2, 2: 3, 3: 1, 4: 1}, {1: "conv1", 2: "conv1", 3: "conv2"})
    assert "3 cores" in str(e.value) and "conv2 (core 3)" in str(e.value)


def test_unknown_forwarding_mode_is_a_target_error() -> None:
    with pytest.raises(TargetError, match="forwarding"):
        NocSpec(forwarding="store")
