"""The multi-core training engine (DESIGN §6 ``training``): functional BPTT on FP / BP / WG engines per core,
op counts, cycles, memory traffic and energy (shared/research/crossbar_training.md §4)."""
