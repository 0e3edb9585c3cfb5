"""Frontends: NIR files, PyTorch modules and framework adapters, ANN-to-SNN conversion -> ir.Graph.

Peer frameworks (snnTorch, SpikingJelly, sinabs) and torch are imported only when a function needs them; the
torch and conversion modules themselves are imported on first use (PEP 562), so reading a NIR file loads
neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spikemesh.frontend.common import FrontendWarning
from spikemesh.frontend.nir import load, save_nir, to_nir

_LAZY = {"convert_ann": "spikemesh.frontend.convert", "from_torch": "spikemesh.frontend.torch",
         "register_neuron": "spikemesh.frontend.torch_adapters",
         "unregister_neuron": "spikemesh.frontend.torch_adapters"}

__all__ = ["FrontendWarning", "convert_ann", "from_torch", "load", "register_neuron", "save_nir", "to_nir",
           "unregister_neuron"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from spikemesh.frontend.convert import convert_ann
    from spikemesh.frontend.torch import from_torch
