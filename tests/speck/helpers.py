"""Hand-built IR graphs for the Speck tests."""

from __future__ import annotations

import numpy as np

from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection, SumPool2d


def chain(specs: list[dict], in_shape: tuple[int, int, int], seed: int = 0, weights: str = "int",
          threshold: float = 1.0, comparison: str = ">=", reset: str = "subtract") -> Graph:
    """A feed-forward chain: each spec has ``kind`` "conv" (c_out, k, s, p, pool_before) or "dense" (n_out,
    pool_before). Integer weights in [-3, 6] (``weights="int"``) or floats."""
    rng = np.random.default_rng(seed)
    pops, projs = [], []
    src, shape = "in", in_shape
    for i, sp in enumerate(specs):
        ops = []
        pool = sp.get("pool", 1)
        if pool > 1:
            ops.append(SumPool2d(pool))
            shape = (shape[0], shape[1] // pool, shape[2] // pool)
        if sp["kind"] == "conv":
            c_in = shape[0]
            w = rng.integers(-3, 7, (sp["c"], c_in, sp["k"], sp["k"])) if weights == "int" else \
                rng.normal(0, 0.5, (sp["c"], c_in, sp["k"], sp["k"]))
            op = Conv2d(w.astype(float), stride=sp.get("s", 1), padding=sp.get("p", 0))
            ops.append(op)
            shape = op.out_shape(shape)
        else:
            n_in = int(np.prod(shape))
            if len(shape) > 1:
                ops.append(Flatten())
            w = rng.integers(-3, 7, (sp["c"], n_in)) if weights == "int" else rng.normal(0, 0.5, (sp["c"], n_in))
            ops.append(Dense(w.astype(float)))
            shape = (sp["c"],)
        name = f"L{i}"
        pops.append(Population(name, shape, IF(threshold=sp.get("thr", threshold), comparison=comparison,
                                                reset=reset)))
        projs.append(Projection(f"p{i}", src, name, tuple(ops)))
        src = name
    return Graph(inputs=(Input("in", in_shape),), populations=tuple(pops), projections=tuple(projs),
                 outputs=(Output("out", src),))
