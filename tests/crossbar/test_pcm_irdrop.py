"""PCM statistics vs closed-form expectations derived here from aihwkit's ``PCMLikeNoiseModel`` formulas,
and IR drop: aihwkit closed form vs the nodal solve."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from spikemesh.backends.crossbar import devices as dev
from spikemesh.backends.crossbar.irdrop import ir_drop_closed_form, ir_drop_nodal

G_MAX = 25.0
TIMES = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "1y": 3.156e7, "10y": 3.156e8}


def _prog_sigma(gt: float) -> float:
    r = gt / G_MAX
    return 0.26348 + 1.9650 * r - 1.1731 * r * r


def _nu(gt: float) -> tuple[float, float]:
    lg = np.log(gt / G_MAX)
    return float(np.clip(-0.0155 * lg + 0.0244, 0.049, 0.1)), float(np.clip(-0.0125 * lg - 0.0059, 0.008, 0.045))


def _folded_mgf(m: float, s: float, lam: float) -> float:
    """E[exp(-lam |m + s Z|)]."""
    return float(np.exp(-lam * m + lam * lam * s * s / 2) * norm.cdf(m / s - lam * s)
                 + np.exp(lam * m + lam * lam * s * s / 2) * norm.cdf(-m / s - lam * s))


def expected(gt: float, t: float | None) -> tuple[float, float]:
    """Mean and std of G_P (t None) or of G(t) with drift + 1/f read noise, by quadrature over G_P ~ max(0, N)."""
    s = _prog_sigma(gt)
    if t is None:
        a = gt / s
        m1 = gt * norm.cdf(a) + s * norm.pdf(a)
        m2 = (gt * gt + s * s) * norm.cdf(a) + gt * s * norm.pdf(a)
        return m1, np.sqrt(m2 - m1 * m1)
    mu, sg = _nu(gt)
    lam = np.log((t + 20.0) / 20.0)
    d1, d2 = _folded_mgf(mu, sg, lam), _folded_mgf(mu, sg, 2 * lam)
    root = np.sqrt(np.log((t + 20.0 + 250e-9) / (2 * 250e-9)))

    def h(gp: float, k: int) -> float:  # E[max(0, 1 + qZ)^k] for the read-noise factor
        q = min(0.2, 0.0088 / max(1e-3, (gp / G_MAX) ** 0.65)) * root
        c = 1 / q
        return norm.cdf(c) + q * norm.pdf(c) if k == 1 else (1 + q * q) * norm.cdf(c) + q * norm.pdf(c)

    pdf = lambda gp: norm.pdf(gp, gt, s)  # noqa: E731
    e1 = integrate.quad(lambda gp: gp * h(gp, 1) * pdf(gp), 0, gt + 10 * s, limit=200)[0]
    e2 = integrate.quad(lambda gp: gp * gp * h(gp, 2) * pdf(gp), 0, gt + 10 * s, limit=200)[0]
    m1, m2 = d1 * e1, d2 * e2
    return m1, np.sqrt(m2 - m1 * m1)


@pytest.mark.parametrize("gt", [1.0, 5.0, 12.5, 20.0, 25.0])
def test_pcm_statistics_within_2_percent(gt: float) -> None:
    n = 200_000
    rng = np.random.default_rng(int(gt * 10))
    model = dev.DeviceModel(prog_noise="pcm", drift=True, read_noise=True)
    g_t = np.full(n, gt)
    g_p = dev.program(g_t, model, 0.0, G_MAX, rng)
    m, s = expected(gt, None)
    assert g_p.mean() == pytest.approx(m, rel=0.02)
    assert g_p.std() == pytest.approx(s, rel=0.02)
    for t in TIMES.values():
        g = dev.drift(g_p, g_t, t, model, G_MAX, rng)
        m, s = expected(gt, t)
        assert g.mean() == pytest.approx(m, rel=0.02), t
        assert g.std() == pytest.approx(s, rel=0.02), t


def test_faults_levels_and_seed() -> None:
    g_t = np.full(100_000, 10.0)
    m = dev.DeviceModel(stuck_lrs=0.1, stuck_hrs=0.05)
    g = dev.program(g_t, m, 0.5, 25.0, np.random.default_rng(0))
    assert np.mean(g == 25.0) == pytest.approx(0.1, abs=0.005)
    assert np.mean(g == 0.5) == pytest.approx(0.05, abs=0.005)
    assert np.array_equal(g, dev.program(g_t, m, 0.5, 25.0, np.random.default_rng(0)))
    q = dev.quantize_levels(np.array([0.0, 4.0, 7.0, 25.0]), 0.0, 25.0, 3)
    assert q.tolist() == [0.0, 0.0, 12.5, 25.0]


@pytest.mark.parametrize("n", [64, 128, 256])
def test_ir_drop_closed_form_vs_nodal(n: int) -> None:
    """Where a = n·r·Σ g·x <= 1 (closed form valid) the outputs agree within 5 %."""
    rng = np.random.default_rng(n)
    g = rng.uniform(0, 25e-6, (n, 8))
    x = (rng.random(n) < 0.5).astype(float)
    for r in (0.35, 1.0, 2.0):
        a = n * r * (x @ g)
        nod = ir_drop_nodal(g, x, r)
        cf = ir_drop_closed_form(g, x, r, 25e-6)
        ok = a <= 1.0
        assert ok.any()
        assert np.all(np.abs(cf - nod)[ok] / nod[ok] < 0.05)
        assert np.all(nod < x @ g)  # a drop exists


def test_nodal_single_cell_hand_computed() -> None:
    """One cell G at the top of a 2-row column: I = V / (1/G + 2 r)."""
    g = np.array([[1e-3], [0.0]])
    got = ir_drop_nodal(g, np.array([1.0, 0.0]), r_col=10.0, one_t_one_r=False)
    assert got[0] == pytest.approx(1.0 / (1e3 + 20.0))
    got = ir_drop_nodal(g, np.array([1.0, 0.0]), r_col=10.0, r_row=5.0)
    assert got[0] == pytest.approx(1.0 / (1e3 + 20.0 + 5.0))
