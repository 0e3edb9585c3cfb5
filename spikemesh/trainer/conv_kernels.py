"""Numba kernels of the 2-D convolution as the FP, BP and WG engines run it (float32 arrays, float64 accumulators).

Shapes: x ``[N, C, H, W]`` (N = time steps × samples, folded), weights ``[Co, C/groups, kh, kw]``, y / δ
``[N, Co, Ho, Wo]`` with Ho = (H + 2·ph − dh·(kh − 1) − 1) // sh + 1 (torch's convention).
- FP (``conv2d_fwd``): y[n, o, i, j] = Σ_{c, a, b} x[n, c, i·sh − ph + a·dh, j·sw − pw + b·dw] · w[o, c, a, b],
  scattered from the nonzero inputs (binary spikes: input spikes × fan-out accumulates).
- BP (``conv2d_vjp``): the transposed convolution, scattered from the nonzero δ (nnz(δ) × fan-in).
- WG (``conv2d_wgrad``): ∂w[o, c, a, b] = Σ_{n, i, j} δ[n, o, i, j] · x[n, c, …], visited from the nonzero inputs
  (nnz(input) × fan-out; zero δ add nothing: the WG count of counts.py is nnz(δ) × input spikes).
Sums are accumulated in float64 and cast to float32 once per output element.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def conv2d_fwd(x, w, sh, sw, ph, pw, dh, dw, groups, Ho, Wo):  # noqa: ANN001, ANN201
    N, C, H, W = x.shape
    Co, Cg, KH, KW = w.shape
    cog = Co // groups
    y = np.empty((N, Co, Ho, Wo), dtype=np.float32)
    buf = np.empty((Ho, Wo, Co), dtype=np.float64)
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))  # [Cg, kh, kw, Co]
    for n in range(N):
        buf[:] = 0.0
        for c in range(C):  # scatter every nonzero input over its fan-out
            grp = c // Cg
            cl = c - grp * Cg
            o0 = grp * cog
            for ih in range(H):
                for iw in range(W):
                    xv = x[n, c, ih, iw]
                    if xv == 0:
                        continue
                    for a in range(KH):
                        t = ih + ph - a * dh
                        if t < 0 or t % sh != 0 or t // sh >= Ho:
                            continue
                        i = t // sh
                        for b in range(KW):
                            u = iw + pw - b * dw
                            if u < 0 or u % sw != 0 or u // sw >= Wo:
                                continue
                            j = u // sw
                            for o in range(cog):
                                buf[i, j, o0 + o] += xv * wt[cl, a, b, o0 + o]
        for o in range(Co):
            for i in range(Ho):
                for j in range(Wo):
                    y[n, o, i, j] = buf[i, j, o]
    return y


@njit(cache=True)
def conv2d_vjp(g, w, H, W, sh, sw, ph, pw, dh, dw, groups):  # noqa: ANN001, ANN201
    N, Co, Ho, Wo = g.shape
    _, Cg, KH, KW = w.shape
    cog = Co // groups
    C = Cg * groups
    gx = np.empty((N, C, H, W), dtype=np.float32)
    buf = np.empty((H, W, C), dtype=np.float64)
    for n in range(N):
        buf[:] = 0.0
        for o in range(Co):  # scatter every nonzero δ over its fan-in
            c0 = (o // cog) * Cg
            for i in range(Ho):
                for j in range(Wo):
                    gv = g[n, o, i, j]
                    if gv == 0:
                        continue
                    for a in range(KH):
                        ih = i * sh - ph + a * dh
                        if ih < 0 or ih >= H:
                            continue
                        for b in range(KW):
                            iw = j * sw - pw + b * dw
                            if iw < 0 or iw >= W:
                                continue
                            for c in range(Cg):
                                buf[ih, iw, c0 + c] += gv * w[o, c, a, b]
        for c in range(C):
            for ih in range(H):
                for iw in range(W):
                    gx[n, c, ih, iw] = buf[ih, iw, c]
    return gx


@njit(cache=True)
def conv2d_wgrad(x, g, Cg, KH, KW, sh, sw, ph, pw, dh, dw, groups):  # noqa: ANN001, ANN201
    N, C, H, W = x.shape
    _, Co, Ho, Wo = g.shape
    cog = Co // groups
    acc = np.zeros((Cg, KH, KW, Co), dtype=np.float64)
    gt = np.empty((Ho, Wo, Co), dtype=np.float32)
    for n in range(N):
        for o in range(Co):
            for i in range(Ho):
                for j in range(Wo):
                    gt[i, j, o] = g[n, o, i, j]
        for c in range(C):  # every nonzero input meets the δ of its fan-out; zero δ add nothing
            grp = c // Cg
            cl = c - grp * Cg
            o0 = grp * cog
            for ih in range(H):
                for iw in range(W):
                    xv = x[n, c, ih, iw]
                    if xv == 0:
                        continue
                    for a in range(KH):
                        t = ih + ph - a * dh
                        if t < 0 or t % sh != 0 or t // sh >= Ho:
                            continue
                        i = t // sh
                        for b in range(KW):
                            u = iw + pw - b * dw
                            if u < 0 or u % sw != 0 or u // sw >= Wo:
                                continue
                            j = u // sw
                            for o in range(cog):
                                acc[cl, a, b, o0 + o] += gt[i, j, o0 + o] * xv
    out = np.empty((Co, Cg, KH, KW), dtype=np.float32)
    for o in range(Co):
        for c in range(Cg):
            for a in range(KH):
                for b in range(KW):
                    out[o, c, a, b] = acc[c, a, b, o]
    return out
