"""IR drop on crossbar wires: aihwkit's closed form and a nodal (Kirchhoff) solve for small arrays.

Geometry: rows are driven from the left, column currents flow down to a virtual-ground sense amplifier below the
last row; row 0 is the one farthest from the output. Conductances in S, voltages in V, resistances in Ω.

Closed form (IBM aihwkit, src/rpucuda/rpu_forward_backward_pass.cpp): with w = G/g_max and
ratio = g_wire/g_max = 1/(r_wire·g_max), a_i = (n/ratio)·Σ_j w_ij·x_j, c_i = a_i·(0.05a_i² − 0.2a_i + 0.5),
y_i ← y_i − c_i·Σ_j w_ij·x_j·(1 − (1 − p_j/n)²). The position p_j is counted here from the output end (p = 0 next
to the sense amplifier): a first-order expansion of the nodal solution gives exactly this weighting (far cells lose
most), so it is the physically consistent reading of aihwkit's index (reading it as "input 0 is farthest from the
output" would weight the far cells least). The formula models column wires only; the nodal solver also takes row wires.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def ir_drop_closed_form(g: np.ndarray, x: np.ndarray, r_wire: float, g_max: float) -> np.ndarray:
    """Column currents (A per V of drive) with IR drop: ``g`` [n_rows, n_cols] in S, ``x`` [..., n_rows] drive
    fractions in [0, 1] (row voltage / V_read). Returns [..., n_cols] = Σ_j g_j·x_j minus the closed-form drop."""
    g = np.asarray(g, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n = g.shape[0]
    ideal = x @ g
    if r_wire == 0:
        return ideal
    ratio = 1.0 / (r_wire * g_max)
    a = (n / ratio) * (x @ (np.abs(g) / g_max))
    c = a * (0.05 * a * a - 0.2 * a + 0.5)
    p = (n - 1 - np.arange(n)) / n  # distance from the output end, as a fraction of the column
    weight = 1.0 - (1.0 - p) ** 2
    return ideal - c * ((x * weight) @ g)


def ir_drop_nodal(g: np.ndarray, x: np.ndarray, r_col: float, r_row: float = 0.0, one_t_one_r: bool = True
                  ) -> np.ndarray:
    """Column currents from a nodal solve of the resistive network (scipy.sparse.linalg.spsolve).

    ``g`` [n, m] cell conductances (S); ``x`` [n] row drive voltages (V); ``r_col`` / ``r_row`` the wire resistance
    of one cell pitch along a column / row (Ω); row drivers on the left, sense amplifiers (0 V) below row n-1,
    one wire segment from the last cell to the amplifier. ``one_t_one_r``: access transistors disconnect the cells of
    undriven rows (x = 0), as in 1T1R arrays; False models a passive array whose idle rows sit at 0 V and sink
    current (sneak paths). Returns the m output currents (A)."""
    g = np.asarray(g, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if one_t_one_r:
        g = g * (x != 0)[:, None]
    n, m = g.shape
    gc = 1.0 / r_col
    idx = np.arange(n * m).reshape(n, m)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def add(a: np.ndarray, b: np.ndarray, cond: np.ndarray | float) -> None:
        """Conductance between unknowns a and b (b < 0: a fixed node, handled by the caller)."""
        cond = np.broadcast_to(cond, a.shape).reshape(-1)
        a, b = a.reshape(-1), b.reshape(-1)
        rows.extend([a, b, a, b])
        cols.extend([a, b, b, a])
        vals.extend([cond, cond, -cond, -cond])

    # column nodes v occupy unknowns 0 .. n*m-1
    add(idx[:-1], idx[1:], gc)  # vertical column segments
    diag = np.zeros(n * m)
    diag[idx[-1]] += gc  # last segment to the virtual ground
    rhs = np.zeros(n * m)
    if r_row == 0:
        diag += g.reshape(-1)  # cell to a fixed row voltage
        rhs += (g * x[:, None]).reshape(-1)
        size = n * m
    else:
        gr = 1.0 / r_row
        off = n * m
        uidx = idx + off
        add(idx, uidx, g)  # cells between row node u and column node v
        add(uidx[:, :-1], uidx[:, 1:], gr)  # horizontal row segments
        diag = np.concatenate([diag, np.zeros(n * m)])
        rhs = np.concatenate([rhs, np.zeros(n * m)])
        diag[uidx[:, 0]] += gr  # driver to the first row node
        rhs[uidx[:, 0]] += gr * x
        size = 2 * n * m
    a = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
    a = (a + sp.diags(diag, shape=(size, size))).tocsc()
    v = spla.spsolve(a, rhs)
    return gc * v[idx[-1]]
