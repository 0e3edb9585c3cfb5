"""Benchmark networks built directly in the IR (random seeded weights; structure is what mapping measures).

- ``conv52k``: input 3x32x32 → conv3x3 32 (pad 1) → conv3x3 stride 2 64 (pad 1) → FC 10;
  49,162 spiking neurons + 3,072 inputs = 52,234 nodes, 5.54 M synapses; at 256 neurons per core 193 cores hold the
  neurons and 12 more the inputs (205).
- ``resnet18``: CIFAR-10 ResNet-18 with IF neurons: conv3x3 64 at 32x32, four stages of two basic blocks
  (64/128/256/512 channels at 32/16/8/4), residual sums as fan-in (identity, or 1x1 stride-2 conv on a
  downsampling block), 4x4 average pool, FC 10: 557,066 neurons. ``resnet18_imagenet``: the 224x224 version.
- ``mlp``: 784-512-512-256-10.
- ``snn2conv``: a snnTorch-style SNN: input 2x32x32 → conv3x3 2→8 (pad 1) → LIF β 0.9 → 2x2 average
  pool → conv3x3 8→16 (pad 1) → LIF → 2x2 average pool → fc 1024→10 → LIF; 12,298 neurons. Each pool sits in the
  projection after the population it pools (as the torch frontend converts it), so conv2's projection is
  AvgPool2d(2) ∘ Conv2d and fc's is AvgPool2d(2) ∘ Flatten ∘ Dense.

Weights are N(0, 1/fan_in) scaled to unit-ish thresholds; they carry no trained meaning.
"""

from __future__ import annotations

import numpy as np

from spikemesh.ir import (
    IF,
    LIF,
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    Graph,
    Identity,
    Input,
    Output,
    Population,
    Projection,
)


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    fan_in = int(np.prod(shape[1:]))
    return rng.normal(0.0, 2.0 / np.sqrt(fan_in), size=shape)


def conv52k(seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    return Graph(
        inputs=(Input("in", (3, 32, 32)),),
        populations=(Population("conv1", (32, 32, 32), IF()), Population("conv2", (64, 16, 16), IF()),
                     Population("fc", (10,), IF())),
        projections=(
            Projection("in>conv1", "in", "conv1", (Conv2d(_w(rng, 32, 3, 3, 3), padding=1),)),
            Projection("conv1>conv2", "conv1", "conv2", (Conv2d(_w(rng, 64, 32, 3, 3), stride=2, padding=1),)),
            Projection("conv2>fc", "conv2", "fc", (Flatten(), Dense(_w(rng, 10, 64 * 16 * 16)))),
        ),
        outputs=(Output("out", "fc"),),
    )


def resnet18(seed: int = 0, num_classes: int = 10) -> Graph:
    rng = np.random.default_rng(seed)
    pops: list[Population] = [Population("conv1", (64, 32, 32), IF())]
    projs: list[Projection] = [Projection("in>conv1", "in", "conv1", (Conv2d(_w(rng, 64, 3, 3, 3), padding=1),))]
    _stages(rng, pops, projs, "conv1", 32, num_classes)
    return Graph(inputs=(Input("in", (3, 32, 32)),), populations=tuple(pops), projections=tuple(projs),
                 outputs=(Output("out", "fc"),))


def resnet18_imagenet(seed: int = 0, num_classes: int = 1000, size: int = 224) -> Graph:
    """ImageNet-size ResNet-18 (He et al., CVPR 2016, table 1): conv7x7/2 64 at 112x112, a 3x3/2 pooling
    population (average pooling, padding 1, in place of the max pool) at 56x56, the four stages at 56/28/14/7,
    7x7 average pool, FC 1000: 2,509,800 neurons at ``size`` 224 (a multiple of 32; neurons grow as size²)."""
    rng = np.random.default_rng(seed)
    h = size // 2
    pops: list[Population] = [Population("conv1", (64, h, h), IF()), Population("pool", (64, h // 2, h // 2), IF())]
    projs: list[Projection] = [
        Projection("in>conv1", "in", "conv1", (Conv2d(_w(rng, 64, 3, 7, 7), stride=2, padding=3),)),
        Projection("conv1>pool", "conv1", "pool", (AvgPool2d(3, stride=2, padding=1),)),
    ]
    _stages(rng, pops, projs, "pool", h // 2, num_classes)
    return Graph(inputs=(Input("in", (3, size, size)),), populations=tuple(pops), projections=tuple(projs),
                 outputs=(Output("out", "fc"),))


def _stages(rng: np.random.Generator, pops: list[Population], projs: list[Projection], prev: str, hw: int,
            num_classes: int) -> None:
    """ResNet-18's four stages of two basic blocks after ``prev`` (64 channels at hw x hw), then average pool
    and FC."""
    c_prev = 64
    for stage, c in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if (stage > 1 and block == 0) else 1
            hw_out = hw // stride
            a, b = f"l{stage}b{block}a", f"l{stage}b{block}b"
            pops += [Population(a, (c, hw_out, hw_out), IF()), Population(b, (c, hw_out, hw_out), IF())]
            projs.append(Projection(f"{prev}>{a}", prev, a, (Conv2d(_w(rng, c, c_prev, 3, 3), stride=stride,
                                                                     padding=1),)))
            projs.append(Projection(f"{a}>{b}", a, b, (Conv2d(_w(rng, c, c, 3, 3), padding=1),)))
            if stride == 1 and c == c_prev:
                shortcut = Identity()  # identity residual: one synapse per neuron
            else:
                shortcut = Conv2d(_w(rng, c, c_prev, 1, 1), stride=stride)
            projs.append(Projection(f"{prev}>{b}:res", prev, b, (shortcut,)))
            prev, c_prev, hw = b, c, hw_out
    pops.append(Population("fc", (num_classes,), IF()))
    projs.append(Projection(f"{prev}>fc", prev, "fc", (AvgPool2d(hw), Flatten(), Dense(_w(rng, num_classes, 512)))))


def mlp(seed: int = 0, sizes: tuple[int, ...] = (784, 512, 512, 256, 10)) -> Graph:
    rng = np.random.default_rng(seed)
    pops = tuple(Population(f"fc{i}", (n,), IF()) for i, n in enumerate(sizes[1:], start=1))
    names = ["in", *(p.name for p in pops)]
    projs = tuple(Projection(f"{names[i]}>{names[i + 1]}", names[i], names[i + 1], (Dense(_w(rng, n_out, n_in)),))
                  for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])))
    return Graph(inputs=(Input("in", (sizes[0],)),), populations=pops, projections=projs,
                 outputs=(Output("out", pops[-1].name),))


def snn2conv(seed: int = 0, beta: float = 0.9) -> Graph:
    rng = np.random.default_rng(seed)
    return Graph(
        inputs=(Input("in", (2, 32, 32)),),
        populations=(Population("conv1", (8, 32, 32), LIF(beta)), Population("conv2", (16, 16, 16), LIF(beta)),
                     Population("fc", (10,), LIF(beta))),
        projections=(
            Projection("in>conv1", "in", "conv1", (Conv2d(_w(rng, 8, 2, 3, 3), padding=1),)),
            Projection("conv1>conv2", "conv1", "conv2", (AvgPool2d(2), Conv2d(_w(rng, 16, 8, 3, 3), padding=1))),
            Projection("conv2>fc", "conv2", "fc", (AvgPool2d(2), Flatten(), Dense(_w(rng, 10, 16 * 8 * 8)))),
        ),
        outputs=(Output("out", "fc"),),
    )


NETWORKS = {"conv52k": conv52k, "resnet18": resnet18, "resnet18_imagenet": resnet18_imagenet, "mlp": mlp,
            "snn2conv": snn2conv}
