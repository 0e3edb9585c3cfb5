"""spikemesh: a neuromorphic hardware compiler and simulator.

Public API (see README): ``load`` / ``save_nir`` (NIR), ``from_torch`` (``register_neuron`` for your own neuron
classes), ``convert_ann``, ``compile``, ``simulate``, ``sweep`` (design-space sweeps), ``from_events`` (event
streams to inputs), ``plot``, ``target``, ``targets``, ``Program``, ``Graph`` and the error base class
``SpikemeshError``; the IR lives in ``spikemesh.ir``.

The names are imported on first use (PEP 562), so ``import spikemesh`` stays cheap and a command pays only for
the packages its path needs (e.g. a Speck compile never imports OR-Tools, Numba or torch).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> (module, attribute)
_LAZY: dict[str, tuple[str, str]] = {
    "targets": ("spikemesh.target.registry", "list_targets"),
    "target": ("spikemesh.target.registry", "target"),
    "SpikemeshError": ("spikemesh.errors", "SpikemeshError"),
    "convert_ann": ("spikemesh.frontend", "convert_ann"),
    "from_torch": ("spikemesh.frontend", "from_torch"),
    "register_neuron": ("spikemesh.frontend", "register_neuron"),
    "from_events": ("spikemesh.simulator.io", "from_events"),
    "load": ("spikemesh.frontend", "load"),
    "save_nir": ("spikemesh.frontend", "save_nir"),
    "Graph": ("spikemesh.ir", "Graph"),
    "fold_batchnorm": ("spikemesh.ir.passes", "fold_batchnorm"),
    "quantize": ("spikemesh.ir.passes", "quantize"),
    "partition": ("spikemesh.partition", "partition"),
    "compile": ("spikemesh.pipeline", "compile"),
    "load_model": ("spikemesh.pipeline", "load_model"),
    "Program": ("spikemesh.program", "Program"),
    "simulate": ("spikemesh.simulate", "simulate"),
    "sweep": ("spikemesh.sweep.run", "sweep"),
    "train": ("spikemesh.trainer.loop", "train"),
}

__all__ = ["Graph", "Program", "SpikemeshError", "__version__", "compile", "convert_ann", "fold_batchnorm",
           "from_events", "from_torch", "load", "load_model", "partition", "quantize", "register_neuron", "save_nir",
           "simulate", "sweep", "target", "targets", "train"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")  # a subpackage: spikemesh.ir, spikemesh.target, ...
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


class _Package(types.ModuleType):
    """``spikemesh.partition``, ``spikemesh.simulate`` and ``spikemesh.sweep`` name both a function and a
    submodule: the public API promises the function, so importing the submodule later must not rebind
    the name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable through sys.modules
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


if TYPE_CHECKING:  # for type checkers and IDEs only
    from spikemesh.errors import SpikemeshError
    from spikemesh.frontend import convert_ann, from_torch, load, register_neuron, save_nir
    from spikemesh.ir import Graph
    from spikemesh.ir.passes import fold_batchnorm, quantize
    from spikemesh.partition import partition
    from spikemesh.pipeline import compile, load_model
    from spikemesh.program import Program
    from spikemesh.simulate import simulate
    from spikemesh.simulator.io import from_events
    from spikemesh.sweep.run import sweep
    from spikemesh.target.registry import list_targets as targets
    from spikemesh.target.registry import target
    from spikemesh.trainer.loop import train
