"""Projection operators against torch.nn.functional on random data, plus structure (fan-in/out, CSR)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from spikemesh.errors import GraphError
from spikemesh.ir import (
    AvgPool2d,
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


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def onehot_matrix(op, in_shape) -> np.ndarray:
    """[n_in, n_out] by applying the op to every one-hot input (bias removed by subtracting op(0))."""
    n = math.prod(in_shape)
    eye = np.eye(n).reshape((n, *in_shape))
    zero = op.apply(np.zeros((1, *in_shape))).reshape(1, -1)
    return op.apply(eye).reshape(n, -1) - zero


CONV2D_CASES = [
    # (c_in, c_out, H, W, k, stride, padding, dilation, groups)
    (3, 4, 9, 7, (3, 3), 1, 0, 1, 1),
    (3, 6, 10, 11, (3, 2), (2, 1), (1, 2), 1, 3),
    (4, 4, 12, 12, (3, 3), 2, 1, 2, 4),  # depthwise, dilated
    (2, 5, 8, 8, (1, 1), 3, 0, 1, 1),
    (4, 6, 6, 9, (2, 4), (1, 3), (0, 1), (2, 1), 2),
]


@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d_matches_torch(case):
    c_in, c_out, H, W, k, s, p, d, g = case
    rng = np.random.default_rng(hash(case) % 2**32)
    w = rng.normal(size=(c_out, c_in // g, *k))
    b = rng.normal(size=c_out)
    x = rng.normal(size=(3, c_in, H, W))
    op = Conv2d(w, b, stride=s, padding=p, dilation=d, groups=g)
    want = F.conv2d(t(x), t(w), t(b), stride=s, padding=p, dilation=d, groups=g).numpy()
    got = op.apply(x)
    assert got.shape == want.shape == (3, *op.out_shape((c_in, H, W)))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    # neuron-level CSR equals one-hot application, and fan-in/out/synapses agree with it
    m = op.to_csr((c_in, H, W))
    np.testing.assert_allclose(m.toarray(), onehot_matrix(op, (c_in, H, W)), atol=1e-12)
    structural = sp.csr_matrix((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)
    assert np.array_equal(op.fan_in((c_in, H, W)).reshape(-1), np.asarray(structural.sum(axis=0)).reshape(-1))
    assert np.array_equal(op.fan_out((c_in, H, W)).reshape(-1), np.asarray(structural.sum(axis=1)).reshape(-1))
    assert op.synapses((c_in, H, W)) == m.nnz


@pytest.mark.parametrize("case", [
    (2, 4, 15, 3, 1, 0, 1, 1),
    (4, 6, 20, 5, 2, 2, 1, 2),
    (3, 3, 17, 3, 3, 4, 3, 3),
])
def test_conv1d_matches_torch(case):
    c_in, c_out, L, k, s, p, d, g = case
    rng = np.random.default_rng(sum(case))
    w = rng.normal(size=(c_out, c_in // g, k))
    b = rng.normal(size=c_out)
    x = rng.normal(size=(2, c_in, L))
    op = Conv1d(w, b, stride=s, padding=p, dilation=d, groups=g)
    want = F.conv1d(t(x), t(w), t(b), stride=s, padding=p, dilation=d, groups=g).numpy()
    np.testing.assert_allclose(op.apply(x), want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(op.to_csr((c_in, L)).toarray(), onehot_matrix(op, (c_in, L)), atol=1e-12)


def test_conv_integer_mode_is_exact():
    rng = np.random.default_rng(1)
    w = rng.integers(-8, 8, size=(4, 2, 3, 3))
    x = rng.integers(0, 2, size=(2, 2, 6, 6))
    op = Conv2d(w, stride=1, padding=1)
    got = op.apply(x.astype(np.int64))
    assert got.dtype == np.int64
    want = F.conv2d(t(x.astype(np.float64)), t(w.astype(np.float64)), padding=1).numpy()
    assert np.array_equal(got, want.astype(np.int64))


@pytest.mark.parametrize("k, s, p", [((2, 2), None, (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (1, 0))])
def test_pooling_matches_torch(k, s, p):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 9, 10))
    stride = s if s is not None else k
    avg = F.avg_pool2d(t(x), k, stride=stride, padding=p).numpy()  # count_include_pad=True
    total = F.avg_pool2d(t(x), k, stride=stride, padding=p, divisor_override=1).numpy()
    sp_op, av_op = SumPool2d(k, s, p), AvgPool2d(k, s, p)
    np.testing.assert_allclose(sp_op.apply(x), total, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(av_op.apply(x), avg, rtol=1e-12, atol=1e-12)
    assert sp_op.out_shape((3, 9, 10)) == avg.shape[1:]
    np.testing.assert_allclose(sp_op.to_csr((3, 9, 10)).toarray(), onehot_matrix(sp_op, (3, 9, 10)))
    np.testing.assert_allclose(av_op.to_csr((3, 9, 10)).toarray(), onehot_matrix(av_op, (3, 9, 10)), atol=1e-15)


def test_avgpool_refuses_int_mode():
    with pytest.raises(GraphError, match="AvgPool2d is not integer-exact"):
        AvgPool2d((2, 2)).apply(np.ones((1, 1, 4, 4), dtype=np.int64))


def test_dense_matches_linear():
    rng = np.random.default_rng(2)
    w, b, x = rng.normal(size=(5, 7)), rng.normal(size=5), rng.normal(size=(4, 7))
    op = Dense(w, b)
    np.testing.assert_allclose(op.apply(x), F.linear(t(x), t(w), t(b)).numpy(), rtol=1e-12)
    assert op.fan_in((7,)).tolist() == [7] * 5
    assert op.fan_out((7,)).tolist() == [5] * 7
    assert op.synapses((7,)) == 35
    np.testing.assert_allclose(op.to_csr((7,)).toarray(), w.T)
    with pytest.raises(GraphError, match="Dense input shape mismatch"):
        op.out_shape((2, 7))


def test_sparse_matches_dense_product():
    rng = np.random.default_rng(4)
    m = sp.random(9, 6, density=0.3, random_state=4, format="csr")
    op = Sparse.from_matrix(m)
    x = rng.normal(size=(3, 9))
    np.testing.assert_allclose(op.apply(x), x @ m.toarray(), rtol=1e-12)
    assert op.synapses((9,)) == m.nnz
    assert op.fan_out((9,)).tolist() == np.diff(m.indptr).tolist()
    xi = rng.integers(0, 3, size=(3, 9))
    op_i = Sparse.from_matrix(sp.csr_matrix(np.round(m.toarray() * 10)))
    assert np.array_equal(op_i.apply(xi), xi @ np.round(m.toarray() * 10).astype(np.int64))
    with pytest.raises(GraphError, match="out of range"):
        Sparse([0, 1], [5], [1.0], 3)


def test_flatten_reshape_scale_identity_delay():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(Flatten().apply(x), torch.flatten(t(x), 1).numpy())
    assert Flatten().out_shape((3, 4, 5)) == (60,)
    assert Reshape((12, 5)).out_shape((3, 4, 5)) == (12, 5)
    with pytest.raises(GraphError, match="cannot reshape"):
        Reshape((7,)).out_shape((3, 4, 5))
    f = rng.normal(size=(3, 1, 1))
    np.testing.assert_allclose(Scale(f).apply(x), x * f)
    np.testing.assert_allclose(Scale(f).to_csr((3, 4, 5)).toarray(), onehot_matrix(Scale(f), (3, 4, 5)))
    assert Identity().apply(x) is x
    assert Identity().to_csr((3, 4, 5)).nnz == 60
    d = Delay(np.arange(60).reshape(3, 4, 5) % 3)
    assert d.out_shape((3, 4, 5)) == (3, 4, 5) and d.max_steps == 2 and d.min_steps == 0
    with pytest.raises(GraphError, match="Delay steps are out of range"):
        Delay(-1)
    with pytest.raises(GraphError, match="do not broadcast"):
        Delay(np.ones(7, dtype=int)).out_shape((3, 4, 5))


def test_conv_shape_errors():
    op = Conv2d(np.ones((4, 2, 3, 3)))
    with pytest.raises(GraphError, match="input channels mismatch"):
        op.out_shape((3, 8, 8))
    with pytest.raises(GraphError, match="output would be empty"):
        op.out_shape((2, 2, 2))
    with pytest.raises(GraphError, match="not divisible by groups"):
        Conv2d(np.ones((3, 1, 3, 3)), groups=2)
