"""One-to-one operators (each output element reads one input element): ``Reshape`` / ``Flatten`` /
``Identity``, ``Scale``, ``Delay`` and ``BatchNorm``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import GraphError
from spikemesh.ir.operators.base import Op, Shape, frozen_array, sp

#: longest transmission delay in steps (each step of delay is a buffer slot per neuron)
MAX_DELAY = 2**16 - 1


@dataclass(frozen=True, eq=False)
class Reshape(Op):
    """Reshape to ``shape`` (C order). ``Flatten`` is Reshape to 1-D."""

    shape: tuple[int, ...] = (-1,)

    def __post_init__(self) -> None:
        raw = [self.shape] if isinstance(self.shape, int | np.integer) else self.shape
        if isinstance(raw, str | bytes) or not isinstance(raw, tuple | list | np.ndarray):
            raise GraphError("Reshape shape must be a list of sizes", available=repr(self.shape))
        dims = tuple(checks.integer(d, "Reshape shape", None, GraphError, lo=-1, hi=checks.MAX_ELEMENTS)
                     for d in np.asarray(raw, dtype=object).reshape(-1))
        if not dims or len(dims) > checks.MAX_NDIM or 0 in dims or dims.count(-1) > 1:
            raise GraphError("Reshape shape must be 1 to 8 positive sizes (one may be -1)", available=dims)
        object.__setattr__(self, "shape", dims)

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", ())

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
        object.__setattr__(self, "factor", frozen_array(self.factor, what="Scale factor"))

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
        s = frozen_array(self.steps, np.int64, "Delay steps")
        if s.size and (s.min() < 0 or s.max() > MAX_DELAY):
            raise GraphError("Delay steps are out of range", needed=f"0..{MAX_DELAY}",
                             available=f"{int(s.min())}..{int(s.max())}")
        object.__setattr__(self, "steps", s)

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
            object.__setattr__(self, name, frozen_array(getattr(self, name), what=f"BatchNorm {name}").reshape(-1))
        object.__setattr__(self, "eps", checks.real(self.eps, "BatchNorm eps", None, GraphError, lo=0.0))
        n = self.mean.size
        if any(getattr(self, k).size != n for k in self.array_fields) or np.any(self.var + self.eps <= 0):
            raise GraphError("BatchNorm needs mean, var, gamma and beta of one length and var + eps > 0",
                             available=[getattr(self, k).size for k in self.array_fields])

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
