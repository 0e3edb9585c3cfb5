"""IR passes: pure functions Graph -> Graph (BatchNorm folding, quantization, checks)."""

from spikemesh.ir.passes.batchnorm import fold_batchnorm
from spikemesh.ir.passes.quantize import discretization_scale, quantize, signed_range

__all__ = ["fold_batchnorm", "quantize", "discretization_scale", "signed_range"]
