"""Backends: targets as data (base.py) and one module per target family emitting chip configurations."""
