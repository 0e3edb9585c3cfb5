"""The CUBA benchmark network (Brian2 examples/CUBA.py; parameters research/ecosystem.md §3.1) as an IR graph.

4000 LIF neurons (3200 excitatory, 800 inhibitory), connection probability p = 0.02 (in-degree 80), τm = 20 ms,
τe = 5 ms, τi = 10 ms, Vt = −50 mV, Vr = −60 mV, El = −49 mV, refractory 5 ms, we = 1.62 mV, wi = −9 mV,
dt = 0.1 ms. Model: dv/dt = (ge + gi − (v − El)) / τm (held while refractory), dge/dt = −ge/τe, dgi/dt = −gi/τi.

IR form (exact exponential decays, float mode):
- ``syn``: LI population of shape (2, N) holding ge (row 0, β = exp(−dt/τe)) and gi (row 1, β = exp(−dt/τi));
  a spike of neuron i adds we (excitatory i) or wi (inhibitory i) to its targets' row, one step later (Delay 1,
  as Brian2 applies on_pre after the state update of the spiking step).
- ``lif``: LIF with β = exp(−dt/τm), leak = (1 − β)·El, comparison ">" (Brian2's ``v > Vt``), zero reset to Vr,
  refractory 50 steps; it reads ``(1 − β)·(ge + gi)`` from ``syn`` every step.
- ``init``: an input that sets v at step 0 to Vr + U(0, 1)·(Vt − Vr), like Brian2's ``P.v = 'Vr + rand()*(Vt-Vr)'``;
  pass ``initial_inputs(...)`` (sparse: N entries at step 0).
Units: mV, steps of ``dt`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from spikemesh.ir import LI, LIF, Delay, Graph, Identity, Input, Output, Population, Projection, Sparse

TAU_M, TAU_E, TAU_I = 20e-3, 5e-3, 10e-3
V_T, V_R, E_L = -50.0, -60.0, -49.0
W_E, W_I = 60 * 0.27 / 10, -20 * 4.5 / 10  # mV: 1.62, -9.0
REFRACTORY_S = 5e-3
DT = 1e-4


@dataclass(frozen=True)
class CubaNet:
    """Connectivity (``pre``, ``post`` per synapse; neurons 0..0.8N−1 excitatory) and initial membrane ``v0``."""

    n: int
    pre: np.ndarray
    post: np.ndarray
    v0: np.ndarray

    @property
    def n_exc(self) -> int:
        return int(round(0.8 * self.n))


def cuba_network(n: int = 4000, in_degree: float = 80.0, seed: int = 0) -> CubaNet:
    """Random connectivity with p = in_degree / n (each ordered pair independently, autapses allowed as in
    Brian2's ``connect(p=...)``), and uniform initial v in [Vr, Vt]."""
    rng = np.random.default_rng(seed)
    p = in_degree / n
    m = rng.binomial(n * n, p)
    flat = np.unique(rng.integers(0, n * n, size=int(m * 1.0005) + 16, dtype=np.int64))
    if len(flat) > m:
        flat = np.sort(rng.choice(flat, m, replace=False))
    pre, post = np.divmod(flat, n)
    v0 = V_R + rng.random(n) * (V_T - V_R)
    return CubaNet(n=n, pre=pre.astype(np.int64), post=post.astype(np.int64), v0=v0)


def cuba_graph(net: CubaNet, dt: float = DT) -> Graph:
    n, ne = net.n, net.n_exc
    bm, be, bi = math.exp(-dt / TAU_M), math.exp(-dt / TAU_E), math.exp(-dt / TAU_I)
    exc = net.pre < ne
    rows = net.pre
    cols = np.where(exc, net.post, n + net.post)  # ge row or gi row of syn
    w = np.where(exc, W_E, W_I)
    rec = sp.csr_matrix((w, (rows, cols)), shape=(n, 2 * n))
    rec.sum_duplicates()
    read = sp.csr_matrix((np.full(2 * n, 1 - bm), (np.arange(2 * n), np.tile(np.arange(n), 2))), shape=(2 * n, n))
    beta_syn = np.concatenate([np.full(n, be), np.full(n, bi)]).reshape(2, n)
    lif = LIF(bm, threshold=V_T, v_reset=V_R, leak=(1 - bm) * E_L, comparison=">", reset="zero",
              refractory=int(round(REFRACTORY_S / dt)))
    return Graph(
        inputs=(Input("init", (n,)),),
        populations=(Population("lif", (n,), lif), Population("syn", (2, n), LI(beta_syn))),
        projections=(
            Projection("init_v", "init", "lif", (Identity(),)),
            Projection("recurrent", "lif", "syn", (Sparse.from_matrix(rec), Delay(1), _reshape(n))),
            Projection("currents", "syn", "lif", (_flatten(), Sparse.from_matrix(read))),
        ),
        outputs=(Output("spikes", "lif"),),
        dt=dt,
        metadata={"name": f"CUBA-{n}"},
    )


def _reshape(n: int):  # noqa: ANN202
    from spikemesh.ir import Reshape

    return Reshape((2, n))


def _flatten():  # noqa: ANN202
    from spikemesh.ir import Flatten

    return Flatten()


def initial_inputs(graph: Graph, net: CubaNet, steps: int):  # noqa: ANN201
    """``StepInputs`` for ``steps`` steps: at step 0, ``init`` = v0 − leak so that v(0) = v0; nothing afterwards."""
    from spikemesh.simulator.fast import flat_graph
    from spikemesh.simulator.io import StepInputs

    fg = flat_graph(graph, integer=False)
    off = fg.node_range("init")[0]
    leak = graph.population["lif"].neuron.leak
    ptr = np.full(steps + 1, net.n, dtype=np.int64)
    ptr[0] = 0
    return StepInputs(steps=steps, batch=1, ptr=ptr, index=np.arange(net.n, dtype=np.int64) + off,
                      value=(net.v0 - float(leak)).astype(np.float64), names=("init",), shapes=((net.n,),),
                      offsets=(off,))
