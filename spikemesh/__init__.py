"""spikemesh: a neuromorphic hardware compiler and simulator.

Public API (see README): ``load`` / ``save_nir`` (NIR), ``from_torch``, ``convert_ann``, ``compile``,
``simulate``, ``target``, ``targets``, ``Program``, ``Graph`` and the error base class ``SpikemeshError``;
the IR lives in ``spikemesh.ir``.
"""

from spikemesh.backends.targets import list_targets as targets
from spikemesh.backends.targets import target
from spikemesh.errors import SpikemeshError
from spikemesh.frontend import convert_ann, from_torch, load, save_nir
from spikemesh.ir import Graph
from spikemesh.ir.passes import fold_batchnorm, quantize
from spikemesh.partition import partition
from spikemesh.pipeline import compile, load_model
from spikemesh.program import Program
from spikemesh.simulate import simulate
from spikemesh.simulator.cores.training.loop import train

__version__ = "0.1.0"

__all__ = ["Graph", "Program", "SpikemeshError", "__version__", "compile", "convert_ann", "fold_batchnorm",
           "from_torch", "load", "load_model", "partition", "quantize", "save_nir", "simulate", "target", "targets",
           "train"]
