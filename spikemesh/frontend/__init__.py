"""Frontends: NIR files, PyTorch modules and framework adapters, ANN-to-SNN conversion -> ir.Graph.

Peer frameworks (snnTorch, SpikingJelly, sinabs) and torch are imported only when a function needs them.
"""

from spikemesh.frontend.common import FrontendWarning
from spikemesh.frontend.nir import load, save_nir, to_nir

__all__ = ["FrontendWarning", "load", "save_nir", "to_nir"]
