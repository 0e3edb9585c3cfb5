"""Placement + routing benchmark: every placer on
(a) conv52k (benchmarks/networks.py) on a single 15x15 chip of 256-neuron cores (axon limit large enough for its FC
    layer), with its inputs on source cores (205 cores) and streamed from the host (193 cores),
(b) CIFAR-10 ResNet-18 (IF) on the Tianjic-like chip grid its `groups` partition reports as sufficient,
(c) the exact placer (`cpsat`: cut search, branch and bound, CP-SAT when neither finishes) on 16-core instances:
    partitions of real layered SNNs, random sparse, random dense and complete.
(b) runs zigzag and auto only (rowmajor/neighbor/anneal are not run at 34k cores), through routes, the deadlock
certificate and the routing tables, with peak RSS; ``--case b`` runs it alone (about 15 s on 2 cores).
Prints hop-weighted traffic, inter-chip traffic, max link load (routes as the pipeline makes them: CP-SAT
selection where the instance allows, else XY) and seconds, with ratios to zigzag and the machine load.

    PYTHONPATH=. .venv/bin/python benchmarks/placement.py [--case a|b|c] [--seed N]

(from the repository root; without PYTHONPATH the script's own folder, not the root, leads sys.path)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import networks  # noqa: E402

import spikemesh  # noqa: E402
from spikemesh.errors import PlacementError  # noqa: E402
from spikemesh.partition import partition  # noqa: E402
from spikemesh.placement import place  # noqa: E402
from spikemesh.routing import build_tables, certify, route  # noqa: E402
from spikemesh.target.model import CoreSpec, NocSpec, Target  # noqa: E402
from spikemesh.target.topology import Mesh  # noqa: E402

PLACERS = ("rowmajor", "zigzag", "neighbor", "anneal", "auto")


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f}"


def run_case(name: str, part, target: Target, seed: int, time_limit: float) -> dict[str, dict]:
    print(f"\n{name}: {part.n_cores} logical cores on {target.name} ({target.n_cores} cores); {load()}")
    print(f"{'placer':10} {'hop-weighted':>14} {'inter-chip':>12} {'max link':>10} {'routing':>8} "
          f"{'place s':>8} {'route s':>8}  certified")
    out = {}
    mesh = Mesh.of(target)
    for p in PLACERS:
        t0 = time.perf_counter()
        pl = place(part.n_cores, part.traffic, target, p, seed=seed, time_limit=time_limit)
        t1 = time.perf_counter()
        alg = "select" if p == "auto" else "xy"
        rt = route(pl.coords, part.traffic, target, algorithm=alg, seed=seed, time_limit=time_limit)
        t2 = time.perf_counter()
        cert = certify(rt.routes, mesh, pl.coords)
        r = {**pl.report, "max_link_load": rt.report["max_link_load"], "place_s": t1 - t0, "route_s": t2 - t1,
             "routing": rt.report.get("selection", {}).get("status", alg)}
        out[p] = r
        print(f"{p:10} {r['hop_weighted_traffic']:>14,.0f} {r['interchip_traffic']:>12,.0f} "
              f"{r['max_link_load']:>10,.0f} {r['routing']:>8} {r['place_s']:>8.2f} {r['route_s']:>8.2f}  "
              f"{cert.report['deadlock_free']}")
    z, a = out["zigzag"], out["auto"]

    def ratio(k: str) -> float:
        return a[k] / z[k] if z[k] else float("nan")

    core = {k: v["hop_weighted_traffic"] - v["host_hop_weighted_traffic"] for k, v in out.items()}
    print(f"auto / zigzag: hop-weighted {ratio('hop_weighted_traffic'):.3f}, max link load "
          f"{ratio('max_link_load'):.3f}, inter-chip {ratio('interchip_traffic'):.3f}; auto place+route "
          f"{a['place_s'] + a['route_s']:.1f} s; {load()}")
    if z["host_hop_weighted_traffic"]:
        print(f"  of which host inputs (from router (0, 0)): auto {a['host_hop_weighted_traffic']:,.0f}, zigzag "
              f"{z['host_hop_weighted_traffic']:,.0f}; core to core: auto {core['auto']:,.0f}, zigzag "
              f"{core['zigzag']:,.0f}, ratio {core['auto'] / core['zigzag']:.3f}")
    return out


def case_a(seed: int) -> None:
    """Twice: with the 3,072 inputs on 12 source cores of the mesh (the "input_cores" feature: 205 cores), and with
    the inputs streamed from the host through router (0, 0) (193 cores; see conv52k_bound.py for a lower bound on
    every placement of that case)."""
    g = networks.conv52k(seed)
    for label, feats in (("inputs on source cores", {"IF", "partial_sums", "input_cores"}),
                         ("inputs streamed from the host at router (0, 0)", {"IF", "partial_sums"})):
        t = Target(name="mesh15x15", cores_x=15, cores_y=15, core=CoreSpec(256, 16384, 1 << 26),
                   noc=NocSpec(), features=frozenset(feats))
        t0 = time.perf_counter()
        part = partition(g, t, strategy="groups", seed=seed)  # slicing needs 321 cores, more than a 15x15 chip
        print(f"\n(a) conv52k, {label}: groups partition {part.n_cores} cores "
              f"({part.report['source_cores']} source cores), remote copies "
              f"{part.report['remote_spike_copies']:,.0f} ({time.perf_counter() - t0:.1f} s)")
        run_case(f"(a) conv52k [groups, {label}]", part, t, seed, 10.0)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_b(seed: int, time_limit: float = 10.0) -> None:
    """ResNet-18 on the grid its groups partition needs: zigzag and auto, each placed, routed ("select" for auto:
    skipped at this size, reported), certified (as the route stage does, with the target's forwarding mode) and
    given tables. route s = routes + certificate + tables."""
    g = networks.resnet18(seed)
    t0 = time.perf_counter()
    part = partition(g, spikemesh.target("tianjic"), strategy="groups", seed=seed, check_capacity=False)
    gx, gy = part.report["min_grid"]
    t = spikemesh.target(f"tianjic:{gx}x{gy}")
    mesh = Mesh.of(t)
    relays = part.relays
    layer_of = {c.index: "+".join(c.layers) for c in part.cores}
    print(f"\n(b) resnet18: groups partition {part.n_cores} cores, {len(part.traffic):,} traffic rows -> {t.name} "
          f"({t.n_cores} cores; partition {time.perf_counter() - t0:.1f} s, peak RSS {rss_mb():.0f} MB); {load()}")
    print(f"{'placer':8} {'inter-chip':>12} {'hop-weighted':>14} {'max link':>9} {'links':>11} {'place s':>8} "
          f"{'route s':>8} {'(trees':>7} {'cert':>6} {'tables)':>7} {'RSS MB':>7}  routing / certificate")
    out = {}
    for p in ("zigzag", "auto"):
        t0 = time.perf_counter()
        pl = place(part.n_cores, part.traffic, t, p, seed=seed, time_limit=time_limit)
        t1 = time.perf_counter()
        rt = route(pl.coords, part.traffic, t, algorithm="select" if p == "auto" else "xy", seed=seed,
                   time_limit=time_limit)
        t2 = time.perf_counter()
        cert = certify(rt.flat, mesh, pl.coords, relays, layer_of, forwarding=t.noc.forwarding).report
        verdict = (f"deadlock-free, {cert['forwarding']} forwarding in {cert.get('forwarding_phases', '-')} phases "
                   f"({cert['channels']:,} channels, {cert['dependencies']:,} dependencies)")
        t3 = time.perf_counter()
        tab = build_tables(rt.flat, mesh, pl.coords, len(g.inputs), t.noc.table_entries)
        t4 = time.perf_counter()
        try:  # untimed: the same routes if forwarding cores were cut-through (relay edges)
            certify(rt.flat, mesh, pl.coords, relays, layer_of, forwarding="cut_through")
            verdict += "; cut-through relays also acyclic"
        except PlacementError as e:
            n_cyc = str(e).split("available cycle of ")[1].split(" channels")[0]
            verdict += f"; cut-through relay CDG would have a cycle of {n_cyc} channels"
        sel = rt.report.get("selection", {}).get("status", "xy")
        r = {**pl.report, "max_link_load": rt.report["max_link_load"], "place_s": t1 - t0, "route_s": t4 - t1}
        out[p] = r
        print(f"{p:8} {r['interchip_traffic']:>12,.0f} {r['hop_weighted_traffic']:>14,.0f} {r['max_link_load']:>9,.0f} "
              f"{rt.report['links']:>11,} {r['place_s']:>8.1f} {r['route_s']:>8.1f} {t2 - t1:>7.1f} {t3 - t2:>6.1f} "
              f"{t4 - t3:>7.1f} {rss_mb():>7.0f}  {sel}; {verdict}; max table {tab.report['max_table_entries']} "
              f"({tab.report['max_table_entries_compressed']} compressed)")
        if p == "auto":
            print(f"  auto solver: {json.dumps(pl.report['solver'], default=str)[:400]}")
            print(f"  auto routing selection: {rt.report.get('selection')}")
    z, a = out["zigzag"], out["auto"]
    print(f"auto / zigzag: inter-chip {a['interchip_traffic'] / z['interchip_traffic']:.3f} (target <= 0.7), "
          f"hop-weighted {a['hop_weighted_traffic'] / z['hop_weighted_traffic']:.3f}, max link load "
          f"{a['max_link_load'] / z['max_link_load']:.3f}; auto place+route {a['place_s'] + a['route_s']:.1f} s "
          f"(target <= 120); peak RSS {rss_mb():.0f} MB; {load()}")


def conv_small(seed: int = 0) -> spikemesh.Graph:
    """in 2x16x16 -> conv3x3 8 (pad 1) -> conv3x3 stride 2 16 (pad 1) -> FC 10: a small layered conv SNN."""
    from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection

    rng = np.random.default_rng(seed)
    return Graph(inputs=(Input("in", (2, 16, 16)),),
                 populations=(Population("c1", (8, 16, 16), IF()), Population("c2", (16, 8, 8), IF()),
                              Population("fc", (10,), IF())),
                 projections=(Projection("in>c1", "in", "c1", (Conv2d(rng.normal(size=(8, 2, 3, 3)), padding=1),)),
                              Projection("c1>c2", "c1", "c2",
                                         (Conv2d(rng.normal(size=(16, 8, 3, 3)), stride=2, padding=1),)),
                              Projection("c2>fc", "c2", "fc", (Flatten(), Dense(rng.normal(size=(10, 16 * 64)))))),
                 outputs=(Output("out", "fc"),))


def c_instances(seed: int) -> list[tuple[str, np.ndarray]]:
    """16-core instances for a 4x4 mesh: real layered SNN partitions (host inputs included), random sparse
    (15 % of directed pairs), random dense (50 %) and complete (every pair), copies 1..9 per flow."""
    out = []
    for name, g, neurons, strategy in (("mlp 784-512-512-256-10", networks.mlp(seed), 96, "groups"),
                                       ("conv 2x16x16-8-16-10", conv_small(seed), 220, "slicing")):
        t = Target(name="mesh4x4", cores_x=4, cores_y=4, core=CoreSpec(neurons, 1 << 16, 1 << 30),
                   features=frozenset({"IF", "partial_sums"}))
        part = partition(g, t, strategy=strategy, seed=seed)
        assert part.n_cores == 16
        out.append((f"{name} [{strategy}, {neurons}/core]", np.asarray(part.traffic)))
    for kind, density, seeds in (("random sparse", 0.15, range(seed, seed + 5)),
                                 ("random dense", 0.5, range(seed + 100, seed + 105)),
                                 ("random complete", 1.0, range(seed + 200, seed + 202))):
        for s in seeds:
            rng = np.random.default_rng(s)
            out.append((f"{kind} seed {s}", np.array([(i, j, float(rng.integers(1, 10))) for i in range(16)
                                                      for j in range(16) if i != j and rng.random() < density])))
    return out


def case_c(seed: int) -> None:
    t = Target(name="mesh4x4", cores_x=4, cores_y=4, core=CoreSpec(256, 256, 1 << 20))
    print(f"\n(c) cpsat (exact) on 16-core instances, 4x4 mesh, time limit 10; {load()}")
    print(f"{'instance':42} {'flows':>5} {'status':>8} {'objective':>10} {'bound':>10} {'gap':>6} {'prover':>16} "
          f"{'work':>12} {'zigzag':>8} {'seconds':>7}")
    for name, tr in c_instances(seed):
        t0 = time.perf_counter()
        p = place(16, tr, t, "cpsat", seed=seed, time_limit=10.0)
        wall = time.perf_counter() - t0
        z = place(16, tr, t, "zigzag")
        i = p.report["solver"]
        work = i.get("cut_search", {}).get("work", 0) + i.get("branch_and_bound", {}).get("nodes", 0)
        print(f"{name:42} {len(tr):>5} {i['status']:>8} {i['objective']:>10,.0f} {i['bound']:>10,.0f} "
              f"{i['gap']:>6.3f} {i['prover']:>16} {work:>12,} {z.report['cost']:>8,.0f} "
              f"{wall:>7.2f}")
    print(f"  {load()}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["a", "b", "c"], action="append")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for c in args.case or ["c", "a", "b"]:
        {"a": case_a, "b": case_b, "c": case_c}[c](args.seed)
