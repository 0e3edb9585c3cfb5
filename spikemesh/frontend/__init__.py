"""Frontends: NIR files, PyTorch modules and framework adapters, ANN-to-SNN conversion -> ir.Graph."""
