"""Device non-idealities of memristor cells. Conductances are in µS, times in seconds; every effect is off by
default, parameterised, and draws from a ``numpy.random.Generator`` the caller seeds.

Formulas (IBM aihwkit ``PCMLikeNoiseModel``, aihwkit/inference/noise/pcm.py, after Nandakumar et al., ICECS 2019):
- programming noise σ_prog(G_T) = [c0 + c1·(G_T/g_max) + c2·(G_T/g_max)²]·(g_max/25 µS), c = (0.26348, 1.9650,
  −1.1731) µS; G_P = max(0, G_T + σ_prog·ξ);
- drift G(t) = G_P·((t + t0)/t0)^(−ν), t0 = 20 s, ν = |μ_ν + σ_ν·ξ| with μ_ν = clip(−0.0155·ln(G_T/g_max) +
  0.0244, 0.049, 0.1), σ_ν = clip(−0.0125·ln(G_T/g_max) − 0.0059, 0.008, 0.045);
- accumulated 1/f read noise Q_s = min(0.2, 0.0088 / max(1e-3, (G_P/g_max)^0.65)), σ = G(t)·Q_s·√ln((t' + t_r)/(2 t_r)),
  t' = t + t0, t_r = 250 ns; G = max(0, G(t) + σ·ξ);
- global drift compensation (aihwkit ``GlobalDriftCompensation``): α = mean|W(0)| / mean|W(t)| from one-hot reads.
Generic models: Gaussian programming noise σ = rel·g_max (CrossSim "Independent"), stuck-at-LRS/HRS faults by fraction
(MemTorch ``DeviceFaults``), quantisation of targets to n levels (MemTorch ``FiniteConductanceStates``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PCM_C = (0.26348, 1.9650, -1.1731)  # µS, aihwkit pcm.py prog_coeff
PCM_T0 = 20.0  # s
PCM_T_READ = 250e-9  # s


@dataclass(frozen=True)
class DeviceModel:
    """Which device effects are on, and their parameters.

    prog_noise: None, "gaussian" (σ = prog_sigma_rel·g_max) or "pcm" (aihwkit polynomial σ(G), scaled by
    prog_noise_scale). drift: apply aihwkit's PCM drift at read time ``t_read_s`` after programming (scaled
    ν by drift_scale). read_noise: aihwkit's accumulated 1/f noise at that time (× read_noise_scale).
    stuck_lrs / stuck_hrs: fractions of cells stuck at g_max / g_min. levels: quantise conductance targets to this
    many evenly spaced levels in [g_min, g_max] (None: off). drift_compensation: global α correction.
    """

    prog_noise: str | None = None
    prog_sigma_rel: float = 0.02
    prog_noise_scale: float = 1.0
    drift: bool = False
    drift_scale: float = 1.0
    read_noise: bool = False
    read_noise_scale: float = 1.0
    t_read_s: float = 1.0
    stuck_lrs: float = 0.0
    stuck_hrs: float = 0.0
    levels: int | None = None
    drift_compensation: bool = False

    @property
    def ideal(self) -> bool:
        return (self.prog_noise is None and not self.drift and not self.read_noise and self.stuck_lrs == 0
                and self.stuck_hrs == 0 and self.levels is None)


def pcm_prog_sigma(g_t: np.ndarray, g_max: float) -> np.ndarray:
    """σ of PCM programming noise (µS) at target conductance ``g_t`` (µS)."""
    r = np.asarray(g_t, dtype=np.float64) / g_max
    return (PCM_C[0] + PCM_C[1] * r + PCM_C[2] * r * r) * (g_max / 25.0)


def pcm_nu_stats(g_t: np.ndarray, g_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(μ_ν, σ_ν) of the PCM drift exponent at target ``g_t``."""
    lg = np.log(np.maximum(np.asarray(g_t, dtype=np.float64), 1e-12) / g_max)
    mu = np.clip(-0.0155 * lg + 0.0244, 0.049, 0.1)
    sig = np.clip(-0.0125 * lg - 0.0059, 0.008, 0.045)
    return mu, sig


def pcm_read_q(g_p: np.ndarray, g_max: float) -> np.ndarray:
    """Q_s of the accumulated 1/f read noise at programmed ``g_p``."""
    return np.minimum(0.2, 0.0088 / np.maximum(1e-3, (np.abs(g_p) / g_max) ** 0.65))


def quantize_levels(g: np.ndarray, g_min: float, g_max: float, levels: int) -> np.ndarray:
    """Snap ``g`` to the nearest of ``levels`` evenly spaced conductances in [g_min, g_max]."""
    if levels < 2:
        return np.full_like(g, g_min)
    step = (g_max - g_min) / (levels - 1)
    return g_min + np.clip(np.round((g - g_min) / step), 0, levels - 1) * step


def program(g_t: np.ndarray, model: DeviceModel, g_min: float, g_max: float, rng: np.random.Generator) -> np.ndarray:
    """Programmed conductances G_P (µS) for targets ``g_t``: level quantisation, programming noise, faults."""
    g = np.asarray(g_t, dtype=np.float64)
    if model.levels is not None:
        g = quantize_levels(g, g_min, g_max, model.levels)
    if model.prog_noise == "pcm":
        g = np.maximum(0.0, g + model.prog_noise_scale * pcm_prog_sigma(g, g_max) * rng.standard_normal(g.shape))
    elif model.prog_noise == "gaussian":
        g = np.maximum(0.0, g + model.prog_sigma_rel * g_max * rng.standard_normal(g.shape))
    elif model.prog_noise is not None:
        raise ValueError(f"unknown programming noise {model.prog_noise!r}")
    if model.stuck_lrs or model.stuck_hrs:
        u = rng.random(g.shape)
        g = np.where(u < model.stuck_lrs, g_max, g)
        g = np.where((u >= model.stuck_lrs) & (u < model.stuck_lrs + model.stuck_hrs), g_min, g)
    return g


def drift(g_p: np.ndarray, g_t: np.ndarray, t: float, model: DeviceModel, g_max: float,
          rng: np.random.Generator) -> np.ndarray:
    """Conductance read ``t`` seconds after programming: PCM drift and accumulated 1/f read noise (when on)."""
    g = np.asarray(g_p, dtype=np.float64)
    if model.drift:
        mu, sig = pcm_nu_stats(g_t, g_max)
        nu = np.abs(mu + sig * rng.standard_normal(g.shape)) * model.drift_scale
        g = g * ((t + PCM_T0) / PCM_T0) ** (-nu)
    if model.read_noise:
        q = pcm_read_q(g_p, g_max) * model.read_noise_scale
        sd = np.abs(g) * q * np.sqrt(np.log((t + PCM_T0 + PCM_T_READ) / (2 * PCM_T_READ)))
        g = np.maximum(0.0, g + sd * rng.standard_normal(g.shape))
    return g
