"""Hypothesis strategy: random integer convolution stacks — Conv1d/Conv2d with stride, padding, dilation and groups,
sum pooling before or after a convolution, per-channel or scalar Scale, uniform and per-element delays anywhere in
a chain, residual fan-in (identity or strided 1x1 convolution into the same population), convolutional recurrence
(delay >= 1), multi-port current-based neurons and an optional Flatten ∘ Dense readout."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from spikemesh.errors import GraphError
from spikemesh.ir import (
    Conv1d,
    Conv2d,
    Delay,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Neuron,
    Output,
    Population,
    Projection,
    Scale,
    SumPool2d,
)
from spikemesh.ir.neurons import ARRAY_PARAMS, PORT_PARAMS
from tests.simulator.strategies import neurons


def _shape_after(ops: list, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        for op in ops:
            shape = op.out_shape(shape)
    except GraphError:
        return None
    return shape


@st.composite
def _neuron(draw: st.DrawFn, shape: tuple[int, ...], rng: np.random.Generator) -> Neuron:
    """``strategies.neurons`` with its per-neuron arrays shaped like the population (ports last)."""
    nrn = draw(neurons(math.prod(shape), rng))
    kw = {}
    for k in ARRAY_PARAMS:
        v = np.asarray(getattr(nrn, k))
        per_port = k in PORT_PARAMS and nrn.ports > 1
        if (v.ndim == 2 and per_port) or (v.ndim == 1 and not per_port and v.size > 1):
            kw[k] = v.reshape(*shape, *v.shape[1:])
    return replace(nrn, **kw)


@st.composite
def _conv(draw: st.DrawFn, rng: np.random.Generator, cin: int, nd: int) -> object:
    groups = draw(st.sampled_from([g for g in (1, 2) if cin % g == 0]))
    cout = groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    w = rng.integers(-2, 3, (cout, cin // groups, *(k,) * nd)).astype(float)
    kw = dict(stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 2)), dilation=draw(st.integers(1, 2)),
              groups=groups)
    if draw(st.booleans()):
        kw["bias"] = rng.integers(-1, 2, cout).astype(float)
    return (Conv1d if nd == 1 else Conv2d)(w, **kw)


@st.composite
def conv_stacks(draw: st.DrawFn) -> tuple[Graph, np.ndarray]:
    """A random integer conv stack and an input spike array ``[T, B, *input_shape]``."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    nd = draw(st.sampled_from([1, 2, 2]))
    c0 = draw(st.integers(1, 3))
    in_shape = (c0, *(draw(st.integers(3, 7)) for _ in range(nd)))
    nodes = [("in", in_shape)]
    pops: list[Population] = []
    projs: list[Projection] = []
    for layer in range(draw(st.integers(1, 3))):
        src, shape = nodes[-1]
        ops: list = [draw(_conv(rng, shape[0], nd))]
        if nd == 2 and draw(st.booleans()):
            pk = draw(st.integers(1, 2))
            pool = SumPool2d(pk, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, pk - 1)))
            ops.insert(draw(st.integers(0, 1)), pool)
        if draw(st.booleans()):
            out = _shape_after(ops, shape)
            if out is not None:
                factor = rng.integers(-2, 3, (out[0],) + (1,) * nd) if draw(st.booleans()) else 2.0
                ops.append(Scale(np.asarray(factor, dtype=float)))
        if draw(st.booleans()):
            pos = draw(st.integers(0, len(ops)))
            at = _shape_after(ops[:pos], shape)
            if at is not None:
                d = Delay(rng.integers(0, 3, at)) if draw(st.booleans()) else Delay(draw(st.integers(0, 2)))
                ops.insert(pos, d)
        out = _shape_after(ops, shape)
        if out is None or math.prod(out) > 400:
            break
        name = f"c{layer}"
        pop = Population(name, out, draw(_neuron(out, rng)))
        pops.append(pop)

        def port(pop: Population = pop) -> int:
            return draw(st.integers(0, pop.neuron.ports - 1))

        projs.append(Projection(f"{src}>{name}", src, name, tuple(ops), port()))
        if len(nodes) >= 2 and draw(st.booleans()):  # residual fan-in from two nodes back
            src2, shape2 = nodes[-2]
            res = None
            if shape2 == out:
                res = (Identity(),) if draw(st.booleans()) else (Scale(3.0),)
            else:
                for s in (1, 2, 3):
                    op = Conv1d if nd == 1 else Conv2d
                    c = op(rng.integers(-2, 3, (out[0], shape2[0], *(1,) * nd)).astype(float), stride=s)
                    if _shape_after([c], shape2) == out:
                        res = (c,)
                        break
            if res is not None:
                projs.append(Projection(f"{src2}>{name}:res", src2, name, res, port()))
        if draw(st.booleans()):  # recurrence through a same-shape convolution, delayed >= 1 step
            k = 3 if nd == 2 else 1
            w = rng.integers(-1, 2, (out[0], out[0], *(k,) * nd)).astype(float)
            rec = (Conv1d if nd == 1 else Conv2d)(w, padding=k // 2)
            projs.append(Projection(f"{name}>{name}", name, name, (Delay(draw(st.integers(1, 2))), rec), port()))
        nodes.append((name, out))
    if not pops:
        out = in_shape
        pops.append(Population("c0", out, draw(_neuron(out, rng))))
        projs.append(Projection("in>c0", "in", "c0", (Identity(),)))
        nodes.append(("c0", out))
    if draw(st.booleans()):
        src, shape = nodes[-1]
        n = draw(st.integers(1, 4))
        pops.append(Population("fc", (n,), draw(neurons(n, rng))))
        dense = Dense(rng.integers(-2, 3, (n, math.prod(shape))).astype(float))
        projs.append(Projection(f"{src}>fc", src, "fc", (Flatten(), dense)))
    g = Graph(inputs=(Input("in", in_shape),), populations=tuple(pops), projections=tuple(projs),
              outputs=(Output("out", pops[-1].name),))
    T, B = draw(st.integers(1, 12)), draw(st.integers(1, 2))
    x = (rng.random((T, B, *in_shape)) < draw(st.sampled_from([0.1, 0.4, 0.8]))).astype(float)
    return g, x
