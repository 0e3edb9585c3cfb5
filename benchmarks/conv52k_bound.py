"""Lower bound on the hop-weighted traffic of every placement of benchmark (a) (conv52k, `groups` partition,
15x15 mesh, host inputs at router (0, 0)), to compare with the placers' figures (placement.py --case a).

Structure used (checked): cores split into A (conv1: host inputs, edges to B only), B (conv2: edges to A and to
the hub) and the hub h (fc: edges to B only). Slots are (x, y), |s| = x + y, d = Manhattan distance.

For a fixed hub slot F every placement pays, exactly, Σ_a host_a |s_a| + Σ_b w_bh d(s_b, F) + Σ_e w_e d(s_a, s_b)
over A-B edges e = (a, b). Per edge, for multipliers t2_e, t3_e >= 0 with t1_e = 1 - t2_e - t3_e >= 0,

    d(s_a, s_b) >= t1_e d(s_a, s_b) + t2_e (|s_b| - |s_a|) + t3_e (d(s_a, F) - d(s_b, F))   (triangle inequality),

and Σ_a∈N(b) t1_e w_e d(s_a, s_b) >= GL_b(s_b): b's weights t1_e w_e sorted down against the distances from s_b
to the other slots except F sorted up (Gilmore-Lawler). What remains is a sum of per-core functions of the
core's own slot, so its minimum over injective maps onto the slots other than F is a linear assignment problem:
a valid lower bound for every placement with the hub on F, for any multipliers. Multipliers: the best of a
global grid, then (for the hub slots that grid leaves lowest) per-edge projected subgradient ascent, keeping the
best value seen. The bound is the minimum over all hub slots; the transpose keeps the mesh, host router and
every cost, so only slots with x >= y are solved.

    PYTHONPATH=. python benchmarks/conv52k_bound.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).parent))
import networks  # noqa: E402

from spikemesh.partition import partition  # noqa: E402
from spikemesh.placement import place  # noqa: E402
from spikemesh.placement.problem import Problem, evaluate  # noqa: E402
from spikemesh.target.model import CoreSpec, NocSpec, Target  # noqa: E402
from spikemesh.target.topology import Mesh  # noqa: E402

#: 0.33 x zigzag (764,850), the figure asked for
TARGET = 252_400.0
#: hub slots whose global-grid bound is below this get per-edge subgradient ascent
REFINE_BELOW = 262_000.0
GRID = tuple((a, b) for a in (0.0, 0.05, 0.1, 0.15) for b in (0.1, 0.15, 0.2, 0.25, 0.3))


class Bound:
    """The relaxation for one problem on a width x height mesh (slot s = y × width + x, as topology.Mesh)."""

    def __init__(self, problem: Problem, width: int, height: int, hub: int | None = None) -> None:
        """``hub``: the hub core; default the core without host inputs that has the most neighbours."""
        p = problem.pairs
        i, j, c = p[:, 0].astype(np.int64), p[:, 1].astype(np.int64), p[:, 2]
        deg = np.bincount(np.concatenate([i, j]), minlength=problem.n)
        hub = int(np.argmax(deg * (problem.host_w == 0))) if hub is None else int(hub)
        b_set = np.unique(np.where(i == hub, j, i)[(i == hub) | (j == hub)])
        a_set = np.setdiff1d(np.arange(problem.n), np.append(b_set, hub))
        in_a, in_b = np.isin(np.arange(problem.n), a_set), np.isin(np.arange(problem.n), b_set)
        hub_e = (i == hub) | (j == hub)
        ab = (in_a[i] & in_b[j]) | (in_b[i] & in_a[j])
        assert (hub_e | ab).all() and not problem.host_w[b_set].any() and problem.host_w[hub] == 0
        self.na, self.nb = len(a_set), len(b_set)
        ra = np.full(problem.n, -1)
        ra[a_set] = np.arange(self.na)
        ra[b_set] = np.arange(self.nb)
        ea, eb = np.where(in_a[i], i, j)[ab], np.where(in_a[i], j, i)[ab]
        self.ei, self.ej, self.ew = ra[ea], ra[eb], c[ab]
        self.hub_w = np.zeros(self.nb)
        self.hub_w[ra[np.where(i == hub, j, i)[hub_e]]] = c[hub_e]
        self.host = problem.host_w[a_set]
        self.a_set, self.b_set, self.hub = a_set, b_set, hub
        k = int(np.bincount(self.ej, minlength=self.nb).max())
        self.edges_of_b = np.full((self.nb, k), -1)
        fill = np.zeros(self.nb, dtype=np.int64)
        for e, b in enumerate(self.ej):
            self.edges_of_b[b, fill[b]] = e
            fill[b] += 1
        self.width, self.n_slots = width, width * height
        xs, ys = np.arange(self.n_slots) % width, np.arange(self.n_slots) // width
        self.norm = (xs + ys).astype(np.float64)
        self.dist = (np.abs(xs[:, None] - xs[None]) + np.abs(ys[:, None] - ys[None])).astype(np.float64)

    def value(self, f: int, t2: np.ndarray, t3: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Lower bound for hub slot ``f`` with per-edge multipliers; also the A-then-B slots of the minimiser
        and each A-B edge's Gilmore-Lawler distance there (for the subgradient)."""
        dm = self.dist + np.diag(np.full(self.n_slots, np.inf))
        dm[:, f] = np.inf
        near = np.sort(dm, axis=1)[:, : self.edges_of_b.shape[1]]
        df = self.dist[f]
        na, nb, ei, ej, ew = self.na, self.nb, self.ei, self.ej, self.ew
        cost = np.empty((na + nb, self.n_slots))
        a2 = np.bincount(ei, weights=t2 * ew, minlength=na)
        a3 = np.bincount(ei, weights=t3 * ew, minlength=na)
        cost[:na] = (self.host - a2)[:, None] * self.norm[None] + a3[:, None] * df[None]
        b2 = np.bincount(ej, weights=t2 * ew, minlength=nb)
        b3 = np.bincount(ej, weights=t3 * ew, minlength=nb)
        gw = np.where(self.edges_of_b >= 0, ((1.0 - t2 - t3) * ew)[self.edges_of_b], 0.0)
        order = np.argsort(-gw, axis=1, kind="stable")
        cost[na:] = ((self.hub_w - b3)[:, None] * df[None] + b2[:, None] * self.norm[None]
                     + np.take_along_axis(gw, order, 1) @ near.T)
        cost[:, f] = 1e15
        r, col = linear_sum_assignment(cost)
        pos = np.empty(na + nb, dtype=np.int64)
        pos[r] = col
        rank = np.argsort(order, axis=1)
        dgl = np.zeros(len(ew))
        for q in range(self.edges_of_b.shape[1]):
            e = self.edges_of_b[:, q]
            ok = e >= 0
            dgl[e[ok]] = near[pos[na:][ok], rank[ok, q]]
        return float(cost[r, col].sum()), pos, dgl

    def refine(self, f: int, t2: float, t3: float, iters: int = 300, eta0: float = 0.02) -> float:
        """Per-edge projected subgradient ascent from global multipliers (t2, t3); the best value seen."""
        e = len(self.ew)
        m2, m3 = np.full(e, t2), np.full(e, t3)
        best = -np.inf
        si_of = self.ei
        for k in range(iters):
            val, pos, dgl = self.value(f, m2, m3)
            best = max(best, val)
            si, sj = pos[si_of], pos[self.na + self.ej]
            g2 = self.ew * (self.norm[sj] - self.norm[si] - dgl)
            g3 = self.ew * (self.dist[f][si] - self.dist[f][sj] - dgl)
            step = eta0 / (1.0 + k / 100.0) * np.sqrt(e) / (np.sqrt((g2 ** 2).sum() + (g3 ** 2).sum()) + 1e-9)
            m2, m3 = np.clip(m2 + step * g2, 0.0, 1.0), np.clip(m3 + step * g3, 0.0, 1.0)
            over = m2 + m3 > 1.0
            tot = (m2 + m3)[over]
            m2[over] /= tot
            m3[over] /= tot
        return best


def main() -> None:
    t = Target(name="mesh15x15", cores_x=15, cores_y=15, core=CoreSpec(256, 16384, 1 << 26), noc=NocSpec(),
               features=frozenset({"IF", "partial_sums"}))
    part = partition(networks.conv52k(0), t, strategy="groups", seed=0)
    problem, mesh = Problem.of(part.n_cores, part.traffic), Mesh.of(t)
    zz = place(part.n_cores, part.traffic, t, "zigzag").report["hop_weighted_traffic"]
    bd = Bound(problem, mesh.width, mesh.height)
    print(f"A {bd.na} cores, B {bd.nb}, hub core {bd.hub}; zigzag {zz:,.0f}, target {TARGET:,.0f}")
    t0 = time.perf_counter()
    e = len(bd.ew)
    table = np.zeros((mesh.height, mesh.width))
    for fy in range(mesh.height):
        for fx in range(fy, mesh.width):
            f = fy * mesh.width + fx
            vals = [bd.value(f, np.full(e, a), np.full(e, b))[0] for a, b in GRID]
            k = int(np.argmax(vals))
            v = vals[k]
            if v < REFINE_BELOW:
                v = max(v, bd.refine(f, *GRID[k]))
            table[fy, fx] = table[fx, fy] = v
    lb = float(table.min())
    fy, fx = np.unravel_index(int(np.argmin(table)), table.shape)
    print(f"lower bound {lb:,.1f} = {lb / zz:.4f} x zigzag (hub at ({fx}, {fy})); {time.perf_counter() - t0:.0f} s")
    print(f"  => no placement reaches {TARGET:,.0f}" if lb > TARGET else "  => target not excluded")
    print("bound / 1000 per hub slot (row y, column x):")
    for row in table:
        print(" ".join(f"{v / 1000:6.1f}" for v in row))
    auto = place(part.n_cores, part.traffic, t, "auto", seed=0)
    slot = auto.coords[:, 3].astype(np.int64) * mesh.width + auto.coords[:, 2]
    print(f"auto: {evaluate(problem, slot, mesh)['hop_weighted_traffic']:,.0f} "
          f"(>= bound at its hub slot {table[slot[bd.hub] // mesh.width, slot[bd.hub] % mesh.width]:,.0f})")


if __name__ == "__main__":
    main()
