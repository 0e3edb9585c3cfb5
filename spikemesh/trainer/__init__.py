"""The training target family: BPTT training of an IR graph on a multi-core architecture with FP (forward), BP
(backward) and WG (weight-gradient) engines per core, and what a mini-batch costs there and on a GPU.

The architecture is that of Li et al., "A High Energy-Efficiency Multi-core Neuromorphic Architecture for Deep SNN
Training", arXiv:2412.05302; what it does not publish is a stated assumption in spec.py.

- spec.py: the target spec (``TrainerSpec``, the ``trainer`` preset and the sources of its numbers).
- stages.py: the family's compile stages (lower only).
- bptt.py: ``TrainingGraph``, an IR graph prepared for training, and its FP and BP + WG passes (functional BPTT).
- neuron_kernels.py, conv_kernels.py: Numba kernels of the per-neuron recursion and of the 2-D convolution.
- op_rules.py: forward, vector-Jacobian and weight-gradient rules of the projection operators; initial parameters.
- losses.py: losses on the output and their gradients.
- optimisers.py: Adam, SGD and the cosine learning-rate decay.
- loop.py: ``train()`` (single, data-parallel and federated workers) and ``run_fp`` (the FP engine as a
  simulation engine).
- counts.py: sparsity-gated FP / BP / WG operation counts.
- layout.py: the layer → core distribution.
- chip_cost.py: the on-chip cost model (cycles, SRAM / DRAM / NoC traffic, energy, TFLOPS/W) of one mini-batch.
- gpu_baseline.py: the DRAM traffic of the same mini-batch in PyTorch BPTT on a GPU.
- report.py: writing a training run to a build directory.
"""
