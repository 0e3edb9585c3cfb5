"""Fit rules: sinabs' memory formulas (``DynapcnnLayer.memory_summary``) worked by hand, and the chip rules."""

from __future__ import annotations

import pytest

import spikemesh
from spikemesh.backends.speck import layer_memory
from spikemesh.backends.speck.assign import match
from spikemesh.errors import PartitionError
from tests.speck.helpers import chain


def test_docs_example_conv_16_32_k3_p1_on_64x64() -> None:
    # the sinabs Speck docs' example: kernel 16 * 2^(ceil log2 9 + log2 32) = 16 * 2^(4+5) = 8Ki;
    # neuron 32 * 64 * 64 = 128Ki
    assert layer_memory(16, 32, 3, 1, 1, (64, 64)) == {"kernel": 8 * 1024, "neuron": 128 * 1024, "bias": 32}


def test_odd_size_17_k2_s2() -> None:
    # out = floor((17 - 2)/2) + 1 = 8 -> neuron = 8 * 2^(3+3) = 512 for 8 features (sinabs' validate helper says 2048)
    assert layer_memory(1, 8, 2, 2, 0, (17, 17))["neuron"] == 512


def test_probe_network_rows() -> None:
    # what sinabs 3.1.3's memory_summary reports for Conv(2->8,k3) on 32x32, Conv(8->16,k3) on 15x15 and
    # Linear(16*13*13 -> 11) as a 13x13 conv
    assert layer_memory(2, 8, 3, 1, 0, 32) == {"kernel": 256, "neuron": 8192, "bias": 8}
    assert layer_memory(8, 16, 3, 1, 0, 15) == {"kernel": 2048, "neuron": 4096, "bias": 16}
    assert layer_memory(16, 11, 13, 1, 0, 13) == {"kernel": 65536, "neuron": 11, "bias": 11}
    assert layer_memory(16, 11, 13, 1, 0, 13, bias=False)["bias"] == 0


def test_non_power_of_two_features_round_kernel_not_neuron() -> None:
    # c not rounded, f rounded in kernel memory; f not rounded in neuron memory; H, W rounded separately
    assert layer_memory(3, 5, 1, 1, 0, (5, 9)) == {"kernel": 3 * 8, "neuron": 5 * 8 * 16, "bias": 5}


def test_linear_only_mlp_needs_core_5_or_6() -> None:
    # Linear(16*13*13 -> 11): 64Ki kernel entries -> only cores 5 and 6 (sinabs get_constraints)
    t = spikemesh.target("speck")
    need = layer_memory(16, 11, 13, 1, 0, 13)
    assert match([need], t, ["lin"])[0] in (5, 6)
    with pytest.raises(PartitionError, match="no core left.*lin"):
        match([need] * 3, t, ["lin", "lin2", "lin3"])


@pytest.mark.parametrize("spec,rule", [
    ({"kind": "conv", "c": 2, "k": 17, "p": 0}, "kernel <= 16"),
    ({"kind": "conv", "c": 2, "k": 3, "s": 3}, "stride in"),
    ({"kind": "conv", "c": 2, "k": 3, "p": 8}, "padding <= 7"),
    ({"kind": "conv", "c": 2, "k": 3, "pool": 3}, "pooling"),
])
def test_chip_rules_reject(spec: dict, rule: str) -> None:
    g = chain([{"kind": "conv", "c": 2, "k": 1}, spec], (2, 36, 36))
    with pytest.raises(PartitionError, match=rule):
        spikemesh.compile(g, "speck")


def test_output_larger_than_64_rejected() -> None:
    g = chain([{"kind": "conv", "c": 1, "k": 1}], (2, 80, 80))
    with pytest.raises(PartitionError, match="L0.*conv output <= 64x64"):
        spikemesh.compile(g, "speck")


def test_dilation_and_groups_rejected() -> None:
    import numpy as np

    from spikemesh.ir import IF, Conv2d, Graph, Input, Output, Population, Projection
    for kw, rule in (({"dilation": 2}, "dilation"), ({"groups": 2}, "groups")):
        w = np.ones((2, 1 if "groups" in kw else 2, 3, 3))
        op = Conv2d(w, **kw)
        shape = op.out_shape((2, 16, 16))
        g = Graph((Input("in", (2, 16, 16)),), (Population("c", shape, IF()),),
                  (Projection("p", "in", "c", (op,)),), (Output("o", "c"),))
        with pytest.raises(PartitionError, match=f"c: .*{rule} must be 1"):
            spikemesh.compile(g, "speck")


def test_128x128x16_conv_names_layer_and_neuron_memory() -> None:
    # 16 features on a 64x64 output (stride 2 from 128x128) = 64Ki fits cores 0-2; stride 1 on 64x64 input too
    g = chain([{"kind": "conv", "c": 16, "k": 3, "p": 1, "s": 2}, {"kind": "conv", "c": 32, "k": 3, "p": 1}],
              (2, 128, 128))
    with pytest.raises(PartitionError) as e:
        spikemesh.compile(g, "speck")
    msg = str(e.value)
    assert msg.startswith("L1: no core holds this layer: needs neuron memory 131072")
    assert "cores 0,1,2: kernel 16384, neuron 65536, bias 1024" in msg


def test_ten_layer_network_names_a_layer_and_memory() -> None:
    g = chain([{"kind": "conv", "c": 4, "k": 3, "p": 1}] * 10, (2, 16, 16))
    with pytest.raises(PartitionError) as e:
        spikemesh.compile(g, "speck")
    msg = str(e.value)
    assert "no core left: 10 layers" in msg and "fit only the 9 cores" in msg
    assert "neuron memory 1024" in msg and msg.split(":")[0] in {f"L{i}" for i in range(10)}


def test_three_destinations_rejected_at_build_time() -> None:
    import numpy as np

    from spikemesh.ir import IF, Conv2d, Graph, Input, Output, Population, Projection
    w = np.ones((2, 2, 1, 1))
    pops = [Population(n, (2, 8, 8), IF()) for n in ("a", "b", "c", "d")]
    projs = [Projection("pa", "in", "a", (Conv2d(w),))] + [Projection(f"p{n}", "a", n, (Conv2d(w),))
                                                           for n in ("b", "c", "d")]
    g = Graph((Input("in", (2, 8, 8)),), pops, projs, (Output("o", "b"),))
    with pytest.raises(PartitionError, match="a: .*<= 2 destinations"):
        spikemesh.compile(g, "speck")
