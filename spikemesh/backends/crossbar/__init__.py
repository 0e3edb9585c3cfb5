"""Memristor-crossbar core model: device non-idealities (devices.py), IR drop (irdrop.py), DAC/ADC (peripherals.py),
weight tiling (mapping.py) and the ``crossbar`` engine (engine.py)."""
