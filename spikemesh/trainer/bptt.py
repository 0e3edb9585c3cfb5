"""Functional BPTT of an IR graph as the training engines run it: FP (forward, stores H and 1-bit S per step),
BP (reverse-time δ with the surrogate and the reset path, δ propagated to the presynaptic layers through the
transposed chain) and WG (Σ_t δ[t]·S[t]^T accumulated per weight).

Scheduling: the strongly connected components of the dependency graph (delay edges included) are run in
topological order. A component of one population without a self-loop runs layer-major (its whole input
current for all T steps in one folded operator call, then the per-neuron kernel over T); a recurrent component
runs step-major. Both orders give the same numbers as the reference executor's step-major loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from spikemesh.ir.graph import Graph, Input
from spikemesh.ir.operators import Delay
from spikemesh.trainer.neuron_kernels import RESET_CODES, SURROGATES, lif_backward, lif_forward
from spikemesh.trainer.op_rules import (
    F32,
    ChainStep,
    TrainingError,
    build_chain,
    step_fwd,
    step_vjp,
    step_wgrad,
)


@dataclass(frozen=True)
class Surrogate:
    """Surrogate derivative of the spike: ``kind`` in fast_sigmoid (slope k), rectangular (half-width a),
    sigmoid (slope k); ``param`` is k or a. ``detach_reset`` drops the gradient through the reset term."""

    kind: str = "fast_sigmoid"
    param: float = 5.0
    detach_reset: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SURROGATES:
            raise TrainingError(f"unknown surrogate {self.kind!r}", needed=", ".join(SURROGATES), available=self.kind)
        if not self.param > 0:
            raise TrainingError("surrogate parameter must be positive", node=self.kind, needed="> 0",
                                available=self.param)


def as_surrogate(spec: Any) -> Surrogate:
    """A Surrogate from a Surrogate, a kind name, a (kind, param) tuple or a dict of fields."""
    if isinstance(spec, Surrogate):
        return spec
    if spec is None:
        return Surrogate()
    if isinstance(spec, str):
        return Surrogate(spec, {"fast_sigmoid": 5.0, "rectangular": 0.5, "sigmoid": 4.0}.get(spec, 1.0))
    if isinstance(spec, tuple):
        return Surrogate(*spec)
    if isinstance(spec, dict):
        return Surrogate(**spec)
    raise TrainingError("bad surrogate specification", available=repr(spec),
                        hint="use 'fast_sigmoid', ('rectangular', 0.5) or Surrogate(...)")


@dataclass
class _Pop:
    name: str
    shape: tuple[int, ...]
    n: int
    p: dict[str, np.ndarray]
    reset: int
    after: bool
    geq: bool
    spiking: bool
    lo: np.float32
    hi: np.float32


@dataclass
class Trace:
    """What FP leaves for BP: per population H [T, B·n] (float32) and S as packed bits; the input arrays;
    the values each node presents to its projections (spikes or membrane) are rebuilt from these."""

    T: int
    B: int
    H: dict[str, np.ndarray]
    S_bits: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray]
    V: dict[str, np.ndarray] = field(default_factory=dict)  # non-spiking populations' outputs [T, B, *shape]

    def spikes(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Spikes of a population as bool [T, B, *shape], unpacked from the 1-bit store."""
        n = self.T * self.B * int(np.prod(shape))
        return np.unpackbits(self.S_bits[name], count=n).astype(bool).reshape((self.T, self.B, *shape))


class TrainingGraph:
    """An IR graph prepared for training: per population the neuron parameters as float32 kernel arrays
    (``pops``), per projection its operator chain and delay (``chains``), and the step schedule (``schedule``:
    the strongly connected components in order, each run layer-major or, when recurrent, step-major). It holds
    structure only; the trainable parameters are passed to each call of ``forward`` / ``backward``."""

    def __init__(self, graph: Graph, surrogate: Any = None) -> None:
        self.graph = graph
        self.surrogate = as_surrogate(surrogate)
        self.pops: dict[str, _Pop] = {}
        for pop in graph.populations:
            nrn = pop.neuron
            if nrn.kind not in ("IF", "LIF", "LI", "Integrator"):
                raise TrainingError(f"neuron kind {nrn.kind} is not supported by the training engine",
                                    node=pop.name, needed="IF, LIF, LI or Integrator", available=nrn.kind)
            if nrn.refractory:
                raise TrainingError("refractory neurons are not supported by the training engine", node=pop.name,
                                    needed=0, available=nrn.refractory)
            n = pop.size
            p = {k: np.ascontiguousarray(np.broadcast_to(getattr(nrn, k), pop.shape).reshape(-1), dtype=F32)
                 for k in ("beta", "gain", "leak", "threshold", "v_reset")}
            lo, hi = nrn.state_bounds()
            self.pops[pop.name] = _Pop(pop.name, pop.shape, n, p, RESET_CODES[nrn.reset],
                                       nrn.reset_timing == "after_decay", nrn.comparison == ">=", nrn.spiking,
                                       np.float32(lo), np.float32(hi))
        self.chains: dict[str, tuple[list[ChainStep], int]] = {pr.name: build_chain(graph, pr)
                                                               for pr in graph.projections}
        full = graph.dependency_graph(zero_delay_only=False)
        cond = nx.condensation(full)
        zero = graph.dependency_graph(zero_delay_only=True)
        rank = {nm: i for i, nm in enumerate(graph.topological_order())}
        self.schedule: list[tuple[bool, list[str]]] = []  # (recurrent, populations in step order)
        def first(c: int) -> int:
            return min(rank[m] for m in cond.nodes[c]["members"])

        for c in nx.lexicographical_topological_sort(cond, key=first):
            members = sorted((m for m in cond.nodes[c]["members"] if m in self.pops), key=rank.__getitem__)
            if not members:
                continue
            recurrent = len(members) > 1 or full.has_edge(members[0], members[0])
            if recurrent:
                sub = zero.subgraph(members)
                members = list(nx.lexicographical_topological_sort(sub, key=rank.__getitem__))
            self.schedule.append((recurrent, members))
        self.component = {m: i for i, (_, ms) in enumerate(self.schedule) for m in ms}
        self.incoming = {nm: graph.incoming(nm) for nm in self.pops}

    # -- helpers ------------------------------------------------------------------------------------------
    def _chain_fwd(self, proj_name: str, x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        for st in self.chains[proj_name][0]:
            x = step_fwd(st, x, params)
        return x

    def node_values(self, name: str, trace: Trace) -> np.ndarray:
        """What node ``name`` presents to its projections, float32 [T, B, *shape]."""
        if name in trace.inputs:
            return trace.inputs[name]
        pop = self.pops[name]
        if pop.spiking:
            return trace.spikes(name, pop.shape).astype(F32)
        return trace.V[name]

    def _kernel_args(self, pop: _Pop) -> tuple:
        return pop.p["beta"], pop.p["gain"], pop.p["leak"], pop.p["threshold"], pop.p["v_reset"]

    # -- FP engine ------------------------------------------------------------------------------------------
    def forward(self, params: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> Trace:
        """Run FP over inputs ``{name: [T, B, *shape]}``; returns the Trace BP needs."""
        first = next(iter(inputs.values()))
        T, B = first.shape[:2]
        xs = {k: np.ascontiguousarray(v, dtype=F32) for k, v in inputs.items()}
        vals: dict[str, np.ndarray] = dict(xs)  # float values per node, freed into bits as we go
        H: dict[str, np.ndarray] = {}
        S: dict[str, np.ndarray] = {}
        for recurrent, members in self.schedule:
            ext: dict[str, np.ndarray] = {}
            for nm in members:
                pop = self.pops[nm]
                cur = np.zeros((T, B, *pop.shape), dtype=F32)
                for pr in self.incoming[nm]:
                    if recurrent and pr.source in members:
                        continue
                    cur += delayed(self._chain_fwd(pr.name, fold_time(vals[pr.source]), params).reshape(cur.shape),
                                   self.chains[pr.name][1])
                ext[nm] = cur.reshape(T, B * pop.n)
                H[nm] = np.empty((T, B * pop.n), dtype=F32)
                S[nm] = np.empty((T, B * pop.n), dtype=np.bool_)
            state = {nm: (np.zeros(B * self.pops[nm].n, dtype=F32), np.zeros(B * self.pops[nm].n, dtype=np.bool_))
                     for nm in members}
            steps = [slice(t, t + 1) for t in range(T)] if recurrent else [slice(0, T)]
            out_vals = {nm: np.zeros((T, B, *self.pops[nm].shape), dtype=F32) for nm in members}
            for sl in steps:
                for nm in members:
                    pop = self.pops[nm]
                    cur = ext[nm][sl]
                    if recurrent:
                        t = sl.start
                        cur = cur.copy()
                        for pr in self.incoming[nm]:
                            if pr.source not in members:
                                continue
                            d = self.chains[pr.name][1]
                            if t - d < 0:
                                continue
                            y = self._chain_fwd(pr.name, out_vals[pr.source][t - d], params)
                            cur += y.reshape(1, -1)
                    v, sprev = state[nm]
                    lif_forward(cur, *self._kernel_args(pop), v, sprev, pop.n, pop.reset, pop.after, pop.geq,
                                pop.spiking, pop.lo, pop.hi, H[nm][sl], S[nm][sl])
                    if pop.spiking:
                        out_vals[nm][sl] = S[nm][sl].reshape(out_vals[nm][sl].shape)
                    else:
                        out_vals[nm][sl] = _v_from_h(pop, H[nm][sl], S[nm][sl], sl, S[nm]).reshape(
                            out_vals[nm][sl].shape)
            vals.update(out_vals)
        V = {nm: vals[nm] for nm, pop in self.pops.items() if not pop.spiking}
        bits = {nm: np.packbits(S[nm].reshape(-1)) for nm in S}
        return Trace(T, B, H, bits, xs, V)

    # -- BP + WG engines ------------------------------------------------------------------------------------
    def backward(self, params: dict[str, np.ndarray], trace: Trace, grad_out: dict[str, np.ndarray],
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """BP and WG. ``grad_out``: ∂L/∂(output) of populations [T, B, *shape] (spikes, or V for non-spiking).
        Returns (gradients keyed like params, δ = ∂L/∂H per population [T, B·n])."""
        T, B = trace.T, trace.B
        sg = self.surrogate
        gS = {nm: np.zeros((T, B * pop.n), dtype=F32) for nm, pop in self.pops.items()}
        for nm, g in grad_out.items():
            gS[nm] += np.asarray(g, dtype=F32).reshape(T, -1)
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        deltas: dict[str, np.ndarray] = {}
        cache: dict[str, np.ndarray] = {}

        def values(name: str) -> np.ndarray:
            if name not in cache:
                cache[name] = self.node_values(name, trace)
            return cache[name]

        for recurrent, members in reversed(self.schedule):
            S = {nm: trace.spikes(nm, self.pops[nm].shape).reshape(T, -1) for nm in members}
            D = {nm: np.zeros((T, B * self.pops[nm].n), dtype=F32) for nm in members}
            carry = {nm: (np.zeros(B * self.pops[nm].n, dtype=F32), np.zeros(B * self.pops[nm].n, dtype=F32))
                     for nm in members}
            steps = [slice(t, t + 1) for t in reversed(range(T))] if recurrent else [slice(0, T)]
            for sl in steps:
                for nm in reversed(members):
                    pop = self.pops[nm]
                    t0 = sl.start
                    s_before = S[nm][t0 - 1] if t0 > 0 else np.zeros(B * pop.n, dtype=np.bool_)
                    gv, gsc = carry[nm]
                    lif_backward(trace.H[nm][sl], S[nm][sl], gS[nm][sl], pop.p["beta"], pop.p["gain"],
                                 pop.p["threshold"], pop.p["v_reset"], gv, gsc, s_before, pop.n, pop.reset,
                                 pop.after, pop.spiking, sg.detach_reset, pop.lo, pop.hi, SURROGATES[sg.kind],
                                 np.float32(sg.param), D[nm][sl])
                    if recurrent:  # δ of this step reaches the presynaptic populations inside the component now
                        t = t0
                        gI = (D[nm][t] * np.tile(pop.p["gain"], B)).reshape(B, *pop.shape)
                        for pr in self.incoming[nm]:
                            d = self.chains[pr.name][1]
                            if pr.source not in members or t - d < 0:
                                continue
                            g = gI
                            for st in reversed(self.chains[pr.name][0]):
                                g = step_vjp(st, g, params)
                            gS[pr.source][t - d] += g.reshape(-1)
            for nm in members:  # folded over all T: external BP and every WG of the component
                pop = self.pops[nm]
                deltas[nm] = D[nm]
                gI = (D[nm] * np.tile(pop.p["gain"], B)[None, :]).reshape(T, B, *pop.shape)
                for pr in self.incoming[nm]:
                    steps_, d = self.chains[pr.name]
                    g_sh = advanced(gI, d)  # δ at t+d paired with source values at t
                    xs = [fold_time(values(pr.source))]
                    for st in steps_[:-1]:
                        xs.append(step_fwd(st, xs[-1], params))
                    g = fold_time(g_sh)
                    for st, x in zip(reversed(steps_), reversed(xs), strict=True):
                        for k, v in step_wgrad(st, x, g, params).items():
                            grads[k] += v
                        if st is steps_[0] and (pr.source not in self.pops or (recurrent and pr.source in members)):
                            break  # inputs need no δ; in-component sources got theirs step by step
                        g = step_vjp(st, g, params)
                    else:
                        if pr.source in self.pops and not (recurrent and pr.source in members):
                            gS[pr.source] += g.reshape(T, -1)
        return grads, deltas


def fold_time(x: np.ndarray) -> np.ndarray:
    """``[T, B, *shape]`` → ``[T·B, *shape]``: time steps and samples as one batch axis for the operator rules."""
    return x.reshape((x.shape[0] * x.shape[1], *x.shape[2:]))


def delayed(y: np.ndarray, d: int) -> np.ndarray:
    """y delayed by d steps along axis 0 (zeros first)."""
    if d == 0:
        return y
    out = np.zeros_like(y)
    if d < y.shape[0]:
        out[d:] = y[:-d]
    return out


def advanced(g: np.ndarray, d: int) -> np.ndarray:
    """Adjoint of delayed: g advanced by d steps."""
    if d == 0:
        return g
    out = np.zeros_like(g)
    if d < g.shape[0]:
        out[:-d] = g[d:]
    return out


def _v_from_h(pop: _Pop, H: np.ndarray, S: np.ndarray, sl: slice, S_all: np.ndarray) -> np.ndarray:
    """V = clip(H) for non-spiking populations (no reset)."""
    return np.clip(H, pop.lo, pop.hi)


__all__ = ["Delay", "Input", "TrainingGraph", "Surrogate", "Trace", "as_surrogate"]
