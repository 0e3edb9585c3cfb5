"""Convolution and pooling: ``Conv`` (N-d, PyTorch's cross-correlation; ``Conv1d`` / ``Conv2d`` build it),
``SumPool2d`` and ``AvgPool2d``.

Layouts follow PyTorch and NIR: channels first, weight ``[out, in/groups, *kernel]``. Connectivity (CSR, fan-in,
fan-out) is computed per spatial axis from the tap indices and broadcast, never by applying the operator to one-hot
inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import GraphError
from spikemesh.ir.operators.base import Op, Shape, frozen_array, int_tuple, sp


def _conv_out_len(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _axis_taps(n_in: int, k: int, s: int, p: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """For one spatial axis: input index [n_out, k] of each tap (or -1 when it falls in padding)."""
    n_out = _conv_out_len(n_in, k, s, p, d)
    idx = np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d
    valid = (idx >= 0) & (idx < n_in)
    return np.where(valid, idx, -1), valid


@dataclass(frozen=True, eq=False)
class Conv(Op):
    """N-d convolution (cross-correlation, as PyTorch), channels first. ``weight [out, in/groups, *k]``."""

    weight: Any
    bias: Any = None
    stride: tuple[int, ...] = (1,)
    padding: tuple[int, ...] = (0,)
    dilation: tuple[int, ...] = (1,)
    groups: int = 1
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", frozen_array(self.weight, what="Conv weight"))
        nd = self.weight.ndim - 2
        if nd < 1 or nd > 3 or 0 in self.weight.shape:
            raise GraphError("Conv weight must be [out, in/groups, *kernel] with 1 to 3 kernel axes, none empty",
                             available=self.weight.shape)
        for name, lo in (("stride", 1), ("padding", 0), ("dilation", 1)):
            object.__setattr__(self, name, int_tuple(getattr(self, name), nd, f"Conv {name}", lo))
        object.__setattr__(self, "groups", checks.integer(self.groups, "Conv groups", None, GraphError, lo=1))
        if self.bias is not None:
            object.__setattr__(self, "bias", frozen_array(self.bias, what="Conv bias").reshape(-1))
            if self.bias.size not in (1, self.weight.shape[0]):
                raise GraphError("Conv bias needs one value per output channel", needed=self.weight.shape[0],
                                 available=self.bias.size)
        if self.weight.shape[0] % self.groups:
            raise GraphError("Conv out channels not divisible by groups",
                             needed=f"multiple of {self.groups}", available=self.weight.shape[0])
        if min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise GraphError("Conv stride/dilation must be >= 1 and padding >= 0")

    @property
    def ndim(self) -> int:
        return self.weight.ndim - 2

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[2:])

    def out_shape(self, in_shape: Shape) -> Shape:
        nd = self.ndim
        if len(in_shape) != nd + 1:
            raise GraphError(f"Conv{nd}d expects input [C, {', '.join('L' * nd)}]", available=in_shape)
        c_in = self.weight.shape[1] * self.groups
        if in_shape[0] != c_in:
            raise GraphError("Conv input channels mismatch", needed=c_in, available=in_shape[0])
        spatial = tuple(
            _conv_out_len(n, k, s, p, d)
            for n, k, s, p, d in zip(in_shape[1:], self.kernel, self.stride, self.padding, self.dilation)
        )
        if min(spatial) < 1:
            raise GraphError("Conv output would be empty", needed="input >= kernel extent", available=in_shape)
        return (self.weight.shape[0], *spatial)

    def _patches(self, x: np.ndarray) -> np.ndarray:
        """[B, C, *out_spatial, *k] windows of the padded input."""
        nd = self.ndim
        pad = [(0, 0), (0, 0)] + [(p, p) for p in self.padding]
        xp = np.pad(x, pad)
        ext = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))
        win = np.lib.stride_tricks.sliding_window_view(xp, ext, axis=tuple(range(2, 2 + nd)))
        sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in self.stride) + tuple(
            slice(None, None, d) for d in self.dilation
        )
        return win[sl]

    def apply(self, x: np.ndarray) -> np.ndarray:
        out_shape = self.out_shape(x.shape[1:])
        w = self._arr("weight", x)
        patches = self._patches(x)
        g = self.groups
        cin_g = self.weight.shape[1]
        cout_g = self.weight.shape[0] // g
        nd = self.ndim
        sp_axes = "".join("xyz"[i] for i in range(nd))
        k_axes = "".join("uvw"[i] for i in range(nd))
        outs = []
        for gi in range(g):
            pg = patches[:, gi * cin_g:(gi + 1) * cin_g]
            wg = w[gi * cout_g:(gi + 1) * cout_g]
            outs.append(np.einsum(f"bc{sp_axes}{k_axes},oc{k_axes}->bo{sp_axes}", pg, wg, optimize=True))
        y = np.concatenate(outs, axis=1) if g > 1 else outs[0]
        if self.bias is not None:
            y = y + self._arr("bias", x).reshape((1, -1) + (1,) * nd)
        assert y.shape[1:] == out_shape
        return y

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        out_shape = self.out_shape(in_shape)
        nd = self.ndim
        c_out, cin_g = self.weight.shape[0], self.weight.shape[1]
        cout_g = c_out // self.groups
        # per spatial axis: [n_out_axis, k_axis] input index and validity
        taps = [_axis_taps(n, k, s, p, d) for n, k, s, p, d in
                zip(in_shape[1:], self.kernel, self.stride, self.padding, self.dilation)]
        # full broadcast grid: (co, ci, *out_sp, *k)
        grid_shape = (c_out, cin_g) + out_shape[1:] + self.kernel
        total = math.prod(grid_shape)
        co = np.arange(c_out).reshape((c_out, 1) + (1,) * (2 * nd))
        ci = np.arange(cin_g).reshape((1, cin_g) + (1,) * (2 * nd))
        in_ch = (co // cout_g) * cin_g + ci
        valid = np.ones((1, 1) + (1,) * (2 * nd), dtype=bool)
        in_flat = in_ch
        out_flat = co
        for a, (idx, ok) in enumerate(taps):
            shp = [1] * (2 + 2 * nd)
            shp[2 + a] = idx.shape[0]
            shp[2 + nd + a] = idx.shape[1]
            idx_b = idx.reshape(shp)
            ok_b = ok.reshape(shp)
            valid = valid & ok_b
            in_flat = in_flat * in_shape[1 + a] + idx_b
            pos = np.arange(out_shape[1 + a]).reshape([1] * (2 + a) + [-1] + [1] * (2 * nd - a - 1))
            out_flat = out_flat * out_shape[1 + a] + pos
        w = self.weight.reshape((c_out, cin_g) + (1,) * nd + self.kernel)
        valid = np.broadcast_to(valid, grid_shape).reshape(total)
        rows = np.broadcast_to(in_flat, grid_shape).reshape(total)[valid]
        cols = np.broadcast_to(out_flat, grid_shape).reshape(total)[valid]
        data = np.broadcast_to(w, grid_shape).reshape(total)[valid]
        n_in, n_out = math.prod(in_shape), math.prod(out_shape)
        m = sp.csr_matrix((data, (rows, cols)), shape=(n_in, n_out))
        m.sum_duplicates()
        return m

    def _axis_counts(self, in_shape: Shape) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per axis: valid taps per output position, and (output, tap) hits per input position."""
        per_out, per_in = [], []
        for n, k, s, p, d in zip(in_shape[1:], self.kernel, self.stride, self.padding, self.dilation):
            idx, ok = _axis_taps(n, k, s, p, d)
            per_out.append(ok.sum(axis=1))
            per_in.append(np.bincount(idx[ok], minlength=n))
        return per_out, per_in

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        out_shape = self.out_shape(in_shape)
        per_out, _ = self._axis_counts(in_shape)
        spatial = np.ones((), dtype=np.int64)
        for c in per_out:
            spatial = np.multiply.outer(spatial, c)
        return np.broadcast_to(spatial * self.weight.shape[1], out_shape).astype(np.int64)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        self.out_shape(in_shape)
        _, per_in = self._axis_counts(in_shape)
        spatial = np.ones((), dtype=np.int64)
        for c in per_in:
            spatial = np.multiply.outer(spatial, c)
        return np.broadcast_to(spatial * (self.weight.shape[0] // self.groups), in_shape).astype(np.int64)

    def synapses(self, in_shape: Shape) -> int:
        return int(self.fan_in(in_shape).sum())


def Conv1d(weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Conv:
    w = np.asarray(weight)
    if w.ndim != 3:
        raise GraphError("Conv1d weight must be [out, in/groups, k]", available=w.shape)
    return Conv(w, bias, stride, padding, dilation, groups)


def Conv2d(weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Conv:
    w = np.asarray(weight)
    if w.ndim != 4:
        raise GraphError("Conv2d weight must be [out, in/groups, kh, kw]", available=w.shape)
    return Conv(w, bias, stride, padding, dilation, groups)


@dataclass(frozen=True, eq=False)
class SumPool2d(Op):
    """Sum over kernel windows per channel (sinabs / Speck pooling). ``stride`` defaults to the kernel."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", int_tuple(self.kernel, 2, "pool kernel", 1))
        object.__setattr__(self, "stride", int_tuple(self.stride if self.stride is not None else self.kernel, 2,
                                                     "pool stride", 1))
        object.__setattr__(self, "padding", int_tuple(self.padding, 2, "pool padding", 0))

    def _conv(self, channels: int) -> Conv:
        w = np.zeros((channels, 1, *self.kernel))
        w[:] = 1.0
        return Conv(w, None, self.stride, self.padding, (1, 1), channels)

    def out_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise GraphError("pooling expects input [C, H, W]", available=in_shape)
        return self._conv(in_shape[0]).out_shape(in_shape)

    def apply(self, x: np.ndarray) -> np.ndarray:
        c = x.shape[1]
        kh, kw = self.kernel
        xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in self.padding])
        win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
        win = win[:, :, :: self.stride[0], :: self.stride[1]]
        out = win.sum(axis=(-2, -1))
        assert out.shape[1] == c
        return out

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        return self._conv(in_shape[0]).to_csr(in_shape)

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        return self._conv(in_shape[0]).fan_in(in_shape)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        return self._conv(in_shape[0]).fan_out(in_shape)


@dataclass(frozen=True, eq=False)
class AvgPool2d(SumPool2d):
    """Mean over kernel windows (divides by kh·kw, padding counted as zeros, as PyTorch's default)."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind in "iu":
            raise GraphError("AvgPool2d is not integer-exact", hint="quantize() turns it into SumPool2d")
        return super().apply(x) / (self.kernel[0] * self.kernel[1])

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        m = super().to_csr(in_shape)
        return m.multiply(1.0 / (self.kernel[0] * self.kernel[1])).tocsr()
