"""Synaptic operators of the IR, by family.

A ``Projection`` (ir/graph.py) carries a chain of these operators applied in order. Shapes are per sample
(no batch axis); ``apply`` takes ``x`` of shape ``[B, *in_shape]``. Conv layouts follow PyTorch/NIR:
channels first, weight ``[out, in/groups, *kernel]``. Every operator gives its output shape, per-neuron
fan-in / fan-out, structural synapse count, and its neuron-level CSR matrix ``[n_in, n_out]`` (row = a
presynaptic neuron, its entries = its targets and weights), built vectorised.

- base.py: ``Op`` (the interface, serialisation and equality) and shared helpers.
- matrix.py: ``Dense``, ``Sparse``.
- conv.py: ``Conv`` (``Conv1d``, ``Conv2d``), ``SumPool2d``, ``AvgPool2d``.
- pointwise.py: ``Reshape`` (``Flatten``), ``Identity``, ``Scale``, ``Delay``, ``BatchNorm``.
This module registers them by name (``OPS``) and rebuilds one from its serialised form (``op_from_dict``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from spikemesh.errors import GraphError
from spikemesh.ir.operators.base import Op, Shape
from spikemesh.ir.operators.conv import AvgPool2d, Conv, Conv1d, Conv2d, SumPool2d
from spikemesh.ir.operators.matrix import Dense, Sparse
from spikemesh.ir.operators.pointwise import BatchNorm, Delay, Flatten, Identity, Reshape, Scale

OPS: dict[str, type[Op]] = {
    cls.__name__: cls
    for cls in (Dense, Sparse, Conv, SumPool2d, AvgPool2d, Reshape, Identity, Scale, Delay, BatchNorm)
}


def op_from_dict(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Op:
    if not isinstance(meta, dict):
        raise GraphError("an operator entry must be an object", needed='{"op": NAME, ...}',
                         available=type(meta).__name__)
    meta = dict(meta)
    name = meta.pop("op", None)
    cls = OPS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise GraphError(f"unknown projection operator {name!r}", needed="one of " + ", ".join(OPS),
                         available=repr(name))
    allowed = {f.name for f in fields(cls)} - set(cls.array_fields)  # type: ignore[arg-type]
    unknown = sorted(set(meta) - allowed)
    if unknown:
        raise GraphError(f"unknown field {unknown[0]!r} of operator {name}", needed=", ".join(sorted(allowed)),
                         available=", ".join(unknown))
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in cls.array_fields:
            kwargs[f.name] = arrays.get(f.name)
        elif f.name in meta:
            v = meta[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)


__all__ = ["OPS", "AvgPool2d", "BatchNorm", "Conv", "Conv1d", "Conv2d", "Delay", "Dense", "Flatten", "Identity", "Op",
           "Reshape", "Scale", "Shape", "Sparse", "SumPool2d", "op_from_dict"]
