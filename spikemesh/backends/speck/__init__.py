"""Speck / DYNAP-CNN backend: preset, fit rules, sinabs-style discretization, lowering to DYNAP-CNN layers,
layer → core assignment, chip configuration (facts from sinabs' ``sinabs.backend.dynapcnn`` and its Speck
documentation). The async engine is in spikemesh/backends/speck/async_engine.py."""

from spikemesh.backends.speck.memory import check_rules, conv_out_hw, layer_memory
from spikemesh.backends.speck.preset import BIAS_ENTRIES, KERNEL_ENTRIES, NEURON_ENTRIES, speck

__all__ = ["BIAS_ENTRIES", "KERNEL_ENTRIES", "NEURON_ENTRIES", "check_rules", "conv_out_hw", "layer_memory", "speck"]
