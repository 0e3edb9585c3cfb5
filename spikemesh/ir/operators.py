"""Synaptic operators of the IR.

A ``Projection`` (ir/graph.py) carries a chain of these operators applied in order. Shapes are per sample
(no batch axis); ``apply`` takes ``x`` of shape ``[B, *in_shape]``. Conv layouts follow PyTorch/NIR:
channels first, weight ``[out, in/groups, *kernel]``. Every operator gives its output shape, per-neuron
fan-in / fan-out, structural synapse count, and its neuron-level CSR matrix ``[n_in, n_out]`` (row = a
presynaptic neuron, its entries = its targets and weights), built vectorised.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from spikemesh.errors import GraphError
from spikemesh.lazy import LazyModule

sp = LazyModule("scipy.sparse")  # imported when a CSR matrix is first built

Shape = tuple[int, ...]


def _frozen_array(value: Any, dtype: Any = np.float64) -> np.ndarray:
    arr = np.array(value, dtype=dtype)
    arr.setflags(write=False)
    return arr


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(x) for x in np.asarray(v).reshape(-1))
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise GraphError(f"expected {n} values", available=t)
    return t


class Op(ABC):
    """Base class of projection operators: each defines ``out_shape`` and ``apply``; connectivity (``to_csr``,
    fan-in/out, synapse counts) defaults to applying the operator to one-hot inputs, and operators with
    structure override it vectorised."""

    #: names of array-valued fields (serialised to the weights file)
    array_fields: ClassVar[tuple[str, ...]] = ()
    #: True for operators whose values are learned weights (quantized by passes.quantize)
    weighted: ClassVar[bool] = False

    @abstractmethod
    def out_shape(self, in_shape: Shape) -> Shape:
        """Output shape for an input of ``in_shape``; GraphError when the input does not fit."""

    def _arr(self, name: str, x: np.ndarray) -> np.ndarray:
        """Field ``name`` ready to combine with ``x``: as int64 when ``x`` is integer (int mode), after checking
        that it holds integers (cached), so non-integer weights fail instead of being truncated."""
        arr = getattr(self, name)
        if x.dtype.kind not in "iub":
            return arr
        cache = self.__dict__.setdefault("_int_cache", {})
        got = cache.get(name)
        if got is None:
            if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
                raise GraphError(f"{type(self).__name__}.{name} is not integer in int mode",
                                 hint="quantize() the graph first")
            got = arr.astype(np.int64)
            cache[name] = got
        return got

    @abstractmethod
    def apply(self, x: np.ndarray) -> np.ndarray:
        """The operator on a batch ``x [..., *in_shape]``."""

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        """Neuron-level connectivity ``[n_in, n_out]`` (structural entries kept even when a weight is 0)."""
        n_in = math.prod(in_shape)
        eye = np.eye(n_in).reshape((n_in, *in_shape))
        dense = self.apply(eye).reshape(n_in, -1)
        return sp.csr_matrix(dense)

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        """Synapses per output neuron, shape ``out_shape`` (int64)."""
        m = self.to_csr(in_shape)
        return np.diff(m.tocsc().indptr).astype(np.int64).reshape(self.out_shape(in_shape))

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        """Synapses per input neuron, shape ``in_shape`` (int64)."""
        return np.diff(self.to_csr(in_shape).indptr).astype(np.int64).reshape(in_shape)

    def synapses(self, in_shape: Shape) -> int:
        return int(self.fan_in(in_shape).sum())

    # -- serialisation and equality --------------------------------------------------------------
    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {"op": type(self).__name__}
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if f.name in self.array_fields:
                if v is not None:
                    arrays[f.name] = np.asarray(v)
            else:
                meta[f.name] = list(v) if isinstance(v, tuple) else v
        return meta, arrays

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in fields(self):  # type: ignore[arg-type]
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in self.array_fields:
                if (a is None) != (b is None):
                    return False
                if a is not None and (a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b)):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Dense(Op):
    """y = W·x (+ bias); W is ``[n_out, n_in]``; the input must be 1-D of length n_in."""

    weight: Any
    bias: Any = None
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", _frozen_array(self.weight))
        if self.weight.ndim != 2:
            raise GraphError("Dense weight must be 2-D [out, in]", available=self.weight.shape)
        if self.bias is not None:
            object.__setattr__(self, "bias", _frozen_array(self.bias).reshape(-1))

    def out_shape(self, in_shape: Shape) -> Shape:
        if tuple(in_shape) != (self.weight.shape[1],):
            raise GraphError("Dense input shape mismatch", needed=(self.weight.shape[1],), available=in_shape,
                             hint="insert a Flatten before a Dense on multi-dimensional input")
        return (self.weight.shape[0],)

    def apply(self, x: np.ndarray) -> np.ndarray:
        y = x @ self._arr("weight", x).T
        if self.bias is not None:
            y = y + self._arr("bias", x)
        return y

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        self.out_shape(in_shape)
        n_out, n_in = self.weight.shape
        rows = np.repeat(np.arange(n_in), n_out)
        cols = np.tile(np.arange(n_out), n_in)
        return sp.csr_matrix((self.weight.T.reshape(-1), (rows, cols)), shape=(n_in, n_out))

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        return np.full(self.out_shape(in_shape), self.weight.shape[1], dtype=np.int64)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        self.out_shape(in_shape)
        return np.full(in_shape, self.weight.shape[0], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Sparse(Op):
    """Sparse connectivity given as CSR over presynaptic rows: ``indptr [n_in+1]``, ``indices`` (postsynaptic),
    ``data`` (weights); output length ``n_out``."""

    indptr: Any
    indices: Any
    data: Any
    n_out: int
    array_fields: ClassVar[tuple[str, ...]] = ("indptr", "indices", "data")
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "indptr", _frozen_array(self.indptr, np.int64))
        object.__setattr__(self, "indices", _frozen_array(self.indices, np.int64))
        object.__setattr__(self, "data", _frozen_array(self.data))
        object.__setattr__(self, "n_out", int(self.n_out))
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n_out):
            raise GraphError("Sparse indices out of range", needed=f"< {self.n_out}",
                             available=int(self.indices.max()))
        if len(self.indices) != len(self.data) or self.indptr[-1] != len(self.data):
            raise GraphError("Sparse CSR arrays are inconsistent")

    @classmethod
    def from_matrix(cls, m: sp.spmatrix) -> Sparse:
        """From a scipy matrix ``[n_in, n_out]``."""
        c = sp.csr_matrix(m)
        c.sort_indices()
        return cls(c.indptr, c.indices, c.data, c.shape[1])

    @property
    def n_in(self) -> int:
        return len(self.indptr) - 1

    def out_shape(self, in_shape: Shape) -> Shape:
        if tuple(in_shape) != (self.n_in,):
            raise GraphError("Sparse input shape mismatch", needed=(self.n_in,), available=in_shape)
        return (self.n_out,)

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        self.out_shape(in_shape)
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(self.n_in, self.n_out))

    def apply(self, x: np.ndarray) -> np.ndarray:
        m = sp.csr_matrix((self._arr("data", x), self.indices, self.indptr), shape=(self.n_in, self.n_out))
        return np.asarray((m.T @ x.T).T)


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
        object.__setattr__(self, "weight", _frozen_array(self.weight))
        nd = self.weight.ndim - 2
        if nd < 1:
            raise GraphError("Conv weight must be [out, in/groups, *kernel]", available=self.weight.shape)
        for name in ("stride", "padding", "dilation"):
            object.__setattr__(self, name, _tuple(getattr(self, name), nd))
        object.__setattr__(self, "groups", int(self.groups))
        if self.bias is not None:
            object.__setattr__(self, "bias", _frozen_array(self.bias).reshape(-1))
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
        object.__setattr__(self, "kernel", _tuple(self.kernel, 2))
        object.__setattr__(self, "stride", _tuple(self.stride if self.stride is not None else self.kernel, 2))
        object.__setattr__(self, "padding", _tuple(self.padding, 2))

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


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """Reshape to ``shape`` (C order). ``Flatten`` is Reshape to 1-D."""

    shape: tuple[int, ...] = (-1,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    def out_shape(self, in_shape: Shape) -> Shape:
        n = math.prod(in_shape)
        try:
            return tuple(np.empty(n, dtype=np.bool_).reshape(self.shape).shape)
        except ValueError:
            raise GraphError("cannot reshape", needed=self.shape, available=in_shape) from None

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x.reshape((x.shape[0], *self.out_shape(x.shape[1:])))

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        n = math.prod(in_shape)
        self.out_shape(in_shape)
        return sp.identity(n, format="csr")

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        return np.ones(self.out_shape(in_shape), dtype=np.int64)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        return np.ones(in_shape, dtype=np.int64)


def Flatten() -> Reshape:
    return Reshape((-1,))


@dataclass(frozen=True, eq=False)
class Identity(Reshape):
    """y = x."""

    shape: tuple[int, ...] = ()

    def out_shape(self, in_shape: Shape) -> Shape:
        return tuple(in_shape)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x


@dataclass(frozen=True, eq=False)
class Scale(Op):
    """Element-wise y = factor ⊙ x (factor broadcast to the input shape)."""

    factor: Any = 1.0
    array_fields: ClassVar[tuple[str, ...]] = ("factor",)
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "factor", _frozen_array(self.factor))

    def out_shape(self, in_shape: Shape) -> Shape:
        try:
            np.broadcast_to(self.factor, in_shape)
        except ValueError:
            raise GraphError("Scale factor does not broadcast", needed=in_shape, available=self.factor.shape) from None
        return tuple(in_shape)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x * self._arr("factor", x)

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        self.out_shape(in_shape)
        return sp.diags(np.broadcast_to(self.factor, in_shape).reshape(-1), format="csr")

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        return np.ones(self.out_shape(in_shape), dtype=np.int64)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        return np.ones(in_shape, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Delay(Op):
    """Transmission delay in steps (≥ 0), one value or one per element of the input. At most one per chain."""

    steps: Any = 1
    array_fields: ClassVar[tuple[str, ...]] = ("steps",)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return x

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        return sp.identity(math.prod(in_shape), format="csr")

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        return np.ones(in_shape, dtype=np.int64)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        return np.ones(in_shape, dtype=np.int64)

    def __post_init__(self) -> None:
        s = np.array(self.steps)
        if s.size and (np.any(s < 0) or np.any(s != np.round(s))):
            raise GraphError("Delay steps must be non-negative integers", available=s.tolist())
        object.__setattr__(self, "steps", _frozen_array(s, np.int64))

    @property
    def min_steps(self) -> int:
        return int(self.steps.min()) if self.steps.size else 0

    @property
    def max_steps(self) -> int:
        return int(self.steps.max()) if self.steps.size else 0

    def out_shape(self, in_shape: Shape) -> Shape:
        try:
            np.broadcast_to(self.steps, in_shape)
        except ValueError:
            raise GraphError("Delay steps do not broadcast", needed=in_shape, available=self.steps.shape) from None
        return tuple(in_shape)


@dataclass(frozen=True, eq=False)
class BatchNorm(Op):
    """Per-channel affine normalisation (channel axis first): y = (x - mean)/sqrt(var + eps)·γ + β.
    ``passes.fold_batchnorm`` folds it into a preceding Dense or Conv."""

    mean: Any
    var: Any
    gamma: Any
    beta: Any
    eps: float = 1e-5
    array_fields: ClassVar[tuple[str, ...]] = ("mean", "var", "gamma", "beta")

    def __post_init__(self) -> None:
        for name in self.array_fields:
            object.__setattr__(self, name, _frozen_array(getattr(self, name)).reshape(-1))
        object.__setattr__(self, "eps", float(self.eps))

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        a = self.gamma / np.sqrt(self.var + self.eps)
        return a, self.beta - a * self.mean

    def out_shape(self, in_shape: Shape) -> Shape:
        if not in_shape or in_shape[0] != len(self.mean):
            raise GraphError("BatchNorm channel mismatch", needed=len(self.mean),
                             available=in_shape[0] if in_shape else None)
        return tuple(in_shape)

    def apply(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind in "iu":
            raise GraphError("BatchNorm is not integer-exact", hint="run fold_batchnorm before quantizing")
        a, b = self.scale_shift()
        shp = (1, -1) + (1,) * (x.ndim - 2)
        return x * a.reshape(shp) + b.reshape(shp)

    def to_csr(self, in_shape: Shape) -> sp.csr_matrix:
        a, _ = self.scale_shift()
        return sp.diags(np.broadcast_to(a.reshape((-1,) + (1,) * (len(in_shape) - 1)), in_shape).reshape(-1),
                        format="csr")

    def fan_in(self, in_shape: Shape) -> np.ndarray:
        return np.ones(self.out_shape(in_shape), dtype=np.int64)

    def fan_out(self, in_shape: Shape) -> np.ndarray:
        return np.ones(in_shape, dtype=np.int64)


OPS: dict[str, type[Op]] = {
    cls.__name__: cls
    for cls in (Dense, Sparse, Conv, SumPool2d, AvgPool2d, Reshape, Identity, Scale, Delay, BatchNorm)
}


def op_from_dict(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Op:
    meta = dict(meta)
    name = meta.pop("op")
    cls = OPS.get(name)
    if cls is None:
        raise GraphError(f"unknown projection operator {name!r}", hint=f"known: {', '.join(OPS)}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in cls.array_fields:
            kwargs[f.name] = arrays.get(f.name)
        elif f.name in meta:
            v = meta[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)
