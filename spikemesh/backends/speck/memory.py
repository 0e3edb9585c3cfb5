"""DYNAP-CNN fit rules: sinabs' memory formulas and the chip rules sinabs leaves to the vendor library.

Memory (sinabs ``DynapcnnLayer.memory_summary``, sinabs/backend/dynapcnn/dynapcnn_layer.py), in entries:
``kernel = c · 2^(⌈log2 k²⌉ + ⌈log2 f⌉)``, ``neuron = f · 2^(⌈log2 H_out⌉ + ⌈log2 W_out⌉)`` (conv output, before
pooling), ``bias = f`` (0 for a conv without bias). The output size is ``floor((in + 2p − k)/s) + 1``.

Chip rules (sinabs documentation, Speck "available network architecture" page): square kernel ≤ 16,
stride ∈ {1,2,4,8} per axis, padding ≤ 7 per axis, pooling ∈ {1,2,4} (square) per destination, input ≤ 128×128,
conv output ≤ 64×64, ≤ 1024 input and output features, ≤ 2 destinations per core, dilation 1 and groups 1 (sinabs
silently accepts dilation and groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spikemesh.errors import PartitionError

MAX_KERNEL = 16
STRIDES = (1, 2, 4, 8)
MAX_PADDING = 7
POOLINGS = (1, 2, 4)
MAX_INPUT_HW = 128
MAX_OUTPUT_HW = 64
MAX_FEATURES = 1024
MAX_DESTINATIONS = 2
MEMORY_KINDS = ("kernel", "neuron", "bias")


def ceil_log2(n: int) -> int:
    """⌈log2 n⌉ for n ≥ 1 (exact integer arithmetic)."""
    return (int(n) - 1).bit_length()


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    return (t[0], t[0]) if len(t) == 1 else (t[0], t[1])


def conv_out_hw(input_hw: int | Sequence[int], kernel: int | Sequence[int], stride: int | Sequence[int] = 1,
                padding: int | Sequence[int] = 0) -> tuple[int, int]:
    """Conv output (H, W): ``floor((in + 2p − k)/s) + 1`` per axis (dilation 1)."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = _pair(input_hw), _pair(kernel), _pair(stride), _pair(padding)
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def layer_memory(c_in: int, c_out: int, kernel: int | Sequence[int], stride: int | Sequence[int],
                 padding: int | Sequence[int], input_hw: int | Sequence[int], bias: bool = True) -> dict[str, int]:
    """Kernel, neuron and bias memory (entries) of one DYNAP-CNN layer, exactly as sinabs' ``memory_summary``.

    ``kernel`` may be (kh, kw); a Linear layer is a conv whose kernel is its whole input (H, W)."""
    kh, kw = _pair(kernel)
    oh, ow = conv_out_hw(input_hw, (kh, kw), stride, padding)
    if oh < 1 or ow < 1:
        raise PartitionError("conv output would be empty", needed="input + 2·padding >= kernel",
                             available=f"input {_pair(input_hw)}, kernel {(kh, kw)}, padding {_pair(padding)}")
    return {
        "kernel": int(c_in) * (1 << (ceil_log2(kh * kw) + ceil_log2(c_out))),
        "neuron": int(c_out) * (1 << (ceil_log2(oh) + ceil_log2(ow))),
        "bias": int(c_out) if bias else 0,
    }


@dataclass(frozen=True)
class LayerGeometry:
    """What the chip rules look at for one layer: input (C, H, W), features, kernel, stride, padding, the pooling
    of each destination, dilation and groups."""

    name: str
    c_in: int
    input_hw: tuple[int, int]
    c_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pools: tuple[int, ...] = ()
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def output_hw(self) -> tuple[int, int]:
        return conv_out_hw(self.input_hw, self.kernel, self.stride, self.padding)


def check_rules(g: LayerGeometry) -> None:
    """Raise PartitionError naming the layer and the first chip rule it breaks."""
    def fail(rule: str, needed: object, available: object, hint: str) -> None:
        raise PartitionError(f"breaks the DYNAP-CNN rule: {rule}", node=g.name, needed=needed, available=available,
                             hint=hint)

    if g.dilation != (1, 1):
        fail("dilation must be 1", (1, 1), g.dilation, "the chip has no dilated kernels; use a larger kernel")
    if g.groups != 1:
        fail("groups must be 1", 1, g.groups, "the chip has no grouped/depthwise convolutions")
    if g.kernel[0] != g.kernel[1]:
        fail("square kernel", "kh == kw", g.kernel, "for a Linear layer the kernel is its whole input: make the "
                                                   "input square (H == W)")
    if g.kernel[0] > MAX_KERNEL:
        fail(f"kernel <= {MAX_KERNEL}", f"<= {MAX_KERNEL}", g.kernel[0], "pool before the layer or split it")
    for s in g.stride:
        if s not in STRIDES:
            fail("stride in {1, 2, 4, 8}", STRIDES, g.stride, "change the stride")
    for p in g.padding:
        if p > MAX_PADDING:
            fail(f"padding <= {MAX_PADDING}", f"<= {MAX_PADDING}", g.padding, "reduce the padding")
    if max(g.input_hw) > MAX_INPUT_HW:
        fail(f"input <= {MAX_INPUT_HW}x{MAX_INPUT_HW}", f"<= {MAX_INPUT_HW}", g.input_hw, "pool the input first")
    oh, ow = g.output_hw
    if max(oh, ow) > MAX_OUTPUT_HW:
        fail(f"conv output <= {MAX_OUTPUT_HW}x{MAX_OUTPUT_HW}", f"<= {MAX_OUTPUT_HW}", (oh, ow),
             "use a stride of 2 or pool before this layer")
    if g.c_in > MAX_FEATURES:
        fail(f"<= {MAX_FEATURES} input features", MAX_FEATURES, g.c_in, "reduce the channels")
    if g.c_out > MAX_FEATURES:
        fail(f"<= {MAX_FEATURES} features", MAX_FEATURES, g.c_out, "reduce the channels")
    if len(g.pools) > MAX_DESTINATIONS:
        fail(f"<= {MAX_DESTINATIONS} destinations per core", MAX_DESTINATIONS, len(g.pools),
             "a core sends to at most 2 cores; insert a relay layer or merge consumers")
    for p in g.pools:
        if p not in POOLINGS:
            fail("pooling in {1, 2, 4} per destination", POOLINGS, p, "pool in two steps (e.g. 2 then 4)")
