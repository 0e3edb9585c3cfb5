"""Frontends: NIR files, PyTorch modules and framework adapters, ANN-to-SNN conversion -> ir.Graph.

Peer frameworks (snnTorch, SpikingJelly, sinabs) and torch are imported only when a function needs them.
"""

from spikemesh.frontend.common import FrontendWarning
from spikemesh.frontend.convert import convert_ann
from spikemesh.frontend.nir import load, save_nir, to_nir
from spikemesh.frontend.torch import from_torch

__all__ = ["FrontendWarning", "convert_ann", "from_torch", "load", "save_nir", "to_nir"]
