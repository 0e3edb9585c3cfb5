"""BatchNorm folding: ``BatchNorm`` ops merged into the Dense / Conv right before them in a projection chain.

For a BatchNorm with per-channel scale ``a = γ / sqrt(var + eps)`` and shift ``c = β − a·mean`` following an
affine op ``y = W x + b`` (channel = output row of Dense, output channel of Conv):
``BN(W x + b) = (a ⊙ W) x + (a ⊙ b + c)`` exactly, so the pair becomes one op with weight ``a ⊙ W`` and bias
``a ⊙ b + c`` (the rule sinabs applies in ``handle_batchnorm_nodes``, sinabs/backend/dynapcnn/nir_graph_extractor.py).

Only a BatchNorm *immediately* after a Dense or Conv (Identity ops in between are skipped) is folded: across
a pooling op the shift would be summed once per window tap, across a Reshape the channel axis changes, and
across a Delay the first steps would carry the shift instead of zero. Other BatchNorms stay in the chain
(``quantize`` then refuses the graph with an error naming the projection).
"""

from __future__ import annotations

import numpy as np

from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import BatchNorm, Conv, Dense, Identity, Op


def _fold_into(op: Dense | Conv, bn: BatchNorm) -> Dense | Conv:
    a, c = bn.scale_shift()
    n_out = op.weight.shape[0]
    if len(a) != n_out:  # shape inference already checked this; keep the op unchanged if not
        return op
    w = op.weight * a.reshape((-1,) + (1,) * (op.weight.ndim - 1))
    b0 = op.bias if op.bias is not None else np.zeros(n_out)
    b = a * b0 + c
    if isinstance(op, Dense):
        return Dense(w, b)
    return Conv(w, b, op.stride, op.padding, op.dilation, op.groups)


def fold_chain(ops: tuple[Op, ...]) -> tuple[Op, ...]:
    """The op chain with every foldable BatchNorm merged into the preceding Dense / Conv."""
    out: list[Op] = []
    for op in ops:
        if isinstance(op, BatchNorm):
            k = len(out) - 1
            while k >= 0 and isinstance(out[k], Identity):
                k -= 1
            if k >= 0 and isinstance(out[k], (Dense, Conv)):
                out[k] = _fold_into(out[k], op)  # type: ignore[arg-type]
                continue
        out.append(op)
    return tuple(out)


def fold_batchnorm(graph: Graph) -> Graph:
    """A new Graph where BatchNorm ops that directly follow a Dense or Conv are folded into its weight and
    bias. Exact up to float rounding; BatchNorms that cannot be folded are kept."""
    projs = []
    for pr in graph.projections:
        ops = fold_chain(pr.ops)
        projs.append(pr if ops == pr.ops else Projection(pr.name, pr.source, pr.target, ops, pr.port))
    return graph.replace(projections=tuple(projs))
