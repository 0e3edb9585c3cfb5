"""The CUBA benchmark network (Brian2 examples/CUBA.py: benchmark 2 of Brette et al., J. Comput. Neurosci. 23:349,
2007) as an IR graph.

4000 LIF neurons (3200 excitatory, 800 inhibitory), connection probability p = 0.02 (in-degree 80), τm = 20 ms,
τe = 5 ms, τi = 10 ms, Vt = −50 mV, Vr = −60 mV, El = −49 mV, refractory 5 ms, we = 1.62 mV, wi = −9 mV,
dt = 0.1 ms. Model: dv/dt = (ge + gi − (v − El)) / τm (held while refractory), dge/dt = −ge/τe, dgi/dt = −gi/τi.

IR form: one population ``lif`` of two-port CubaLIF neurons (``Neuron.ports = 2``), float mode. Port 0 carries
ge, port 1 gi. Brian2's ``method="exact"`` update of the linear system over one step is

    v(t+dt) = El + (v − El)·βm + Σ_k c_k·g_k,   g_k(t+dt) = β_k·g_k,   β = exp(−dt/τ),
    c_k = τ_k·(β_k − βm) / (τ_k − τm)   (the exact response of v to a current decaying with τ_k),

so the IR neuron uses α_k = β_k, syn_gain_k = c_k (its port current i_k is c_k·g_k), gain = 1, β = βm and
leak = (1 − βm)·El, comparison ">" (``v > Vt``), zero reset to Vr. Refractoriness: Brian2's state update
integrates v only when ``timestep(t − lastspike) >= timestep(refractory)``, so v is held in the 49 steps after the
spike step and integrates again 50 steps after it; the IR's ``refractory`` counts held steps, hence 49
(= round(5 ms / dt) − 1; checked against a Brian2 v trace). Spikes reach the ports one step later (Delay 1:
Brian2 applies ``on_pre`` after the state update of the spiking step), so IR step t equals Brian2's step t: same v
after the update, same threshold test. benchmarks/cuba_agreement.py compares the rasters.

Initial membrane: Brian2 sets ``v = v0`` before step 0. The input ``init`` feeds port 0 (pass
``initial_inputs(...)``): u/c_e at step 0 with u = βm·v0 makes v(0) = βm·v0 + leak, Brian2's value after step 0,
and −βe·u/c_e at step 1 cancels that current again (to float rounding, ~1e-16 mV).
Units: mV, steps of ``dt`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from spikemesh.ir import CubaLIF, Delay, Graph, Identity, Input, Output, Population, Projection, Sparse

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


def exact_coefficients(dt: float = DT) -> dict[str, float]:
    """βm, βe, βi and c_e, c_i of the exact one-step update (module docstring)."""
    bm, be, bi = math.exp(-dt / TAU_M), math.exp(-dt / TAU_E), math.exp(-dt / TAU_I)
    return {"bm": bm, "be": be, "bi": bi,
            "ce": TAU_E * (be - bm) / (TAU_E - TAU_M), "ci": TAU_I * (bi - bm) / (TAU_I - TAU_M)}


def cuba_graph(net: CubaNet, dt: float = DT) -> Graph:
    n, ne = net.n, net.n_exc
    c = exact_coefficients(dt)
    exc = net.pre < ne
    rec_e = sp.csr_matrix((np.full(int(exc.sum()), W_E), (net.pre[exc], net.post[exc])), shape=(n, n))
    rec_i = sp.csr_matrix((np.full(int((~exc).sum()), W_I), (net.pre[~exc], net.post[~exc])), shape=(n, n))
    lif = CubaLIF(alpha=[c["be"], c["bi"]], beta=c["bm"], syn_gain=[c["ce"], c["ci"]], gain=1.0, ports=2,
                  threshold=V_T, v_reset=V_R, leak=(1 - c["bm"]) * E_L, comparison=">", reset="zero",
                  refractory=int(round(REFRACTORY_S / dt)) - 1)
    return Graph(
        inputs=(Input("init", (n,)),),
        populations=(Population("lif", (n,), lif),),
        projections=(
            Projection("init_v", "init", "lif", (Identity(),), port=0),
            Projection("exc", "lif", "lif", (Sparse.from_matrix(rec_e), Delay(1)), port=0),
            Projection("inh", "lif", "lif", (Sparse.from_matrix(rec_i), Delay(1)), port=1),
        ),
        outputs=(Output("spikes", "lif"),),
        dt=dt,
        metadata={"name": f"CUBA-{n}"},
    )


def initial_inputs(graph: Graph, net: CubaNet, steps: int) -> Any:
    """``StepInputs`` for ``steps`` steps setting v(0) to Brian2's value after its step 0 (module docstring):
    ``init`` = u/c_e at step 0 and −βe·u/c_e at step 1 (u = βm·v0); nothing afterwards."""
    from spikemesh.simulator.fast import flat_graph
    from spikemesh.simulator.io import StepInputs

    c = exact_coefficients(graph.dt)
    fg = flat_graph(graph, integer=False)
    off = fg.node_range("init")[0]
    u = c["bm"] * net.v0
    first = u / c["ce"]
    second = -c["be"] * u / c["ce"]
    k = min(steps, 2)
    ptr = np.full(steps + 1, k * net.n, dtype=np.int64)
    ptr[0] = 0
    if steps >= 1:
        ptr[1] = net.n
    idx = np.tile(np.arange(net.n, dtype=np.int64) + off, k)
    val = np.concatenate([first, second][:k]).astype(np.float64)
    return StepInputs(steps=steps, batch=1, ptr=ptr, index=idx, value=val, names=("init",), shapes=((net.n,),),
                      offsets=(off,))
