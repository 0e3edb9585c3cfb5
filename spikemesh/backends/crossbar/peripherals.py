"""DAC and ADC models of the crossbar periphery: quantise to the resolution and clip to the range (as IBM aihwkit's
``rpu_forward_backward_pass.cpp`` does for its DAC and ADC), and the ADC resolution an exact read of all active
rows at once needs.

Inputs are applied bit-serially as 1-bit row pulses (as in NeuroSim, which has no DAC): ``input_planes`` splits an
integer input into sign x bit planes after clipping it to the DAC's ``dac_bits`` magnitude (clipping = the DAC's
range). The ADC digitises a column value v (in units of one cell level) with a power-of-two LSB chosen so that the
read's full scale fits its codes: exact when ``bits`` covers ⌈log2(full_scale + 1)⌉ (+1 sign bit), coarser
otherwise, and clipped to the code range. Rounding is to the nearest code. Integer column sums land exactly on
ties whenever the LSB is 2 or more, so how ties go matters: rounding them upward adds +0.5 LSB to every such read.
Without an ``rng`` ties go to the even code (no bias over uniformly spread values); with one (the engine passes its
seeded generator) each tie goes up or down with probability 1/2, as comparator noise decides a value exactly on a
code boundary, so the expected error is zero for every value (ties to even still shrink |v| = 1, 5, 9, ... LSB/2
towards zero, which on spike-driven reads, dominated by small sums, halves a layer's spikes).
"""

from __future__ import annotations

import math

import numpy as np


def input_planes(x: np.ndarray, dac_bits: int) -> list[tuple[int, np.ndarray]]:
    """[(weight, binary plane)] with Σ weight·plane = clip(x, ±(2**dac_bits − 1)); ``x`` integer [M, R]."""
    hi = (1 << dac_bits) - 1
    xi = np.clip(np.asarray(x, dtype=np.int64), -hi, hi)
    out: list[tuple[int, np.ndarray]] = []
    for sign, part in ((1, np.maximum(xi, 0)), (-1, np.maximum(-xi, 0))):
        top = int(part.max()) if part.size else 0
        for b in range(max(0, top).bit_length()):
            plane = (part >> b) & 1
            if plane.any():
                out.append((sign * (1 << b), plane.astype(np.float64)))
    return out


def adc_lsb(full_scale: float, bits: int | None, signed: bool) -> float:
    """LSB (cell-level units) of an ADC reading values up to ``full_scale`` (None bits: ideal, LSB 1)."""
    if bits is None:
        return 1.0
    need = math.ceil(math.log2(full_scale + 1)) if full_scale > 0 else 0
    avail = bits - 1 if signed else bits
    return float(2 ** max(0, need - avail))


def adc(v: np.ndarray, full_scale: float, bits: int | None, signed: bool,
        rng: np.random.Generator | None = None) -> np.ndarray:
    """Digitised value (code · LSB, float) of column values ``v``: round to the LSB (ties to even, or at random
    with ``rng``: module docstring), clip to the code range."""
    lsb = adc_lsb(full_scale, bits, signed)
    y = np.asarray(v, dtype=np.float64) / lsb
    code = np.rint(y)
    if rng is not None and lsb > 1:
        tie = np.nonzero(np.abs(y - np.floor(y) - 0.5) < 1e-9)
        if len(tie[0]):
            code[tie] = np.floor(y[tie]) + (rng.random(len(tie[0])) < 0.5)
    if bits is not None:
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        code = np.clip(code, lo, hi)
    return code * lsb


def adc_bits_needed(full_scale: float, signed: bool) -> int:
    """Bits an exact readout of ``full_scale`` needs (B_ADC = ⌈log2(R·(2^b − 1) + 1)⌉ for R active rows of
    b-bit cells, +1 when signed)."""
    return max(1, math.ceil(math.log2(full_scale + 1))) + (1 if signed else 0)
