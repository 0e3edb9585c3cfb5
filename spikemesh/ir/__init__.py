"""The spike-graph IR: graph, neuron models, projection operators, passes, serialisation, reference executor."""

from spikemesh.ir.graph import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import IF, LI, LIF, CubaLIF, Integrator, Neuron
from spikemesh.ir.operators import (
    AvgPool2d,
    BatchNorm,
    Conv,
    Conv1d,
    Conv2d,
    Delay,
    Dense,
    Flatten,
    Identity,
    Reshape,
    Scale,
    Sparse,
    SumPool2d,
)
from spikemesh.ir.result import SimResult

__all__ = [
    "Graph", "Input", "Output", "Population", "Projection", "Neuron", "IF", "LIF", "CubaLIF", "LI", "Integrator",
    "AvgPool2d", "BatchNorm", "Conv", "Conv1d", "Conv2d", "Delay", "Dense", "Flatten", "Identity", "Reshape",
    "Scale", "Sparse", "SumPool2d", "SimResult",
]
