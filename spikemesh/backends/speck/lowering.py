"""Lowering an integer IR graph to DYNAP-CNN layers (the layer structure of sinabs' ``DynapcnnNetwork``: one core is
Conv2d → IAF → per-destination sum pooling; sinabs Speck documentation and sinabs.backend.dynapcnn).

One layer per IF population: its incoming projections must each be ``[SumPool2d…] [Reshape] Conv|Dense``.
- Leading sum pools become the *source's* per-destination pooling (chained pools multiply; stride = kernel).
- A Dense is a conv whose kernel covers its whole (pooled) input; a 1-D source is (N, 1, 1).
- Several projections into one population (residual merges) share the core's conv: identical weights share
  input channels, different ones are concatenated with a per-destination ``feature_shift``.
- The conv biases plus the neuron leak become the core's bias (added per slow-clock tick when non-zero).
- IF with ``>=``: threshold_high = θ; with ``>`` and zero reset: θ + 1 (integer state, exact); threshold_low =
  ``v_min`` (the clamp).
- The graph input is the DVS layer when it has 1–2 channels and is at most 128×128; its leading pooling (one
  factor for the whole layer) is the DVS pooling, with ≤ 2 destinations. Other inputs are injected directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spikemesh.backends.speck.dvs import DvsSpec, from_options
from spikemesh.backends.speck.memory import MAX_DESTINATIONS, POOLINGS, LayerGeometry, check_rules, layer_memory
from spikemesh.errors import PartitionError
from spikemesh.ir.graph import Graph
from spikemesh.ir.operators import AvgPool2d, Conv, Delay, Dense, Identity, Reshape, SumPool2d

INPUT = "input"  # source tag of the graph input in ``SpeckLayer.sources``


@dataclass(frozen=True, eq=False)
class SpeckLayer:
    """One DYNAP-CNN layer (a core's content). Shapes are (C, H, W); weights int ``[f, c, k, k]``.

    ``sources``: (source population name or ``"input"``, pooling, feature_shift); ``destinations``: (layer name,
    pooling, feature_shift), at most 2; ``monitor``: the layer is a graph output. ``channels``: population
    channel -> core feature (identity unless the readout remap moved them)."""

    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    weight: np.ndarray
    bias: np.ndarray
    threshold_high: int
    threshold_low: int
    reset: str
    pop_shape: tuple[int, ...]
    sources: tuple[tuple[str, int, int], ...] = ()
    destinations: tuple[tuple[str, int, int], ...] = ()
    monitor: bool = False
    channels: tuple[int, ...] = field(default=())

    @property
    def memory(self) -> dict[str, int]:
        c, h, w = self.in_shape
        return layer_memory(c, self.out_shape[0], self.kernel, self.stride, self.padding, (h, w), bias=True)

    @property
    def leak_enable(self) -> bool:
        return bool(np.any(self.bias != 0))

    def describe(self) -> str:
        c, h, w = self.in_shape
        return f"conv {c}->{self.out_shape[0]} k{self.kernel} s{self.stride[0]} p{self.padding[0]} on {h}x{w}"


def _err(node: str, msg: str, **kw: Any) -> PartitionError:
    return PartitionError(msg, node=node, **kw)


def _as_chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    if len(shape) == 1:
        return (int(shape[0]), 1, 1)
    raise _err(str(shape), "DYNAP-CNN layers have [C, H, W] or flat shapes", available=shape)


def _parse(graph: Graph, pr: Any) -> tuple[int, tuple[int, int, int], np.ndarray, np.ndarray | None,
                                           tuple[int, int], tuple[int, int]]:
    """(pooling, conv input shape, weight [f,c,kh,kw], bias, stride, padding) of one incoming projection."""
    src = _as_chw(graph.shape_of(pr.source))
    pool = 1
    ops = [o for o in pr.ops if type(o) is not Identity]
    i = 0
    while i < len(ops) and isinstance(ops[i], SumPool2d):
        op = ops[i]
        if isinstance(op, AvgPool2d):
            raise _err(pr.name, "AvgPool2d must be discretized into SumPool2d first", hint="compile with quantize")
        if op.kernel[0] != op.kernel[1] or op.stride != op.kernel or op.padding != (0, 0):
            raise _err(pr.name, "pooling must be square, with stride = kernel and no padding",
                       needed="SumPool2d(k, stride=k)", available=f"kernel {op.kernel} stride {op.stride}")
        pool *= op.kernel[0]
        i += 1
    pooled = (src[0], src[1] // pool, src[2] // pool)
    rest = ops[i:]
    if rest and isinstance(rest[0], Reshape) and isinstance(rest[1] if len(rest) > 1 else None, Dense):
        rest = rest[1:]
    if rest and isinstance(rest[-1], Reshape) and len(rest) > 1:
        rest = rest[:-1]
    if len(rest) != 1 or not isinstance(rest[0], (Conv, Dense)):
        kinds = ", ".join(type(o).__name__ for o in pr.ops)
        if any(isinstance(o, Delay) for o in pr.ops):
            raise _err(pr.name, "DYNAP-CNN has no synaptic delays", available=kinds)
        raise _err(pr.name, "a DYNAP-CNN layer input must be [SumPool2d...] then one Conv2d or Linear",
                   available=kinds, hint="sinabs' valid edges: pool->weight, neuron->weight, dvs->weight")
    op = rest[0]
    if isinstance(op, Dense):
        f, n = op.weight.shape
        c, h, w = pooled
        if c * h * w != n:
            raise _err(pr.name, "Linear input size mismatch", needed=n, available=pooled)
        weight = np.asarray(op.weight).reshape(f, c, h, w)
        return pool, pooled, weight, op.bias, (1, 1), (0, 0)
    if op.ndim != 2:
        raise _err(pr.name, "only 2-D convolutions map onto DYNAP-CNN", available=f"Conv{op.ndim}d")
    geo = LayerGeometry(pr.target, pooled[0], pooled[1:], op.weight.shape[0], op.kernel, op.stride, op.padding,
                        (), op.dilation, op.groups)
    check_rules(geo)
    return pool, pooled, np.asarray(op.weight), op.bias, op.stride, op.padding


def lower(graph: Graph, readout: bool = False, dvs: dict[str, Any] | None = None,
          ) -> tuple[list[SpeckLayer], DvsSpec | None, tuple[tuple[str, int], ...]]:
    """DYNAP-CNN layers in topological order, the DVS layer (or None) and the direct input routes
    ((layer, feature_shift), used when there is no DVS layer). ``dvs``: the sensor-side DVS settings (crop,
    mirror, swap, merge, pooling; dvs.py ``from_options``), whose output is the graph input. Raises
    PartitionError naming the layer."""
    if len(graph.inputs) != 1:
        raise _err("graph", "Speck takes exactly one input (the DVS or the host event stream)",
                   needed=1, available=len(graph.inputs))
    outputs = {o.source for o in graph.outputs}
    layers: dict[str, dict[str, Any]] = {}
    for name in graph.layers():
        pop = graph.population[name]
        n = pop.neuron
        if n.kind != "IF":
            raise _err(name, f"{n.kind} neurons are not supported by DYNAP-CNN", needed="IF (non-leaky "
                       "integrate-and-fire)", available=n.kind, hint="use IAF neurons; a readout counts spikes")
        if not np.all(n.threshold == np.round(n.threshold)) or not np.all(n.leak == np.round(n.leak)):
            raise _err(name, "the layer is not quantized", hint="compile with quantize=True")
        if n.refractory:
            raise _err(name, "DYNAP-CNN neurons have no refractory period", available=n.refractory)
        if n.reset not in ("subtract", "zero"):
            raise _err(name, f"reset {n.reset!r} is not supported", needed="subtract or zero")
        if n.reset_timing != "before_decay":
            raise _err(name, "the chip resets right after a spike", needed="reset_timing before_decay",
                       available=n.reset_timing)
        if np.any(n.gain != 1):
            raise _err(name, "neuron gain must be folded into the weights", hint="compile with quantize=True")
        thr = np.unique(n.threshold)
        if thr.size != 1:
            raise _err(name, "one threshold per layer", available=f"{thr.size} values")
        theta = int(thr[0])
        if n.reset == "zero" and np.any(n.v_reset != 0):
            raise _err(name, "zero reset goes to 0 on the chip", needed=0, available=float(np.max(n.v_reset)))
        if n.comparison == ">":
            if n.reset == "subtract":
                raise _err(name, "'v > θ' with subtractive reset has no exact DYNAP-CNN equivalent (the chip "
                           "fires on v >= θ and subtracts θ)", hint="use comparison '>=' or reset to zero")
            theta += 1
        lo = -32768 if n.v_min is None else int(max(-32768, math.ceil(n.v_min)))
        if n.v_max is not None and n.v_max < 32767:
            raise _err(name, "the chip has no upper state clamp below the int16 range", available=n.v_max)
        out = _as_chw(pop.shape)
        leak = np.broadcast_to(n.leak, pop.shape).reshape(out[0], -1)[:, 0].astype(np.int64)
        blocks: list[tuple[np.ndarray, int]] = []  # (weight block, feature shift)
        sources = []
        in_hw = stride = padding = None
        bias = leak.copy()
        for pr in graph.incoming(name):
            pool, pooled, w, b, s, p = _parse(graph, pr)
            if not np.all(w == np.round(w)) or w.min(initial=0) < -128 or w.max(initial=0) > 127:
                raise _err(pr.name, "weights must be int8 on DYNAP-CNN", needed="integers in [-128, 127]",
                           available=f"{w.min()}..{w.max()}", hint="compile with quantize=True")
            if w.shape[0] != out[0]:
                raise _err(pr.name, "conv features do not match the layer", needed=out[0], available=w.shape[0])
            if w.shape[2] != w.shape[3]:
                check_rules(LayerGeometry(name, pooled[0], pooled[1:], out[0], w.shape[2:]))
            geo = (pooled[1:], s, p, w.shape[2])
            if in_hw is None:
                in_hw, stride, padding = geo[0], s, p
                kernel = w.shape[2]
            elif geo != (in_hw, stride, padding, kernel):
                raise _err(name, "merged inputs must share input size, kernel, stride and padding (one conv per "
                           "core)", needed=(in_hw, kernel, stride, padding), available=(geo[0], geo[3], s, p))
            shift = next((sh for blk, sh in blocks if blk.shape == w.shape and np.array_equal(blk, w)), None)
            if shift is None:
                shift = sum(blk.shape[1] for blk, _ in blocks)
                blocks.append((w, shift))
            if b is not None:
                bias = bias + np.rint(b).astype(np.int64)
            sources.append((pr.source, pool, shift))
        if not blocks:
            raise _err(name, "a layer needs an incoming conv or linear projection")
        weight = np.concatenate([b for b, _ in blocks], axis=1).astype(np.int64)
        c_in = weight.shape[1]
        oh, ow = ((in_hw[0] + 2 * padding[0] - kernel) // stride[0] + 1,
                  (in_hw[1] + 2 * padding[1] - kernel) // stride[1] + 1)
        if (out[1], out[2]) != (oh, ow):
            raise _err(name, "population shape does not match the conv output", needed=(out[0], oh, ow),
                       available=pop.shape)
        layers[name] = dict(name=name, in_shape=(c_in, *in_hw), out_shape=out, kernel=int(kernel), stride=stride,
                            padding=padding, weight=weight, bias=bias, threshold_high=theta, threshold_low=lo,
                            reset=n.reset, pop_shape=pop.shape, sources=tuple(sources), monitor=name in outputs,
                            channels=tuple(range(out[0])))
    # destinations from the sources lists
    dests: dict[str, list[tuple[str, int, int]]] = {k: [] for k in layers}
    inp = graph.inputs[0]
    input_dests: list[tuple[str, int, int]] = []
    for name, L in layers.items():
        for src, pool, shift in L["sources"]:
            (input_dests if src == inp.name else dests[src]).append((name, pool, shift))
    for name, L in layers.items():
        L["destinations"] = tuple(dests[name])
        L["sources"] = tuple((INPUT if s == inp.name else s, p, sh) for s, p, sh in L["sources"])
    if readout:
        _readout_remap(layers, graph)
    result = []
    for L in layers.values():
        sl = SpeckLayer(**L)
        c, h, w = sl.in_shape
        check_rules(LayerGeometry(sl.name, c, (h, w), sl.out_shape[0], (sl.kernel, sl.kernel), sl.stride,
                                  sl.padding, tuple(p for _, p, _ in sl.destinations)))
        result.append(sl)
    ishape = inp.shape
    routes: tuple[tuple[str, int], ...] = ()
    if len(ishape) == 3 and ishape[0] <= 2 and max(ishape[1:]) <= 128:
        pools = {p for _, p, _ in input_dests}
        if len(pools) > 1:
            raise _err(inp.name, "the DVS layer has one pooling factor for all its destinations",
                       needed="one factor", available=sorted(pools))
        pool = pools.pop() if pools else 1
        if pool not in POOLINGS:
            raise _err(inp.name, "DVS pooling must be 1, 2 or 4", needed=POOLINGS, available=pool)
        if len(input_dests) > MAX_DESTINATIONS:
            raise _err(inp.name, "the DVS layer has at most 2 destinations", needed=len(input_dests),
                       available=MAX_DESTINATIONS)
        dests = tuple((d, sh) for d, _, sh in input_dests)
        if dvs is not None:
            spec = from_options(dvs, tuple(int(s) for s in ishape), pool, dests)
        else:
            spec = DvsSpec(shape=tuple(int(s) for s in ishape), pooling=pool,  # type: ignore[arg-type]
                           destinations=dests, merge=ishape[0] == 1)
        for d, sh in dests:  # what the DVS sends must fit each destination's input
            c, h, w = spec.out_shape
            L = next(x for x in result if x.name == d)
            if (h, w) != L.in_shape[1:] or c + sh > L.in_shape[0]:
                raise _err(d, "the DVS layer output does not match this layer's input",
                           needed=L.in_shape, available=(c + sh, h, w))
        return result, spec, routes
    elif dvs is not None:
        raise _err("dvs", "the dvs option needs a graph input of 1-2 channels, at most 128x128",
                   available=tuple(ishape))
    else:
        if any(p != 1 for _, p, _ in input_dests):
            raise _err(inp.name, "only the DVS layer (1-2 channels, <= 128x128) can pool the input")
        routes = tuple((d, sh) for d, _, sh in input_dests)
    return result, None, routes


def _readout_remap(layers: dict[str, dict[str, Any]], graph: Graph) -> None:
    """speck2e/2f readout errata (sinabs Speck documentation; synsense/sinabs issue #182): class i is read from CNN
    channel 4·i, so the output layer grows from C to (C−1)·4+1 features with channel i moved to 4i (sinabs
    extend_readout_layer)."""
    outs = [n for n, L in layers.items() if L["monitor"]]
    if len(outs) != 1:
        raise _err("readout", "the readout needs exactly one output layer", available=len(outs))
    L = layers[outs[0]]
    f, h, w = L["out_shape"]
    if (h, w) != (1, 1) or f > 15:
        raise _err(L["name"], "the readout takes at most 15 classes of 1x1 outputs", needed="<= 15 x 1 x 1",
                   available=L["out_shape"])
    if L["destinations"]:
        raise _err(L["name"], "the readout layer cannot feed other layers")
    nf = (f - 1) * 4 + 1
    weight = np.zeros((nf, *L["weight"].shape[1:]), dtype=np.int64)
    bias = np.zeros(nf, dtype=np.int64)
    weight[::4] = L["weight"]
    bias[::4] = L["bias"]
    L.update(weight=weight, bias=bias, out_shape=(nf, 1, 1), channels=tuple(4 * i for i in range(f)))
