"""Hypothesis strategies: random integer graphs covering every neuron kind, reset mode and timing, comparison,
refractory, clamps, delays (uniform and per element), recurrence, conv/pool chains and multi-port current-based
neurons (``Neuron.ports`` 1–3, per-port decays scalar or per neuron, projections on random ports)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from spikemesh.ir import (
    Conv2d,
    Delay,
    Dense,
    Flatten,
    Graph,
    Input,
    Neuron,
    Output,
    Population,
    Projection,
    Sparse,
    SumPool2d,
)

KINDS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator")


@st.composite
def neurons(draw: st.DrawFn, n: int, rng: np.random.Generator, integer: bool = True) -> Neuron:
    kind = draw(st.sampled_from(KINDS))
    grid = 4096 if integer else 16
    beta = 1.0 if kind in ("IF", "Integrator") else draw(st.integers(grid // 2, grid)) / grid
    alpha = draw(st.integers(0, grid)) / grid
    per_neuron = draw(st.booleans())
    thr = rng.integers(1, 12, n).astype(float) if per_neuron else float(draw(st.integers(1, 12)))
    # int mode: always bounded (the reference needs both bounds finite in int mode)
    state_bits = draw(st.sampled_from([6, 8, 16])) if integer else None
    vmin = draw(st.sampled_from([None, -8.0, 0.0]))
    kw = dict(
        beta=beta, alpha=alpha, gain=float(draw(st.integers(1, 3))), syn_gain=float(draw(st.integers(1, 2))),
        leak=float(draw(st.integers(-1, 1))), threshold=thr, v_reset=float(draw(st.integers(-2, 0))),
        comparison=draw(st.sampled_from([">=", ">"])),
        reset=draw(st.sampled_from(["zero", "subtract", "none"])),
        reset_timing=draw(st.sampled_from(["before_decay", "after_decay"])),
        refractory=draw(st.integers(0, 3)), v_min=vmin, v_max=draw(st.sampled_from([None, 20.0])),
        state_bits=state_bits,
    )
    if kind in ("LI", "CubaLI", "Integrator"):
        kw["reset"] = "none"
    if kind in ("CubaLIF", "CubaLI"):
        ports = draw(st.integers(1, 3))
        if ports > 1:
            kw["ports"] = ports
            if draw(st.booleans()):  # one decay per port, or per neuron and port
                kw["alpha"] = [draw(st.integers(0, grid)) / grid for _ in range(ports)]
            else:
                kw["alpha"] = rng.integers(0, grid + 1, (n, ports)) / grid
            kw["syn_gain"] = [float(draw(st.integers(1, 2))) for _ in range(ports)]
    return Neuron(kind, **kw)


def _port(draw: st.DrawFn, pop: Population) -> int:
    return draw(st.integers(0, pop.neuron.ports - 1))


@st.composite
def integer_graphs(draw: st.DrawFn, integer: bool = True) -> tuple[Graph, np.ndarray]:
    """A random graph and an input array ``[T, B, *input_shape]``."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    conv = draw(st.booleans())
    scale = 1.0 if integer else 0.125
    in_shape = (2, 4, 4) if conv else (draw(st.integers(1, 6)),)
    n_pop = draw(st.integers(1, 4))
    pops, projs = [], []
    sizes = []
    for k in range(n_pop):
        n = draw(st.integers(1, 7))
        pops.append(Population(f"p{k}", (n,), draw(neurons(n, rng, integer))))
        sizes.append(n)
    # feed-forward from the input into p0 (conv chain or dense)
    if conv:
        w = rng.integers(-3, 4, (2, 2, 3, 3)).astype(float) * scale
        ops = [Conv2d(w, bias=rng.integers(-1, 2, 2).astype(float) * scale, padding=1), SumPool2d(2), Flatten()]
        if draw(st.booleans()):
            ops.insert(1, Delay(draw(st.integers(0, 2))))
        ops.append(Dense(rng.integers(-2, 3, (sizes[0], 8)).astype(float) * scale))
        projs.append(Projection("in_p0", "in", "p0", tuple(ops), _port(draw, pops[0])))
    else:
        projs.append(Projection("in_p0", "in", "p0", (Dense(rng.integers(-3, 5, (sizes[0], in_shape[0])) * scale),),
                                _port(draw, pops[0])))
    # random extra edges: forward (any delay), backward/self (delay >= 1)
    n_edges = draw(st.integers(0, 5))
    for e in range(n_edges):
        s = draw(st.integers(0, n_pop - 1))
        t = draw(st.integers(0, n_pop - 1))
        src, tgt = f"p{s}", f"p{t}"
        ns, nt = sizes[s], sizes[t]
        if draw(st.booleans()):
            dense = rng.integers(-3, 4, (ns, nt)) * (rng.random((ns, nt)) < 0.6)
            import scipy.sparse as sp

            op = Sparse.from_matrix(sp.csr_matrix(dense.astype(float) * scale))
        else:
            op = Dense(rng.integers(-3, 4, (nt, ns)).astype(float) * scale,
                       bias=(rng.integers(-1, 2, nt).astype(float) * scale if draw(st.booleans()) else None))
        lo = 0 if t > s else 1
        per_elem = draw(st.booleans())
        if per_elem:
            d = rng.integers(lo, 4, ns)
            ops = (Delay(d), op) if draw(st.booleans()) else (op, Delay(rng.integers(lo, 4, nt)))
            if lo == 0 and draw(st.booleans()):
                ops = (op,)
        else:
            dv = draw(st.integers(lo, 3))
            ops = (op, Delay(dv)) if dv or draw(st.booleans()) else (op,)
        projs.append(Projection(f"e{e}", src, tgt, ops, _port(draw, pops[t])))
    g = Graph(inputs=(Input("in", in_shape),), populations=tuple(pops), projections=tuple(projs),
              outputs=(Output("out", f"p{n_pop - 1}"),))
    T = draw(st.integers(1, 30))
    B = draw(st.integers(1, 2))
    x = rng.integers(-1, 3, (T, B, *in_shape)).astype(float)
    if conv or draw(st.booleans()):
        x = (rng.random((T, B, *in_shape)) < 0.4).astype(float)
    return g, x
