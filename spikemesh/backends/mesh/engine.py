"""Running a mesh configuration on its own (``simulate(program, x, engine="cycle", source="config")``).

Only the configuration is read (docs/config.md): slots and their parameters, lanes and biases, axon tables,
synapse entries and unfolded conv blocks, routing tables (a packet reaches the cores its key's walk through the
tables delivers to, plus its own core), the partial-sum trees and the evaluation order. Per step, nodes are taken in
the header's ``nodes`` order: an input injects one packet per non-zero element (payload = the value) from the host
router or its source cores; a population first lets its partial-sum cores forward each lane's sum (deepest tree
level first), then its neurons read their lanes plus bias, take one neuron step (the update of docs/semantics.md §2,
the reference's ``PopState``) and send one packet per spike (payload 1) or per non-zero value of a non-spiking
neuron. A packet adds ``weight × payload`` to each lane its axon's entries name, ``delay`` steps later (a ring of
``max_delay + 1`` input buffers per lane).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spikemesh.backends.mesh.config import ROLE_CODES, ConfigError, MeshConfig
from spikemesh.backends.mesh.image import deliveries, entries, node_keys
from spikemesh.errors import SimulationError
from spikemesh.ir.neurons import DECAY_SHIFT, Neuron
from spikemesh.ir.reference import PopState, require_int
from spikemesh.ir.result import SimResult


def _inputs(cfg: MeshConfig, inputs: Any) -> tuple[dict[str, np.ndarray], int, int]:
    shapes = {nd["name"]: tuple(nd["shape"]) for nd in cfg.header["nodes"] if nd["kind"] == "input"}
    if not isinstance(inputs, Mapping):
        if len(shapes) != 1:
            raise SimulationError("the configuration has several inputs; pass a dict name -> array",
                                  needed=sorted(shapes), available="one array")
        inputs = {next(iter(shapes)): inputs}
    out: dict[str, np.ndarray] = {}
    tb: tuple[int, int] | None = None
    for name, shape in shapes.items():
        if name not in inputs:
            raise SimulationError("missing input array", node=name)
        x = np.asarray(inputs[name])
        if x.ndim == len(shape) + 1:
            x = x[:, None]
        if x.ndim != len(shape) + 2 or tuple(x.shape[2:]) != shape:
            raise SimulationError("input array shape mismatch", node=name,
                                  needed=f"[T, B, {', '.join(map(str, shape))}]", available=list(x.shape))
        if tb is None:
            tb = (x.shape[0], x.shape[1])
        elif tb != x.shape[:2]:
            raise SimulationError("inputs disagree on [T, B]", node=name, needed=tb, available=x.shape[:2])
        out[name] = require_int(x, "input", name).reshape(x.shape[0], x.shape[1], -1)
    assert tb is not None
    return out, tb[0], tb[1]


class _Net:
    """Delivery CSR over senders (sorted keys): each sender's (global lane, weight, delay) entries."""

    def __init__(self, cfg: MeshConfig, keys: list[np.ndarray]) -> None:
        nb = cfg.neuron_bits
        role = cfg["core_role"]
        lp = cfg["lane_ptr"]
        psum = np.flatnonzero(role == ROLE_CODES["partial_sum"])
        psum_keys = [(cfg["core_key"][c] << nb) | np.arange(lp[c + 1] - lp[c]) for c in psum]
        allk = np.concatenate([k[k >= 0] for k in keys] + psum_keys) if keys else np.zeros(0, np.int64)
        self.keys = np.unique(allk)
        ent = entries(cfg, keys=keys)
        if ent.problems:
            raise ConfigError("the configuration's conv blocks read keys their axon tables lack", node="config",
                              available=ent.problems[0], hint="spikemesh verify DIR lists every problem")
        reach, _, _ = deliveries(cfg)
        ak = cfg["axon_key"][cfg["axon_ptr"][ent.core] + ent.axon]
        ok = np.array([c in reach.get(k, ()) for k, c in zip((ak >> nb).tolist(), ent.core.tolist())], dtype=bool)
        sid = np.searchsorted(self.keys, ak)
        ok &= (sid < self.keys.size) & (self.keys[np.minimum(sid, self.keys.size - 1)] == ak)
        sid, lane = sid[ok], lp[ent.core[ok]] + ent.lane[ok]
        o = np.argsort(sid, kind="stable")
        self.ptr = np.searchsorted(sid[o], np.arange(self.keys.size + 1)).astype(np.int64)
        self.lane, self.weight, self.delay = lane[o], ent.weight[ok][o], ent.delay[ok][o]
        self.packets = 0
        self.events = 0

    def ids(self, keys: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.keys, keys)

    def deliver(self, buf: np.ndarray, t: int, vals: np.ndarray, sid: np.ndarray) -> None:
        """Packets of senders ``sid`` with payloads ``vals`` [B, k] (zeros send nothing) into ``buf`` [R, B, L]."""
        b, j = np.nonzero(vals)
        if b.size == 0:
            return
        s = sid[j]
        cnt = self.ptr[s + 1] - self.ptr[s]
        self.packets += int(b.size)
        idx = np.repeat(self.ptr[s] - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt) + np.arange(int(cnt.sum()))
        self.events += int(idx.size)
        R = buf.shape[0]
        np.add.at(buf, ((t + self.delay[idx]) % R, np.repeat(b, cnt), self.lane[idx]),
                  self.weight[idx] * np.repeat(vals[b, j], cnt))


def _population(cfg: MeshConfig, i: int, nd: dict[str, Any]) -> tuple[Neuron, list[np.ndarray], np.ndarray]:
    """The neuron state of node ``i`` rebuilt from its slots' parameters, the global lanes of each port (in flat
    neuron order), and its slots' keys (for the senders)."""
    sp, lp = cfg["slot_ptr"], cfg["lane_ptr"]
    sc = np.repeat(np.arange(cfg.n_cores), np.diff(sp))
    sel = np.flatnonzero((cfg["slot_node"] == i) & (cfg["core_role"][sc] == ROLE_CODES["neurons"]))
    size = int(np.prod(nd["shape"]))
    gs = np.full(size, -1, np.int64)
    gs[cfg["slot_index"][sel]] = sel
    if np.any(gs < 0):
        raise ConfigError("a neuron of the population has no slot on a neurons core", node=nd["name"],
                          hint="spikemesh verify DIR")
    core = sc[gs]
    local = gs - sp[core]
    n = sp[core + 1] - sp[core]
    P = int(nd["ports"])
    lanes = [lp[core] + p * n + local for p in range(P)]
    unit = float(1 << DECAY_SHIFT)

    def per_port(name: str) -> np.ndarray:
        a = np.stack([cfg[name][ln] for ln in lanes], axis=1).astype(np.float64)
        return a if P > 1 else a[:, 0]

    neuron = Neuron(
        nd["kind"], beta=cfg["slot_beta"][gs] / unit, alpha=per_port("lane_alpha") / unit,
        gain=cfg["slot_gain"][gs].astype(np.float64), syn_gain=per_port("lane_syn_gain"),
        leak=cfg["slot_leak"][gs].astype(np.float64), threshold=cfg["slot_threshold"][gs].astype(np.float64),
        v_reset=cfg["slot_v_reset"][gs].astype(np.float64), comparison=nd["comparison"], reset=nd["reset"],
        reset_timing=nd["reset_timing"], refractory=nd["refractory"], v_min=nd["v_lo"], v_max=nd["v_hi"], ports=P)
    return neuron, lanes, gs


def run_config(cfg: MeshConfig, inputs: Any, record: Sequence[str] | None = None) -> SimResult:
    """Execute the configuration ``cfg`` on integer ``inputs`` (``[T, B, *shape]`` or a dict per input name)."""
    nodes = cfg.header["nodes"]
    D = int(cfg.header["max_delay"])
    xs, T, B = _inputs(cfg, inputs)
    keys = node_keys(cfg)
    net = _Net(cfg, keys)
    L = int(cfg["lane_ptr"][-1])
    R = D + 1
    buf = np.zeros((R, B, L), dtype=np.int64)
    bias = cfg["lane_bias"].astype(np.int64).reshape(L, -1)
    record = list(record or [])
    names = [nd["name"] for nd in nodes]
    for r in record:
        if r not in names or nodes[names.index(r)]["kind"] == "input":
            raise SimulationError("cannot record: not a population", node=r)
    # per population: state, lanes, senders; its partial-sum cores' lanes by tree depth (deepest first)
    role, merge = cfg["core_role"], cfg["core_merge"]
    lp, sp = cfg["lane_ptr"], cfg["slot_ptr"]
    pops: dict[int, tuple[PopState, list[np.ndarray], np.ndarray, list[tuple[np.ndarray, np.ndarray]]]] = {}
    nb = cfg.neuron_bits
    for i, nd in enumerate(nodes):
        if nd["kind"] == "input":
            continue
        neuron, lanes, _ = _population(cfg, i, nd)
        st = PopState(nd["name"], neuron, tuple([int(np.prod(nd["shape"]))]), B, integer=True)
        levels: dict[int, list[int]] = {}
        for c in np.flatnonzero(role == ROLE_CODES["partial_sum"]):
            if sp[c + 1] > sp[c] and cfg["slot_node"][sp[c]] == i:
                depth, r = 0, int(c)
                while merge[r] >= 0:
                    depth, r = depth + 1, int(merge[r])
                levels.setdefault(depth, []).append(int(c))
        fwd = []
        for depth in sorted(levels, reverse=True):
            cs = levels[depth]
            gl = np.concatenate([np.arange(lp[c], lp[c + 1]) for c in cs])
            k = np.concatenate([(cfg["core_key"][c] << nb) | np.arange(lp[c + 1] - lp[c]) for c in cs])
            fwd.append((gl, net.ids(k)))
        pops[i] = (st, lanes, net.ids(keys[i]), fwd)
    in_ids = {i: net.ids(keys[i]) for i, nd in enumerate(nodes) if nd["kind"] == "input"}
    spikes = {nd["name"]: np.zeros((T, B, *nd["shape"]), bool) for nd in nodes
              if nd["kind"] != "input" and nd["spiking"]}
    traced = set(record) | {nd["name"] for nd in nodes if nd["kind"] != "input" and not nd["spiking"]}
    v_rec = {n: np.zeros((T, B, *nodes[names.index(n)]["shape"]), np.int64) for n in traced}
    for t in range(T):
        slot_t = t % R
        cur = buf[slot_t]
        for i, nd in enumerate(nodes):
            if nd["kind"] == "input":
                net.deliver(buf, t, xs[nd["name"]][t], in_ids[i])
                continue
            st, lanes, ids, fwd = pops[i]
            for gl, fid in fwd:
                vals = cur[:, gl].copy()
                cur[:, gl] = 0
                net.deliver(buf, t, vals, fid)
            step = min(t, D)
            per = [cur[:, ln] + bias[ln, step][None, :] for ln in lanes]
            for ln in lanes:
                cur[:, ln] = 0
            x = per[0] if len(per) == 1 else np.stack(per, axis=-1)
            s, v = st.step(x)
            out = s.astype(np.int64) if nd["spiking"] else v
            if nd["spiking"]:
                spikes[nd["name"]][t] = s.reshape(B, *nd["shape"])
            if nd["name"] in v_rec:
                v_rec[nd["name"]][t] = v.reshape(B, *nd["shape"])
            net.deliver(buf, t, out, ids)
    outputs = {}
    for o, src in cfg.header.get("outputs", {}).items():
        if src in spikes:
            outputs[o] = spikes[src]
        elif src in v_rec:
            outputs[o] = v_rec[src]
        elif src in xs:
            outputs[o] = xs[src].reshape(T, B, *nodes[names.index(src)]["shape"])
    res = SimResult(spikes=spikes, v=v_rec, outputs=outputs, engine="cycle", steps=T, mode="int")
    res.stats = {"source": "config", "packets": net.packets, "synaptic_events": net.events}
    return res


def run_config_engine(program: Any, inputs: Any, record: Sequence[str] | None = None, **kw: Any) -> SimResult:
    """``simulate(program, x, engine="cycle", source="config")``: the Program's ``config`` section run alone."""
    cfg = getattr(program, "config", None) if not isinstance(program, MeshConfig) else program
    if not isinstance(cfg, MeshConfig):
        raise SimulationError("source='config' needs a mesh configuration", node="simulate",
                              needed="a Program with a mesh_config section (a mesh-family build of an integer model)",
                              available=type(cfg).__name__,
                              hint="compile for a mesh target with quantize=True, or use source='program'")
    return run_config(cfg, inputs, record)
