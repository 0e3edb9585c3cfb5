"""Pieces of the mesh configuration's emission that read one IR node or projection: integer checks and the
smallest integer dtype, the projections stored as conv blocks, the constant (bias) input of a projection per step,
and the header's node table."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikemesh.backends.mesh.config import ConfigError
from spikemesh.ir.graph import Graph, Input, Projection
from spikemesh.ir.operators import Conv, Delay, Identity, SumPool2d
from spikemesh.ir.reference import apply_ops


def int_dtype(lo: int, hi: int) -> type:
    for dt in (np.int8, np.int16, np.int32):
        if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
            return dt
    return np.int64


def as_int(a: np.ndarray, what: str, node: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if not np.all(a == np.round(a)):
        raise ConfigError(f"{what} is not an integer", node=node, needed="an integer (quantized) model",
                          available="float values", hint="compile with quantize=True (the default)")
    return a.astype(np.int64)


def conv_of(graph: Graph, pr: Projection) -> tuple[Conv, int] | None:
    """(the convolution, uniform delay in steps) when ``pr`` is one Conv or SumPool2d with only Identity ops and at
    most one Delay of a single value around it: a projection stored as conv blocks. None otherwise."""
    core = [op for op in pr.ops if not isinstance(op, Identity | Delay)]
    if len(core) != 1 or type(core[0]) not in (Conv, SumPool2d):
        return None
    d = pr.delay_op
    if d is not None and np.unique(d.steps).size > 1:
        return None
    shape = graph.shape_of(pr.source)
    if len(shape) not in (2, 3):
        return None
    op = core[0]
    conv = op._conv(shape[0]) if isinstance(op, SumPool2d) else op
    if conv.ndim != len(shape) - 1:
        return None
    return conv, (0 if d is None else int(d.steps.reshape(-1)[0]) if d.steps.size else 0)


def bias_ramp(graph: Graph, pr: Projection, D: int) -> np.ndarray | None:
    """Constant input of a projection per step ``min(t, D)`` (int64 [D+1, n_target]; docs/semantics.md §4: a
    bias computed before a Delay switches on at step d), or None when the chain has no bias."""
    if not any(getattr(op, "bias", None) is not None for op in pr.ops):
        return None
    src_shape = graph.shape_of(pr.source)
    n_tgt = graph.population[pr.target].size
    zero = np.zeros((1, *src_shape), dtype=np.int64)
    d_op = pr.delay_op
    if d_op is None:
        const = as_int(apply_ops(pr.ops, zero).reshape(-1), "bias", pr.name)
        return np.broadcast_to(const, (D + 1, n_tgt)).copy()
    k = pr.ops.index(d_op)
    pre, post = pr.ops[:k], pr.ops[k + 1:]
    mid_shape = graph.chain_shapes(pr)[k]
    pre_bias = apply_ops(pre, zero).reshape(-1)
    d = np.broadcast_to(d_op.steps, mid_shape).reshape(-1)
    out = np.empty((D + 1, n_tgt), dtype=np.int64)
    for s in range(D + 1):
        mid = np.where(d <= s, pre_bias, 0).astype(np.int64).reshape((1, *mid_shape))
        out[s] = as_int(apply_ops(post, mid).reshape(-1), "bias", pr.name)
    return out


def node_table(graph: Graph, order: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            out.append({"name": name, "kind": "input", "shape": list(node.shape)})
            continue
        n = node.neuron
        lo, hi = n.state_bounds()
        out.append({
            "name": name, "kind": n.kind, "shape": list(node.shape), "spiking": n.spiking,
            "current": n.has_current, "ports": n.ports, "reset": n.reset, "reset_timing": n.reset_timing,
            "comparison": n.comparison, "refractory": n.refractory,
            "v_lo": None if lo == -np.inf else math.ceil(lo), "v_hi": None if hi == np.inf else math.floor(hi),
        })
    return out
