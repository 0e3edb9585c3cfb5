"""Discretization to DYNAP-CNN precision the way sinabs does it (sinabs/backend/dynapcnn/discretize.py).

Per layer (population) one scale ``s = min(s_w, s_b, s_t)``:
- ``s_w``: weights against 8 bits; ``s_b``: biases against **8** bits (sinabs' choice, although the state is 16
  bits); ``s_t``: the pair (threshold_low, threshold_high) against 16 bits;
- with ``scale(x, b) = |max_d / max(x)|`` if ``|min(x)| <= |max(x)|·|min_d/max_d|`` else ``|min_d / min(x)|``,
  ``min_d = −2^(b−1)``, ``max_d = 2^(b−1) − 1``;
then weights, biases and both thresholds are rounded (half to even, as ``torch.round``).

threshold_low is the neuron's ``v_min``; without one it is −θ (what sinabs' NIR import gives its IAFSqueeze:
``min_v_mem = −v_threshold``) or, with ``min_v_mem="int16"``, −2^15 (sinabs' default for ``min_v_mem=None``, which
makes ``s_t`` = 1). A layer whose values are already integers within range keeps ``s = 1``. AvgPool2d becomes
SumPool2d with 1/k² moved into the next weights (sinabs' rule); the neuron gain is folded into the weights.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikemesh.errors import GraphError
from spikemesh.ir.graph import Graph, Population, Projection
from spikemesh.ir.operators import AvgPool2d, Conv, Dense, Op, SumPool2d
from spikemesh.ir.passes.batchnorm import fold_batchnorm

WEIGHT_BITS = 8
STATE_BITS = 16


def sinabs_scale(values: Any, bits: int) -> float:
    """sinabs' ``determine_discretization_scale`` (inf when every value is 0)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    min_d, max_d = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo, hi = float(x.min()), float(x.max())
    if abs(lo) <= abs(hi) * abs(min_d / max_d):
        return math.inf if hi == 0 else abs(max_d / hi)
    return math.inf if lo == 0 else abs(min_d / lo)


def discretize_layer(weight: np.ndarray, bias: np.ndarray | None, threshold: float, threshold_low: float,
                     ) -> tuple[np.ndarray, np.ndarray | None, int, int, float]:
    """(weight, bias, threshold_high, threshold_low, scale) of one conv + IAF pair, rounded as sinabs does."""
    b = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    s = min(sinabs_scale(weight, WEIGHT_BITS), sinabs_scale(b, WEIGHT_BITS),
            sinabs_scale([threshold_low, threshold], STATE_BITS))
    if not math.isfinite(s):
        s = 1.0
    wq = np.rint(np.asarray(weight, dtype=np.float64) * s)
    bq = None if bias is None else np.rint(b * s)
    return wq, bq, int(np.rint(threshold * s)), int(np.rint(threshold_low * s)), s


def _uniform(arr: np.ndarray, what: str, node: str) -> float:
    a = np.asarray(arr).reshape(-1)
    if not np.all(a == a[0]):
        raise GraphError(f"{what} varies across the layer; a DYNAP-CNN core has one value per layer", node=node,
                         needed="one value", available=f"{a.min()}..{a.max()}")
    return float(a[0])


def _is_int(x: np.ndarray) -> bool:
    return bool(np.all(x == np.round(x)))


def _weighted(ops: tuple[Op, ...], pr: Projection) -> tuple[list[Op], int | None, float]:
    """Ops with AvgPool turned into SumPool, index of the weight op, and the AvgPool factor for it."""
    out: list[Op] = []
    factor = 1.0
    k = None
    for op in ops:
        if isinstance(op, AvgPool2d):
            factor /= op.kernel[0] * op.kernel[1]
            op = SumPool2d(op.kernel, op.stride, op.padding)
        if isinstance(op, (Conv, Dense)):
            if k is not None:
                raise GraphError("two weight layers in one projection", node=pr.name,
                                 hint="a DYNAP-CNN layer is one conv followed by IAF neurons")
            k = len(out)
        out.append(op)
    return out, k, factor


def _with_weights(op: Op, w: np.ndarray, b: np.ndarray | None) -> Op:
    if isinstance(op, Dense):
        return Dense(w, b)
    assert isinstance(op, Conv)
    return Conv(w, b, op.stride, op.padding, op.dilation, op.groups)


def discretize(graph: Graph, min_v_mem: str | float = "threshold") -> tuple[Graph, dict[str, Any]]:
    """The graph with every IF population and its incoming weights at int8 / int16 (see module docstring).

    ``min_v_mem``: threshold_low for neurons without ``v_min``: "threshold" (−θ), "int16" (−2^15) or a number.
    Returns (graph, report) with per-layer ``scale`` and quantized thresholds."""
    g = fold_batchnorm(graph)
    new_projs = {p.name: p for p in g.projections}
    new_pops = {p.name: p for p in g.populations}
    report: dict[str, Any] = {}
    for pop in g.populations:
        n = pop.neuron
        if n.kind != "IF":
            continue  # lowering rejects it with a clear message
        thr = _uniform(n.threshold, "threshold", pop.name)
        gain = _uniform(n.gain, "gain", pop.name)
        leak = np.broadcast_to(n.leak, pop.shape).reshape(pop.shape[0], -1)
        if not np.all(leak == leak[:, :1]):
            raise GraphError("leak varies inside a channel; a DYNAP-CNN bias is one value per feature",
                             node=pop.name)
        leak_c = leak[:, 0].astype(np.float64)
        if n.v_min is not None:
            lo = float(n.v_min)
        elif min_v_mem == "threshold":
            lo = -thr
        elif min_v_mem == "int16":
            lo = -(2.0 ** 15)
        else:
            lo = float(min_v_mem)
        chains = []
        weights, biases = [], [leak_c]
        for pr in g.incoming(pop.name):
            ops, k, factor = _weighted(pr.ops, pr)
            if k is None:
                chains.append((pr, ops, None))
                continue
            op = ops[k]
            w = op.weight * (factor * gain)  # type: ignore[attr-defined]
            b = None if op.bias is None else op.bias * gain  # type: ignore[attr-defined]
            chains.append((pr, ops, (k, w, b)))
            weights.append(w.reshape(-1))
            if b is not None:
                biases.append(np.asarray(b).reshape(-1))
        w_all = np.concatenate(weights) if weights else np.zeros(1)
        b_all = np.concatenate(biases)
        already = (_is_int(w_all) and _is_int(b_all) and _is_int(np.array([thr, lo]))
                   and np.abs(w_all).max(initial=0) <= 127 and w_all.min(initial=0) >= -128
                   and np.abs(b_all).max(initial=0) <= 32767 and abs(thr) <= 32767 and -32768 <= lo <= 32767)
        if already:
            s = 1.0
        else:
            s = min(sinabs_scale(w_all, WEIGHT_BITS), sinabs_scale(b_all, WEIGHT_BITS),
                    sinabs_scale([lo, thr], STATE_BITS))
            if not math.isfinite(s):
                s = 1.0
        for pr, ops, wk in chains:
            if wk is not None:
                k, w, b = wk
                ops[k] = _with_weights(ops[k], np.rint(w * s), None if b is None else np.rint(np.asarray(b) * s))
            new_projs[pr.name] = Projection(pr.name, pr.source, pr.target, tuple(ops))
        thr_q, lo_q = float(np.rint(thr * s)), float(max(-32768, np.rint(lo * s)))
        leak_q = np.rint(np.asarray(n.leak, dtype=np.float64) * s)
        new_pops[pop.name] = Population(pop.name, pop.shape, n.replace(
            threshold=thr_q, leak=leak_q, gain=1.0, v_reset=np.rint(np.asarray(n.v_reset) * s),
            v_min=lo_q, v_max=32767.0, weight_bits=WEIGHT_BITS, state_bits=STATE_BITS))
        report[pop.name] = {"scale": s, "threshold_high": thr_q, "threshold_low": lo_q,
                            "source": "integer" if already else "sinabs"}
    qg = g.replace(populations=tuple(new_pops[p.name] for p in g.populations),
                   projections=tuple(new_projs[p.name] for p in g.projections))
    return qg, report
