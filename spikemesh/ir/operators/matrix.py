"""Weight-matrix operators: ``Dense`` (y = W·x + b) and ``Sparse`` (CSR connectivity over presynaptic rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import GraphError
from spikemesh.ir.operators.base import Op, Shape, frozen_array, sp


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """y = W·x (+ bias); W is ``[n_out, n_in]``; the input must be 1-D of length n_in."""

    weight: Any
    bias: Any = None
    array_fields: ClassVar[tuple[str, ...]] = ("weight", "bias")
    weighted: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", frozen_array(self.weight, what="Dense weight"))
        if self.weight.ndim != 2 or 0 in self.weight.shape:
            raise GraphError("Dense weight must be 2-D [out, in], not empty", available=self.weight.shape)
        if self.bias is not None:
            object.__setattr__(self, "bias", frozen_array(self.bias, what="Dense bias").reshape(-1))
            if self.bias.size not in (1, self.weight.shape[0]):
                raise GraphError("Dense bias needs one value per output", needed=self.weight.shape[0],
                                 available=self.bias.size)

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
        object.__setattr__(self, "indptr", frozen_array(self.indptr, np.int64, "Sparse indptr").reshape(-1))
        object.__setattr__(self, "indices", frozen_array(self.indices, np.int64, "Sparse indices").reshape(-1))
        object.__setattr__(self, "data", frozen_array(self.data, what="Sparse data").reshape(-1))
        object.__setattr__(self, "n_out", checks.integer(self.n_out, "Sparse n_out", None, GraphError, lo=1,
                                                         hi=checks.MAX_ELEMENTS))
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n_out):
            raise GraphError("Sparse indices out of range", needed=f"0..{self.n_out - 1}",
                             available=f"{int(self.indices.min())}..{int(self.indices.max())}")
        p = self.indptr
        if (p.size < 2 or p[0] != 0 or np.any(np.diff(p) < 0) or len(self.indices) != len(self.data)
                or p[-1] != len(self.data)):
            raise GraphError("Sparse CSR arrays are inconsistent", needed="indptr[0] = 0, non-decreasing, "
                             "indptr[-1] = len(indices) = len(data)",
                             available=f"indptr {p.size} entries, {len(self.indices)} indices, {len(self.data)} data")

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
