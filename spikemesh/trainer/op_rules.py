"""Forward, vector-Jacobian and weight-gradient rules of the IR's projection operators, in float32 NumPy.

Arrays carry a leading "folded" batch axis ``N`` (time steps × samples) followed by the operator's per-sample
shape. The training engines (FP / BP / WG) evaluate a projection's chain with these rules: FP applies ``fwd`` to
input spikes, BP applies ``vjp`` to δ, WG accumulates ``wgrad`` = Σ_N δ ⊗ input over the folded axis, which is
the weight gradient ∂L/∂W = Σ_t δ[t]·S[t]^T.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spikemesh.errors import SimulationError
from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import (
    AvgPool2d,
    BatchNorm,
    Conv,
    Delay,
    Dense,
    Identity,
    Op,
    Reshape,
    Scale,
    Sparse,
    SumPool2d,
)
from spikemesh.trainer.conv_kernels import conv2d_fwd, conv2d_vjp, conv2d_wgrad

F32 = np.float32


class TrainingError(SimulationError):
    """A graph or setting the training engine cannot handle."""


@dataclass
class ChainStep:
    """One operator of a projection chain as the engines run it. ``params`` names the trainable arrays
    ("weight", "bias", "data") this step reads from the parameter dict under ``key``."""

    op: Op
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    key: str
    trainable: tuple[str, ...]


def _conv_patches(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                  dilation: tuple[int, ...]) -> np.ndarray:
    """[N, C, *out, *k] windows of the zero-padded input."""
    nd = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    ext = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    win = np.lib.stride_tricks.sliding_window_view(xp, ext, axis=tuple(range(2, 2 + nd)))
    sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + tuple(
        slice(None, None, d) for d in dilation)
    return win[sl]


def _as2d(nd: int, stride: tuple[int, ...], dilation: tuple[int, ...], padding: tuple[int, ...]
          ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(stride, dilation, padding) of a 1-D convolution as a 2-D one over a height-1 image."""
    if nd == 2:
        return tuple(stride), tuple(dilation), tuple(padding)
    return (1, *stride), (1, *dilation), (0, *padding)


def _img2d(a: np.ndarray, nd: int) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=F32)
    return a if nd == 2 else a.reshape(a.shape[0], a.shape[1], 1, a.shape[2])


def conv_fwd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...], padding: tuple[int, ...],
             dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """FP of a convolution over a folded batch: the Numba kernel for 1-D/2-D (conv_kernels.py), NumPy otherwise."""
    nd = w.ndim - 2
    if nd in (1, 2):
        (sh, sw), (dh, dw), (ph, pw) = _as2d(nd, tuple(stride), tuple(dilation), tuple(padding))
        x2, w2 = _img2d(x, nd), _img2d(w, nd)
        Ho = (x2.shape[2] + 2 * ph - dh * (w2.shape[2] - 1) - 1) // sh + 1
        Wo = (x2.shape[3] + 2 * pw - dw * (w2.shape[3] - 1) - 1) // sw + 1
        y = conv2d_fwd(x2, w2, sh, sw, ph, pw, dh, dw, groups, Ho, Wo)
        y = y if nd == 2 else y.reshape(y.shape[0], y.shape[1], y.shape[3])
        if b is not None:
            y += np.asarray(b, dtype=F32).reshape((1, -1) + (1,) * nd)
        return y
    return conv_fwd_numpy(x, w, b, stride, padding, dilation, groups)


def conv_fwd_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
                   padding: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    nd = w.ndim - 2
    kernel = tuple(w.shape[2:])
    pt = _conv_patches(x, kernel, stride, padding, dilation)  # [N, C, *o, *k]
    cin_g, cout_g = w.shape[1], w.shape[0] // groups
    outs = []
    for g in range(groups):
        pg = pt[:, g * cin_g:(g + 1) * cin_g]
        wg = w[g * cout_g:(g + 1) * cout_g]
        # contract C and kernel axes: pg axes (1, 2+nd .. 2+2nd), wg axes (1, 2 ..)
        y = np.tensordot(pg, wg, axes=([1] + list(range(2 + nd, 2 + 2 * nd)), [1] + list(range(2, 2 + nd))))
        outs.append(np.moveaxis(y, -1, 1))  # [N, cout_g, *o]
    y = np.concatenate(outs, axis=1) if groups > 1 else outs[0]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nd)
    return np.ascontiguousarray(y, dtype=F32)


def conv_vjp(g: np.ndarray, w: np.ndarray, in_shape: tuple[int, ...], stride: tuple[int, ...],
             padding: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """∂L/∂x from ∂L/∂y: the transposed convolution (Numba kernel for 1-D/2-D, NumPy otherwise)."""
    nd = w.ndim - 2
    if nd in (1, 2):
        (sh, sw), (dh, dw), (ph, pw) = _as2d(nd, tuple(stride), tuple(dilation), tuple(padding))
        H, W = (in_shape[1], in_shape[2]) if nd == 2 else (1, in_shape[1])
        gx = conv2d_vjp(_img2d(g, nd), _img2d(w, nd), H, W, sh, sw, ph, pw, dh, dw, groups)
        return gx if nd == 2 else gx.reshape(gx.shape[0], gx.shape[1], gx.shape[3])
    return conv_vjp_numpy(g, w, in_shape, stride, padding, dilation, groups)


def conv_vjp_numpy(g: np.ndarray, w: np.ndarray, in_shape: tuple[int, ...], stride: tuple[int, ...],
                   padding: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """The transposed convolution in NumPy (col2im of g ⊗ w), one strided add per kernel tap."""
    kernel = tuple(w.shape[2:])
    n = g.shape[0]
    cin_g, cout_g = w.shape[1], w.shape[0] // groups
    padded = tuple(s + 2 * p for s, p in zip(in_shape[1:], padding, strict=True))
    gx = np.zeros((n, in_shape[0], *padded), dtype=F32)
    out_sp = g.shape[2:]
    for gi in range(groups):
        gg = g[:, gi * cout_g:(gi + 1) * cout_g]
        wg = w[gi * cout_g:(gi + 1) * cout_g]
        for tap in itertools.product(*(range(k) for k in kernel)):
            wt = wg[(slice(None), slice(None)) + tap]  # [cout_g, cin_g]
            contrib = np.tensordot(gg, wt, axes=([1], [0]))  # [N, *o, cin_g]
            contrib = np.moveaxis(contrib, -1, 1)
            sl = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                       for t, d, s, o in zip(tap, dilation, stride, out_sp, strict=True))
            gx[(slice(None), slice(gi * cin_g, (gi + 1) * cin_g)) + sl] += contrib
    crop = tuple(slice(p, p + s) for p, s in zip(padding, in_shape[1:], strict=True))
    return np.ascontiguousarray(gx[(slice(None), slice(None)) + crop])


def conv_wgrad(x: np.ndarray, g: np.ndarray, w_shape: tuple[int, ...], stride: tuple[int, ...],
               padding: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    """Σ_N Σ_out g[n, co, o] · x_patch[n, ci, o, k] -> [cout, cin_g, *k] (Numba for 1-D/2-D, NumPy otherwise)."""
    nd = len(w_shape) - 2
    if nd in (1, 2):
        (sh, sw), (dh, dw), (ph, pw) = _as2d(nd, tuple(stride), tuple(dilation), tuple(padding))
        kh, kw = (w_shape[2], w_shape[3]) if nd == 2 else (1, w_shape[2])
        gw = conv2d_wgrad(_img2d(x, nd), _img2d(g, nd), w_shape[1], kh, kw, sh, sw, ph, pw, dh, dw, groups)
        return gw.reshape(w_shape)
    return conv_wgrad_numpy(x, g, w_shape, stride, padding, dilation, groups)


def conv_wgrad_numpy(x: np.ndarray, g: np.ndarray, w_shape: tuple[int, ...], stride: tuple[int, ...],
                     padding: tuple[int, ...], dilation: tuple[int, ...], groups: int) -> np.ndarray:
    nd = len(w_shape) - 2
    kernel = tuple(w_shape[2:])
    pt = _conv_patches(x, kernel, stride, padding, dilation)  # [N, C, *o, *k]
    cin_g, cout_g = w_shape[1], w_shape[0] // groups
    outs = []
    for gi in range(groups):
        pg = pt[:, gi * cin_g:(gi + 1) * cin_g]
        gg = g[:, gi * cout_g:(gi + 1) * cout_g]
        axes_g = [0] + list(range(2, 2 + nd))
        axes_p = [0] + list(range(2, 2 + nd))
        outs.append(np.tensordot(gg, pg, axes=(axes_g, axes_p)))  # [cout_g, cin_g, *k]
    return np.concatenate(outs, axis=0).astype(F32) if groups > 1 else outs[0].astype(F32)


def _pool_conv(op: SumPool2d, channels: int) -> tuple[np.ndarray, tuple, tuple, tuple, int]:
    scale = 1.0 / (op.kernel[0] * op.kernel[1]) if isinstance(op, AvgPool2d) else 1.0
    w = np.full((channels, 1, *op.kernel), scale, dtype=F32)
    return w, op.stride, op.padding, (1, 1), channels


def build_chain(graph: Graph, proj: Projection) -> tuple[list[ChainStep], int]:
    """The chain of a projection as engine steps, and its (uniform) delay in steps."""
    shapes = graph.chain_shapes(proj)
    steps: list[ChainStep] = []
    delay = 0
    for i, op in enumerate(proj.ops):
        key = f"{proj.name}/{i}"
        if isinstance(op, Delay):
            if np.unique(op.steps).size > 1:
                raise TrainingError("per-element delays are not supported by the training engine", node=proj.name,
                                    needed="one delay per projection", available=np.unique(op.steps).tolist())
            delay = op.max_steps
            continue
        if isinstance(op, BatchNorm):
            raise TrainingError("BatchNorm must be folded before training", node=proj.name,
                                hint="run spikemesh.fold_batchnorm(graph) first")
        trainable: tuple[str, ...] = ()
        if isinstance(op, (Dense, Conv)):
            trainable = ("weight",) + (("bias",) if op.bias is not None else ())
        elif isinstance(op, Sparse):
            trainable = ("data",)
        elif not isinstance(op, (SumPool2d, Reshape, Identity, Scale)):
            raise TrainingError(f"operator {type(op).__name__} is not supported by the training engine",
                                node=proj.name)
        steps.append(ChainStep(op, shapes[i], shapes[i + 1], key, trainable))
    return steps, delay


def step_fwd(st: ChainStep, x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    op = st.op
    if isinstance(op, Dense):
        y = x @ params[f"{st.key}/weight"].T
        if op.bias is not None:
            y = y + params[f"{st.key}/bias"]
        return y.astype(F32, copy=False)
    if isinstance(op, Conv):
        return conv_fwd(x, params[f"{st.key}/weight"], params.get(f"{st.key}/bias"), op.stride, op.padding,
                        op.dilation, op.groups)
    if isinstance(op, SumPool2d):
        w, s, p, d, g = _pool_conv(op, st.in_shape[0])
        return conv_fwd(x, w, None, s, p, d, g)
    if isinstance(op, Sparse):
        m = sp.csr_matrix((params[f"{st.key}/data"], op.indices, op.indptr), shape=(op.n_in, op.n_out))
        return np.asarray((m.T @ x.T).T, dtype=F32)
    if isinstance(op, Scale):
        return (x * np.broadcast_to(op.factor, st.in_shape).astype(F32)).astype(F32)
    return x.reshape((x.shape[0], *st.out_shape))  # Reshape / Identity


def step_vjp(st: ChainStep, g: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    op = st.op
    if isinstance(op, Dense):
        return (g @ params[f"{st.key}/weight"]).astype(F32, copy=False)
    if isinstance(op, Conv):
        return conv_vjp(g, params[f"{st.key}/weight"], st.in_shape, op.stride, op.padding, op.dilation, op.groups)
    if isinstance(op, SumPool2d):
        w, s, p, d, gr = _pool_conv(op, st.in_shape[0])
        return conv_vjp(g, w, st.in_shape, s, p, d, gr)
    if isinstance(op, Sparse):
        m = sp.csr_matrix((params[f"{st.key}/data"], op.indices, op.indptr), shape=(op.n_in, op.n_out))
        return np.asarray((m @ g.T).T, dtype=F32)
    if isinstance(op, Scale):
        return (g * np.broadcast_to(op.factor, st.in_shape).astype(F32)).astype(F32)
    return g.reshape((g.shape[0], *st.in_shape))


def step_wgrad(st: ChainStep, x: np.ndarray, g: np.ndarray, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gradients of the step's trainable arrays, summed over the folded axis."""
    op = st.op
    out: dict[str, np.ndarray] = {}
    if isinstance(op, Dense):
        out[f"{st.key}/weight"] = (g.T @ x).astype(F32)
        if op.bias is not None:
            out[f"{st.key}/bias"] = g.sum(axis=0, dtype=F32)
    elif isinstance(op, Conv):
        out[f"{st.key}/weight"] = conv_wgrad(x, g, op.weight.shape, op.stride, op.padding, op.dilation, op.groups)
        if op.bias is not None:
            out[f"{st.key}/bias"] = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1), dtype=F32)
    elif isinstance(op, Sparse):
        rows = np.repeat(np.arange(op.n_in), np.diff(op.indptr))
        out[f"{st.key}/data"] = np.einsum("ni,ni->i", x[:, rows], g[:, op.indices]).astype(F32)
    return out


def initial_params(graph: Graph) -> dict[str, np.ndarray]:
    """Float32 copies of every trainable array of the graph, keyed ``"<projection>/<op index>/<field>"``."""
    params: dict[str, np.ndarray] = {}
    for proj in graph.projections:
        for i, op in enumerate(proj.ops):
            for name in ("weight", "bias") if isinstance(op, (Dense, Conv)) else ("data",) if isinstance(
                    op, Sparse) else ():
                arr = getattr(op, name)
                if arr is not None:
                    params[f"{proj.name}/{i}/{name}"] = np.array(arr, dtype=F32)
    return params


def structural(st: ChainStep, x: np.ndarray) -> np.ndarray:
    """The step with every weight replaced by 1 (for counting synapses reached), biases dropped."""
    op = st.op
    if isinstance(op, Dense):
        return x @ np.ones(op.weight.shape, dtype=F32).T
    if isinstance(op, Conv):
        return conv_fwd(x, np.ones(op.weight.shape, dtype=F32), None, op.stride, op.padding, op.dilation, op.groups)
    if isinstance(op, SumPool2d):
        w, s, p, d, g = _pool_conv(op, st.in_shape[0])
        return conv_fwd(x, np.ones_like(w), None, s, p, d, g)
    if isinstance(op, Sparse):
        m = sp.csr_matrix((np.ones(len(op.data), dtype=F32), op.indices, op.indptr), shape=(op.n_in, op.n_out))
        return np.asarray((m.T @ x.T).T, dtype=F32)
    return x.reshape((x.shape[0], *st.out_shape))
