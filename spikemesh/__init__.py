"""spikemesh: a neuromorphic hardware compiler and simulator.

Public API (see README): load, from_torch, convert_ann, quantize, compile, simulate, target, Program.
"""

from spikemesh.errors import SpikemeshError

__version__ = "0.1.0"

__all__ = ["SpikemeshError", "__version__"]
