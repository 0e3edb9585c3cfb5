"""The memristor-crossbar target family: compile stages, chip configuration, device and periphery models, engine.

- target.py: the target presets (``crossbar``, ``crossbar-256``, ``crossbar-512``), ``CrossbarConfig`` (the
  ``[extra.crossbar]`` section) and the per-action energy table.
- tiling.py: each projection's weighted operator cut into bit-sliced row x column tiles of arrays, weights
  encoded as cell levels.
- tiles.py: the tiles as partition cores (one array group = one logical core): ``crossbar_partition``.
- config.py: the ``config`` Program section (``CrossbarProgram``: array parameters, placed tiles, programmed
  levels), built by ``crossbar_program``.
- stages.py: the family's stage list (lower, partition, place, route, crossbar).
- devices.py: device non-idealities (PCM programming noise, drift, read noise, faults, finite levels).
- peripherals.py: DAC and ADC models.
- irdrop.py: IR drop on the array wires (closed form and nodal solve).
- engine.py: the ``crossbar`` simulation engine.
- prime.py: PRIME training utilities (a learned mask over fixed random device levels, early stop).
"""
