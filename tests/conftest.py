"""Shared test fixtures: small IR graphs built by hand."""

from __future__ import annotations

import numpy as np
import pytest

from spikemesh.ir import (
    IF,
    LIF,
    Conv2d,
    Dense,
    Flatten,
    Graph,
    Input,
    Integrator,
    Output,
    Population,
    Projection,
    SumPool2d,
)


@pytest.fixture
def conv_graph() -> Graph:
    """in 2x8x8 -> conv 4x8x8 (LIF) -> sumpool -> 64 IF -> 3 integrator readout."""
    rng = np.random.default_rng(0)
    return Graph(
        inputs=(Input("in", (2, 8, 8)),),
        populations=(Population("c1", (4, 8, 8), LIF(0.875)), Population("p", (64,), IF()),
                     Population("o", (3,), Integrator())),
        projections=(Projection("a", "in", "c1", (Conv2d(rng.integers(-3, 4, (4, 2, 3, 3)).astype(float),
                                                          padding=1),)),
                     Projection("b", "c1", "p", (SumPool2d(2), Flatten())),
                     Projection("c", "p", "o", (Dense(rng.integers(-3, 4, (3, 64)).astype(float)),))),
        outputs=(Output("out", "o"),),
    )
