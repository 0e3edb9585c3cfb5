"""Forwarding modes of the deadlock certificate (NocSpec.forwarding): relay edges under cut-through, the core-level
phase order under phased forwarding, on a hand-built XY instance whose relay edges close a cycle; route selection
that keeps relay dependencies acyclic under cut-through."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikemesh.errors import PlacementError, TargetError
from spikemesh.routing import certify, route
from spikemesh.routing.deadlock import forwarding_levels, forwarding_phases
from spikemesh.routing.routes import ALGORITHMS, tree
from spikemesh.target.model import NocSpec
from spikemesh.target.topology import Mesh

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


def test_selection_with_relay_dependencies_certifies_the_relay_ring() -> None:
    """On the ring above all-XY trees close a relay cycle under cut-through; route selection that is given the
    relay dependencies picks trees the cut-through certificate accepts."""
    _, mesh, coords, relays = relay_ring()
    t = replace(mesh_target(3, 3), noc=NocSpec(forwarding="cut_through"))
    traffic = np.array([(0, 1, 3.0), (0, 2, 3.0), (2, 3, 2.0), (3, 0, 1.0)])
    with pytest.raises(PlacementError, match="channel-dependency cycle"):
        certify(route(coords, traffic, t, "xy").flat, mesh, coords, relays, forwarding="cut_through")
    sel = route(coords, traffic, t, "select", relays=relays, time_limit=5.0)
    assert sel.report["selection"]["status"] == "OPTIMAL" and sel.report["selection"]["relay_dependencies"] > 0
    assert certify(sel.flat, mesh, coords, relays, forwarding="cut_through").report["deadlock_free"]


@settings(max_examples=12, deadline=None)
@given(st.integers(2, 4), st.integers(2, 4), st.integers(0, 10_000))
def test_selection_under_cut_through_never_returns_a_relay_cycle(w: int, h: int, seed: int) -> None:
    """Random placements, flows and forwarding cores: whenever selection finds a solution, the cut-through
    certificate (relay edges built from the routes alone) accepts it; otherwise it says it found none (or had
    nothing to choose)."""
    rng = np.random.default_rng(seed)
    n = w * h
    t = replace(mesh_target(w, h), noc=NocSpec(forwarding="cut_through"))
    mesh = Mesh.of(t)
    coords = mesh.slot_coords()[rng.permutation(n)]
    rows = [(s, d, float(rng.integers(1, 5))) for s in range(n) for d in range(n) if s != d and rng.random() < 0.25]
    relays = {}
    for k in rng.choice(n, size=n // 3, replace=False):
        m = int(rng.integers(0, n))
        if m != k:
            relays[int(k)] = m
            rows.append((int(k), m, 1.0))
    sel = route(coords, np.array(rows).reshape(-1, 3), t, "select", relays=relays, time_limit=2.0, seed=seed)
    status = sel.report["selection"]["status"]
    if status in ("OPTIMAL", "FEASIBLE"):
        certify(sel.flat, mesh, coords, relays, forwarding="cut_through")
    elif status == "xy":  # one candidate tree per flow: nothing to choose
        assert sel.flat.links.tobytes() == route(coords, np.array(rows).reshape(-1, 3), t, "xy").flat.links.tobytes()
    else:
        assert status in ("INFEASIBLE", "UNKNOWN")


def test_relay_cycle_error_hints_at_phased_forwarding() -> None:
    routes, mesh, coords, relays = relay_ring()
    with pytest.raises(PlacementError) as e:
        certify(routes, mesh, coords, relays, forwarding="cut_through")
    assert "phased" in e.value.hint and "partial-sum" in e.value.hint
