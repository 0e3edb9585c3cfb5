"""Per-neuron BPTT kernels of the FP and BP engines (Numba, float32, flat arrays ``[T, M]`` with M = B · n).

Forward (FP engine), per step t and neuron (docs/semantics.md order; ``before_decay`` reset timing):
    H[t] = β·V[t−1] + gain·I[t] + leak;  S[t] = H[t] ≥ θ (or >);  V[t] = clip(reset(H[t], S[t]))
``after_decay`` (snnTorch's delayed reset): R[t] = reset(H[t], S[t−1]); S[t] = R[t] ≥ θ; V[t] = clip(R[t]).
The FP engine stores H[t] (the membrane before reset) and S[t] (1 bit) for BP.

Backward (BP engine), reverse time, with σ' the surrogate of ∂S/∂H and ``detach`` dropping the reset path
through S (BPTT of the LIF recursion as in STBP, Wu et al., Front. Neurosci. 12:331, 2018:
δ[t] = ε[t]⊙σ'(U[t] − θ) + β(1 − S[t])⊙δ[t+1] for the zero reset):
    gR = clip'(R)·gV;  gS' = ε[t] + gR·∂R/∂S;  δ[t] = gR·∂R/∂H + gS'·σ'(H − θ);  gV[t−1] = β·δ[t]
Non-spiking populations (LI, Integrator) output V[t]; their ε[t] is ∂L/∂V[t].
Surrogates (x = H − θ): 0 fast sigmoid 1/(1+k|x|)² (snnTorch/SuperSpike), 1 rectangular 1[|x| < a]/(2a)
(PRIME's, github.com/bo-wang-up/PRIME), 2 sigmoid k·σ(kx)(1 − σ(kx)) (SpikingJelly's Sigmoid).
"""

from __future__ import annotations

import numpy as np
from numba import njit

RESET_CODES = {"subtract": 0, "zero": 1, "none": 2}
SURROGATES = {"fast_sigmoid": 0, "rectangular": 1, "sigmoid": 2}


@njit(cache=True, inline="always")
def _surrogate(x: np.float32, kind: int, k: np.float32) -> np.float32:
    if kind == 0:
        d = np.float32(1.0) + k * abs(x)
        return np.float32(1.0) / (d * d)
    if kind == 1:
        return np.float32(1.0) / (np.float32(2.0) * k) if abs(x) < k else np.float32(0.0)
    e = np.float32(1.0) / (np.float32(1.0) + np.exp(-k * x))
    return k * e * (np.float32(1.0) - e)


@njit(cache=True, inline="always")
def _reset(h: np.float32, s: bool, mode: int, thr: np.float32, vr: np.float32) -> np.float32:
    if not s or mode == 2:
        return h
    if mode == 0:
        return h - thr
    return vr


@njit(cache=True)
def lif_forward(I, beta, gain, leak, thr, vr, v, s_prev, n, reset, after, geq, spiking, lo, hi, H, S):  # noqa: ANN001
    """Advance ``I.shape[0]`` steps from state ``v``/``s_prev`` [M] (updated in place); writes H and S [T, M].
    Parameters are per neuron [n] (index m % n)."""
    T, M = I.shape
    for t in range(T):
        for m in range(M):
            p = m % n
            h = beta[p] * v[m]
            h = h + gain[p] * I[t, m]
            h = h + leak[p]
            H[t, m] = h
            if after:
                r = _reset(h, s_prev[m], reset, thr[p], vr[p])
            else:
                r = h
            if spiking:
                s = (r >= thr[p]) if geq else (r > thr[p])
            else:
                s = False
            S[t, m] = s
            if not after:
                r = _reset(h, s, reset, thr[p], vr[p])
            if r < lo:
                r = lo
            elif r > hi:
                r = hi
            v[m] = r
            s_prev[m] = s


@njit(cache=True)
def lif_backward(H, S, E, beta, gain, thr, vr, gv, gs_carry, s_before, n, reset, after, spiking, detach, lo, hi,
                 sg_kind, sg_k, D):  # noqa: ANN001
    """Reverse pass over ``H.shape[0]`` steps. E [T, M]: ∂L/∂(output) per step (spikes, or V when non-spiking).
    gv / gs_carry [M]: carried ∂L/∂V[t] and (after_decay) ∂L/∂S[t] from the later steps (updated in place).
    s_before [M]: S of the step before the first given step (after_decay). Writes δ = ∂L/∂H into D [T, M]."""
    T, M = H.shape
    for tt in range(T):
        t = T - 1 - tt
        for m in range(M):
            p = m % n
            h = H[t, m]
            s = S[t, m]
            sp = (S[t - 1, m] if t > 0 else s_before[m])
            if after:
                rs = sp
            else:
                rs = s
            r = _reset(h, rs, reset, thr[p], vr[p])
            gin = gv[m]
            if not spiking:
                gin = gin + E[t, m]
            gr = gin if (r >= lo and r <= hi) else np.float32(0.0)
            # d r / d h and d r / d (reset spike)
            if reset == 1 and rs:
                drdh = np.float32(0.0)
                drds = vr[p] - h
            elif reset == 0:
                drdh = np.float32(1.0)
                drds = -thr[p]
            else:
                drdh = np.float32(1.0)
                drds = np.float32(0.0)
            if reset == 1 and not rs:
                drds = vr[p] - h
            if detach or reset == 2:
                drds = np.float32(0.0)
            if not spiking:
                d = gr
            elif after:
                gs = E[t, m] + gs_carry[m]
                gr = gr + gs * _surrogate(r - thr[p], sg_kind, sg_k)
                d = gr * drdh
                gs_carry[m] = gr * drds
            else:
                gs = E[t, m] + gr * drds
                d = gr * drdh + gs * _surrogate(h - thr[p], sg_kind, sg_k)
            D[t, m] = d
            gv[m] = beta[p] * d
