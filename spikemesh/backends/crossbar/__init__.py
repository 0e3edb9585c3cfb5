"""The crossbar family: memristor tile arrays. Presets and the ``[extra.crossbar]`` section (target.py), weight
tiling (tiling.py), array groups as partition cores and the programmed ``config`` section (cores.py), the stage
list (stages.py), device non-idealities (devices.py), IR drop (irdrop.py), DAC/ADC (peripherals.py), the
``crossbar`` engine (engine.py) and PRIME's random-conductance networks (prime.py)."""
