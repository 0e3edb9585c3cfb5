"""The ``lower`` stage every family runs: check that the target supports what the graph needs (features.py), fold
BatchNorm into the weights, then quantize to the target's weight and state widths (an integer model that already
fits keeps scale 1 and is unchanged)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from spikemesh.backends.features import check_features
from spikemesh.ir.passes import fold_batchnorm, quantize


def lower_stage(program: Any, options: Any) -> Any:
    """Record the model summary and, with ``options.quantize``, the per-layer scales. Raises TargetError naming
    the population and the missing feature when the target lacks one the graph needs."""
    check_features(program.graph, program.target)
    g = fold_batchnorm(program.graph)
    report: dict[str, Any] = {}
    if options.quantize:
        core = program.target.core
        g, scales = quantize(g, weight_bits=core.weight_bits, state_bits=core.state_bits)
        report["quantization"] = {"weight_bits": core.weight_bits, "state_bits": core.state_bits,
                                  "layers": scales}
    return replace(program, graph=g).with_report(model=g.summary(), **report)
