"""Graph order without networkx and chain fan-in/out without sparse products, checked against networkx's
lexicographic topological sort and against the CSR product (the independent references)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from spikemesh.errors import GraphError
from spikemesh.ir import IF, Conv2d, Dense, Graph, Input, Population, Projection
from spikemesh.ir.graph import _pooled_chain_fans
from spikemesh.ir.operators import AvgPool2d, Delay, Identity, Reshape, SumPool2d


def _random_dag(rng: np.random.Generator, n: int) -> Graph:
    pops = tuple(Population(f"p{i}", (3,), IF(threshold=1.0)) for i in rng.permutation(n))
    names = [p.name for p in pops]
    projs = []
    for j in range(n):  # p{j} takes from the input or from lower-numbered pops (acyclic), some with delay
        srcs = ["in"] + [f"p{i}" for i in range(j) if rng.random() < 0.4]
        for s in srcs:
            if rng.random() < 0.7 or s == "in":
                ops = (Dense(np.ones((3, 3))),) + ((Delay(1),) if rng.random() < 0.2 else ())
                projs.append(Projection(f"{s}_p{j}", s, f"p{j}", ops))
    # back edges with delay make cycles that the order ignores
    for j in range(1, n):
        if rng.random() < 0.2:
            projs.append(Projection(f"back{j}", f"p{j}", f"p{rng.integers(0, j)}", (Dense(np.ones((3, 3))), Delay(1))))
    assert sorted(names) == sorted(f"p{i}" for i in range(n))
    return Graph((Input("in", (3,)),), pops, tuple(projs), ())


def test_topological_order_equals_networkx() -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        g = _random_dag(rng, int(rng.integers(1, 12)))
        dg = g.dependency_graph()
        rank = {n: i for i, n in enumerate(dg.nodes)}
        assert g.topological_order() == list(nx.lexicographical_topological_sort(dg, key=rank.__getitem__))


def test_cycle_without_delay_named() -> None:
    pops = (Population("a", (2,), IF(threshold=1.0)), Population("b", (2,), IF(threshold=1.0)))
    projs = (Projection("in_a", "in", "a", (Dense(np.ones((2, 2))),)),
             Projection("a_b", "a", "b", (Dense(np.ones((2, 2))),)),
             Projection("b_a", "b", "a", (Dense(np.ones((2, 2))),)))
    with pytest.raises(GraphError, match="cycle without delay: (a -> b -> a|b -> a -> b)"):
        Graph((Input("in", (2,)),), pops, projs, ())


def test_pooled_chain_fans_equal_csr_product() -> None:
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(200):
        c, h, w = (int(v) for v in rng.integers(1, 4, 1).tolist() + rng.integers(2, 12, 2).tolist())
        ops, shape = [], (c, h, w)
        for _ in range(int(rng.integers(0, 3))):
            k = int(rng.integers(1, 4))
            if shape[1] // k < 1 or shape[2] // k < 1:
                break
            cls = SumPool2d if rng.random() < 0.5 else AvgPool2d
            op = cls((k, k)) if rng.random() < 0.8 else cls((k, k), (1, 1))  # overlapping: falls back to CSR
            ops.append(op)
            shape = op.out_shape(shape)
            if rng.random() < 0.3:
                ops.append(Identity())
        r = rng.random()
        if r < 0.4:
            k = int(rng.integers(1, min(shape[1], shape[2], 4) + 1))
            op = Conv2d(rng.integers(-1, 2, (int(rng.integers(1, 4)), shape[0], k, k)).astype(float),
                        stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)))
            ops.append(op)
            shape = op.out_shape(shape)
        elif r < 0.7:
            n = int(np.prod(shape))
            ops += [Reshape((n,)), Dense(rng.integers(-1, 2, (int(rng.integers(1, 5)), n)).astype(float))]
            shape = (ops[-1].weight.shape[0],)
        if rng.random() < 0.3:
            ops.append(Delay(1))
        if not ops:
            continue
        g = Graph((Input("in", (c, h, w)),), (Population("p", shape, IF(threshold=1.0)),),
                  (Projection("pr", "in", "p", tuple(ops)),), ())
        pr = g.projections[0]
        fast = _pooled_chain_fans(pr.ops, g.chain_shapes(pr))
        if fast is None:
            continue
        m = g.projection_csr(pr, structure=True)
        assert np.array_equal(fast[0], np.diff(m.tocsc().indptr)) and np.array_equal(fast[1], np.diff(m.indptr))
        checked += 1
    assert checked >= 100
