"""Quantization to integer weights and states with per-layer scales.

The dynamics of every neuron model in the IR are linear in (weights, bias, leak, threshold, v_reset, state
bounds): multiplying all of them by one factor ``s`` multiplies the state by ``s`` and leaves the spikes
unchanged (decays β, α are dimensionless). So each population ("layer") gets one scale ``s``; its incoming
weights and biases, its threshold, reset value, leak and state bounds are multiplied by ``s`` and rounded to
integers. For IF neurons with subtractive reset the only spike changes come from that rounding.

Choice of ``s`` (per layer, unless given): the largest factor with every scaled weight inside the signed
``weight_bits`` range and every scaled state quantity (threshold, v_reset, leak, biases, bounds) inside the
signed ``state_bits`` range — the min-of-scales rule of sinabs' ``sinabs/backend/dynapcnn/discretize.py``,
except that biases are checked against the state width. A layer whose values are already integers that fit
keeps ``s = 1`` (``keep_integer``), so integer models are left unchanged.

Folding done on the way (all exact in real arithmetic):
- BatchNorm into the preceding Dense/Conv (``fold_batchnorm``);
- the neuron's input gains (``gain``, and ``syn_gain`` for current-based kinds) into the incoming weights,
  leaving gain = syn_gain = 1 (integer mode multiplies by integer gains only);
- AvgPool2d becomes SumPool2d with its 1/(kh·kw) folded into the weights;
- input from a non-spiking population (its state is scaled by that population's ``s``) is divided by it.

Decays are rounded to the integer-mode grid k / 2**DECAY_SHIFT. The state clamp ``v_min``/``v_max`` becomes
the scaled user bounds intersected with the signed ``state_bits`` range. Each projection must have at most
one weighted operator with non-integer values (the one the scale goes into); others must already be integers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from spikemesh.errors import GraphError
from spikemesh.ir.graph import Graph, Input, Population, Projection
from spikemesh.ir.neurons import DECAY_SHIFT
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
from spikemesh.ir.passes.batchnorm import fold_batchnorm

PER_CHOICES = ("layer", "network")


def signed_range(bits: int) -> tuple[int, int]:
    """(min, max) of a signed two's-complement integer of ``bits`` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def discretization_scale(values: np.ndarray, bits: int) -> float:
    """Largest ``s`` with ``s·x`` inside the signed ``bits`` range for every x (inf when all x are 0).

    Same as sinabs' ``determine_discretization_scale``: max_d / max(x) unless the negative side binds,
    then min_d / min(x) (sinabs/backend/dynapcnn/discretize.py)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    lo_d, hi_d = signed_range(bits)
    s = math.inf
    if x.size:
        hi, lo = float(x.max()), float(x.min())
        if hi > 0:
            s = min(s, hi_d / hi)
        if lo < 0:
            s = min(s, lo_d / lo)
    return s


def _is_int(x: np.ndarray) -> bool:
    return bool(np.all(x == np.round(x)))


def _in_range(x: np.ndarray, bits: int) -> bool:
    lo, hi = signed_range(bits)
    return bool(x.size == 0 or (x.min() >= lo and x.max() <= hi))


def _weights(op: Op) -> tuple[np.ndarray, np.ndarray | None]:
    """(weight values, bias or None) of a weighted op."""
    if isinstance(op, (Dense, Conv)):
        return op.weight, op.bias
    if isinstance(op, Sparse):
        return op.data, None
    if isinstance(op, Scale):
        return op.factor, None
    raise AssertionError(type(op))


def _scaled(op: Op, f: float | np.ndarray, in_shape: tuple[int, ...], proj: str) -> Op:
    """``op`` with its output multiplied by ``f`` (a scalar, or an array of the op's output shape)."""
    f = np.asarray(f, dtype=np.float64)
    if isinstance(op, Dense):
        g = f.reshape(-1) if f.ndim else f
        return Dense(op.weight * (g[:, None] if f.ndim else g), None if op.bias is None else op.bias * g)
    if isinstance(op, Sparse):
        g = f.reshape(-1)[op.indices] if f.ndim else f
        return Sparse(op.indptr, op.indices, op.data * g, op.n_out)
    if isinstance(op, Scale):
        return Scale(np.broadcast_to(op.factor, in_shape) * f if f.ndim else op.factor * f)
    assert isinstance(op, Conv)
    if f.ndim:
        per_c = f.reshape(f.shape[0], -1)
        if not np.all(per_c == per_c[:, :1]):
            raise GraphError("per-neuron input gain varies inside a conv channel and cannot be folded into the "
                             "weights", node=proj, hint="use a per-channel gain")
        f = per_c[:, 0]
    g = f.reshape((-1,) + (1,) * (op.weight.ndim - 1)) if f.ndim else f
    b = None if op.bias is None else op.bias * f
    return Conv(op.weight * g, b, op.stride, op.padding, op.dilation, op.groups)


def _rounded(op: Op, bits_w: int, bits_s: int) -> tuple[Op, int]:
    """``op`` with weights rounded and clipped to ``bits_w`` (biases to ``bits_s``); returns (op, clipped)."""
    lo_w, hi_w = signed_range(bits_w)
    lo_s, hi_s = signed_range(bits_s)
    w, b = _weights(op)
    wq = np.rint(w)
    clipped = int(np.sum((wq < lo_w) | (wq > hi_w)))
    wq = np.clip(wq, lo_w, hi_w)
    bq = None if b is None else np.clip(np.rint(b), lo_s, hi_s)
    if b is not None:
        clipped += int(np.sum((np.rint(b) < lo_s) | (np.rint(b) > hi_s)))
    if isinstance(op, Dense):
        return Dense(wq, bq), clipped
    if isinstance(op, Sparse):
        return Sparse(op.indptr, op.indices, wq, op.n_out), clipped
    if isinstance(op, Scale):
        return Scale(wq), clipped
    assert isinstance(op, Conv)
    return Conv(wq, bq, op.stride, op.padding, op.dilation, op.groups), clipped


class _Chain:
    """A projection's op chain prepared for scaling: AvgPool replaced by SumPool (factor kept aside),
    gains and source scale folded into the primary weighted op (the first one)."""

    def __init__(self, graph: Graph, pr: Projection, pre_factor: float, gain: np.ndarray | None,
                 gain_scalar: float, bits_w: int) -> None:
        self.name = pr.name
        ops: list[Op] = []
        factor = pre_factor * gain_scalar
        for op in pr.ops:
            if isinstance(op, BatchNorm):
                raise GraphError("BatchNorm cannot be folded (it does not directly follow a Dense or Conv)",
                                 node=pr.name, hint="fold it into the weights in the source model")
            if isinstance(op, AvgPool2d):
                factor /= op.kernel[0] * op.kernel[1]
                op = SumPool2d(op.kernel, op.stride, op.padding)
            ops.append(op)
        weighted = [i for i, op in enumerate(ops) if op.weighted]
        self.appended = not weighted
        if not weighted:
            ops.append(Scale(1.0))
            weighted = [len(ops) - 1]
        self.primary = weighted[0]
        shapes = [graph.shape_of(pr.source)]
        for op in ops:
            shapes.append(op.out_shape(shapes[-1]))
        for i in weighted[1:]:
            w, b = _weights(ops[i])
            vals = w if b is None else np.concatenate([w.reshape(-1), b])
            if not (_is_int(vals) and _in_range(vals, bits_w)):
                raise GraphError(
                    f"several weighted operators with non-integer values in one projection "
                    f"({type(ops[self.primary]).__name__} and {type(ops[i]).__name__})", node=pr.name,
                    needed=f"integers within {bits_w} bits after the first", available="non-integer",
                    hint="merge the operators into one before quantizing")
        k = self.primary
        f: float | np.ndarray = factor
        if gain is not None:
            rest = ops[k + 1:]
            if not all(isinstance(o, (Identity, Reshape, Delay)) for o in rest):
                raise GraphError("per-neuron input gain cannot be folded through this projection's operators",
                                 node=pr.name, hint="make the neuron gain uniform or the last weighted op "
                                                    "the last operator")
            f = factor * gain.reshape(shapes[k + 1])
        ops[k] = _scaled(ops[k], f, shapes[k], pr.name)
        self.ops = ops

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """(weights, biases) of the primary op, flattened."""
        w, b = _weights(self.ops[self.primary])
        return np.asarray(w).reshape(-1), (np.zeros(0) if b is None else np.asarray(b).reshape(-1))

    def build(self, s: float, pr: Projection, bits_w: int, bits_s: int) -> tuple[Projection, int]:
        ops = list(self.ops)
        ops[self.primary], clipped = _rounded(_scaled(ops[self.primary], s, (), pr.name), bits_w, bits_s)
        if self.appended and np.all(ops[self.primary].factor == 1):  # type: ignore[attr-defined]
            del ops[self.primary]
        return Projection(pr.name, pr.source, pr.target, tuple(ops), pr.port), clipped


def _state_values(pop: Population) -> np.ndarray:
    n = pop.neuron
    vals = [np.asarray(n.leak).reshape(-1)]
    if n.spiking:
        vals.append(np.asarray(n.threshold).reshape(-1))
        if n.reset == "zero":
            vals.append(np.asarray(n.v_reset).reshape(-1))
    for b in (n.v_min, n.v_max):
        if b is not None:
            vals.append(np.array([b], dtype=np.float64))
    return np.concatenate(vals)


def _decay_grid(x: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(x) * (1 << DECAY_SHIFT)) / (1 << DECAY_SHIFT)


def quantize(graph: Graph, weight_bits: int = 8, state_bits: int = 16, per: str = "layer",
             scales: Mapping[str, float] | None = None, keep_integer: bool = True) -> tuple[Graph, dict[str, Any]]:
    """Quantize ``graph`` to integer weights (signed ``weight_bits``) and states (signed ``state_bits``).

    per: "layer" (one scale per population) or "network" (one scale for all). scales: explicit scale per
    population name, overriding the choice. Returns (quantized graph, report) where ``report[pop]`` holds
    ``scale`` (state units per original unit), ``source`` of the scale ("weights", "state", "integer",
    "given", "network"), ``clipped`` (values saturated by rounding) and ``clipped_fraction`` (of the layer's
    weights, biases, thresholds and leaks), ``threshold`` range after quantization,
    and a ``warnings`` list. Non-spiking populations' states (and outputs) come out multiplied by their scale.
    """
    for name, b in (("weight_bits", weight_bits), ("state_bits", state_bits)):
        if int(b) != b or not 2 <= b <= 32:
            raise GraphError(f"{name} must be an integer in [2, 32]", needed="2..32", available=b)
    if per not in PER_CHOICES:
        raise GraphError(f"unknown quantization granularity {per!r}", needed=PER_CHOICES, available=per)
    scales = dict(scales or {})
    if scales and per == "network":
        raise GraphError("explicit scales= need per='layer'", available=per)
    for name in scales:
        if name not in graph.population:
            raise GraphError("scale given for an unknown population", node=name,
                             hint=f"populations: {', '.join(graph.population)}")
        if not (math.isfinite(scales[name]) and scales[name] > 0):
            raise GraphError("scale must be positive and finite", node=name, available=scales[name])
    g = fold_batchnorm(graph)
    order = g.layers()
    chosen: dict[str, float] = {}
    chains: dict[str, list[_Chain]] = {}
    info: dict[str, dict[str, Any]] = {}

    def prepare(network: bool) -> None:
        for name in order:
            pop = g.population[name]
            n = pop.neuron
            cs = []
            for pr in g.incoming(name):  # the gain of the port each projection feeds (port 0 when single)
                gain = np.broadcast_to(n.gain * (n.port_param("syn_gain", pop.shape, pr.port) if n.has_current
                                                 else 1.0), pop.shape)
                uniq = np.unique(gain)
                g_scalar, g_arr = (float(uniq[0]), None) if uniq.size == 1 else (1.0, np.array(gain))
                src = g.nodes[pr.source]
                pre = 1.0
                if not isinstance(src, Input) and not src.neuron.spiking and not network:
                    if pr.source not in chosen:
                        raise GraphError(
                            "input from a non-spiking population that is quantized later (recurrent readout)",
                            node=pr.name, hint="use per='network' or give scales= for both populations")
                    pre = 1.0 / chosen[pr.source]
                cs.append(_Chain(g, pr, pre, g_arr, g_scalar, weight_bits))
            chains[name] = cs
            ws = np.concatenate([c.values()[0] for c in cs]) if cs else np.zeros(0)
            bs = np.concatenate([c.values()[1] for c in cs]) if cs else np.zeros(0)
            st = np.concatenate([_state_values(pop), bs])
            s_w = discretization_scale(ws, weight_bits)
            s_s = discretization_scale(st, state_bits)
            if name in scales:
                s, why = float(scales[name]), "given"
            elif keep_integer and _is_int(ws) and _is_int(st) and _in_range(ws, weight_bits) \
                    and _in_range(st, state_bits):
                s, why = 1.0, "integer"
            else:
                s, why = (s_w, "weights") if s_w <= s_s else (s_s, "state")
                if not math.isfinite(s):
                    s, why = 1.0, "integer"
            chosen[name] = s
            info[name] = {"scale": s, "source": why}

    prepare(network=per == "network")
    if per == "network":
        s_net = min(chosen.values(), default=1.0)
        for name in order:
            if name not in scales:
                chosen[name] = s_net
                info[name] = {"scale": s_net, "source": "network"}

    lo_s, hi_s = signed_range(state_bits)
    new_pops, new_projs = {}, {}
    for name in order:
        pop = g.population[name]
        n = pop.neuron
        s = chosen[name]
        warnings: list[str] = []
        clipped = 0
        n_values = pop.size * (2 if n.spiking else 1)  # leak and threshold per neuron
        for c, pr in zip(chains[name], g.incoming(name)):
            new_projs[pr.name], k = c.build(s, pr, weight_bits, state_bits)
            clipped += k
            n_values += sum(int(v.size) for v in c.values())
        thr = np.clip(np.rint(n.threshold * s), lo_s, hi_s)
        vr = np.clip(np.rint(n.v_reset * s), lo_s, hi_s)
        if n.spiking:  # the threshold rules of Neuron: > 0 (subtractive reset), > v_reset (reset to v_reset)
            floor = 1.0 if n.reset == "subtract" else (vr + 1.0 if n.reset == "zero" else -np.inf)
            if np.any(thr < floor):
                thr = np.maximum(thr, floor)
                warnings.append("threshold rounds to 0 (or to v_reset) at this scale: raised by 1 step, the "
                                "smallest integer threshold that can stop firing")
        leak = np.clip(np.rint(n.leak * s), lo_s, hi_s)
        clipped += int(np.sum(np.rint(n.threshold * s) != thr)) if n.spiking else 0
        clipped += int(np.sum(np.rint(n.leak * s) != leak))
        v_min = float(lo_s) if n.v_min is None else float(max(lo_s, math.ceil(n.v_min * s)))
        v_max = float(hi_s) if n.v_max is None else float(min(hi_s, math.floor(n.v_max * s)))
        if clipped:
            warnings.append(f"{clipped} values saturated at the bit widths")
        neuron = n.replace(
            beta=_decay_grid(n.beta), alpha=_decay_grid(n.alpha), gain=1.0, syn_gain=1.0,
            threshold=thr, v_reset=vr, leak=leak, v_min=v_min, v_max=v_max,
            weight_bits=int(weight_bits), state_bits=int(state_bits),
        )
        new_pops[name] = Population(name, pop.shape, neuron)
        info[name].update({
            "clipped": clipped, "clipped_fraction": clipped / max(n_values, 1), "warnings": warnings,
            "threshold": [float(thr.min()), float(thr.max())] if n.spiking else None,
            "weight_bits": int(weight_bits), "state_bits": int(state_bits),
        })
    qg = g.replace(
        populations=tuple(new_pops[p.name] for p in g.populations),
        projections=tuple(new_projs[p.name] for p in g.projections),
        metadata={**g.metadata, "quantization": {k: {"scale": v["scale"], "source": v["source"]}
                                                 for k, v in info.items()}},
    )
    return qg, info
