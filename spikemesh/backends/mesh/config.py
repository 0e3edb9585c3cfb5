"""The mesh chip configuration: the Program's ``config`` section for mesh-family targets, ``mesh_config.json`` and
the ``section/config/*`` arrays of ``weights.npz``. The format is specified field by field in docs/config.md.

What a chip loads, per core (logical core ``c`` at its placed router): its neuron slots (node, flat index), the
neuron parameters of each slot at the target's widths, its role, its *lanes* (one input accumulator per slot and
synaptic port), its axon table (axon slot ← source routing key, sorted), its synapse memory — explicit
``(axon, lane, weight, delay)`` entries, and *conv blocks* (a slice of a kernel stored once per projection, plus
the geometry that unfolds it into ``(axon, lane, weight)`` entries) — and the routing key each lane sends with:
``(core_key << neuron_bits) | lane`` with ``core_key = c + n_inputs`` (host input ``k``: ``n_inputs - 1 - k``);
whether it sends at all (``core_sends``: a core without a route keeps its packets to itself). Per router: the
routing table after key/mask compression (the rule of ``spikemesh.routing.tables``), ports E/W/N/S/local as bits.
Plus the inter-chip links used, how inputs are injected and the per-step evaluation order.

Emission is proportional: NumPy over whole arrays, Python loops only over cores, blocks and projections, never over
synapses of conv projections (ResNet-18 has 4.8e8 synapses; conv kernels are stored once per projection and each
conv block names its slice and geometry, see docs/config.md "Cost of an unfolded image").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numba import njit

from spikemesh.errors import FileFormatError, SpikemeshError
from spikemesh.fileio import atomic_write_json
from spikemesh.ir.graph import Graph, Input, Projection
from spikemesh.ir.neurons import DECAY_SHIFT
from spikemesh.ir.operators import Conv, Delay, Identity, SumPool2d
from spikemesh.ir.reference import apply_ops, decay_q

FORMAT = "spikemesh-mesh-config"
FORMAT_VERSION = 1
ROLE_CODES = {"neurons": 0, "partial_sum": 1, "source": 2}
ROLES = ("neurons", "partial_sum", "source")
#: output-port bits of a routing-table entry: link directions (spikemesh.target.topology.DIRS) and local delivery
PORT_BITS = {"E": 1, "W": 2, "N": 4, "S": 8, "local": 16}
#: ``syn_proj`` of the unit-weight entries a merge core stores for received partial sums
PARTIAL_SUM = -1


class ConfigError(SpikemeshError):
    """A mesh configuration cannot be emitted, read or run (format version, missing section, non-integer model)."""


@dataclass(frozen=True, eq=False)
class MeshConfig:
    """The configuration as its JSON header (``header``: format, target limits, key layout, nodes, projections,
    conv specs, inputs, schedule, inter-chip links) and its arrays (``arrays``; names and layout in
    docs/config.md)."""

    section_type: ClassVar[str] = "mesh_config"  # its registered name in program.json (spikemesh.program)

    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def n_cores(self) -> int:
        return int(self.arrays["core_role"].size)

    @property
    def neuron_bits(self) -> int:
        return int(self.header["keys"]["neuron_bits"])

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return json.loads(json.dumps(self.header)), dict(self.arrays)

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MeshConfig:
        check_version(meta, "program.json section config")
        return cls(meta, {k: np.asarray(v) for k, v in arrays.items()})

    def export(self, directory: str | Path, program: Any = None) -> None:
        """Write ``mesh_config.json`` (the header, one record per core, the array manifest) into ``directory``."""
        atomic_write_json(Path(directory) / "mesh_config.json", self.to_json())

    def to_json(self) -> dict[str, Any]:
        """The header plus per-core records and the manifest of the arrays stored in ``weights.npz``."""
        a = self.arrays
        cores = []
        ptr = {k: a[f"{k}_ptr"] for k in ("slot", "lane", "axon", "syn")}
        nblocks = np.bincount(a["conv_core"], minlength=self.n_cores) if a["conv_core"].size else \
            np.zeros(self.n_cores, np.int64)
        for c in range(self.n_cores):
            cx, cy, x, y = (int(v) for v in a["core_coords"][c])
            cores.append({
                "core": c, "chip": [cx, cy], "router": [x, y], "role": ROLES[int(a["core_role"][c])],
                "merge_into": None if a["core_merge"][c] < 0 else int(a["core_merge"][c]),
                "key": int(a["core_key"][c]), "ports": int(a["core_ports"][c]), "sends": bool(a["core_sends"][c]),
                **{f"{k}s": int(ptr[k][c + 1] - ptr[k][c]) for k in ("slot", "lane", "axon")},
                "synapse_entries": int(ptr["syn"][c + 1] - ptr["syn"][c]), "conv_blocks": int(nblocks[c]),
            })
        manifest = {k: {"dtype": v.dtype.str, "shape": list(v.shape), "npz": f"weights.npz:section/config/{k}"}
                    for k, v in sorted(a.items())}
        return {**self.header, "cores": cores, "arrays": manifest}


def check_version(header: Any, where: str) -> None:
    """Refuse a header of another format or a newer version (FileFormatError)."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise FileFormatError("not a spikemesh mesh configuration", node=where, needed=FORMAT,
                              available=header.get("format") if isinstance(header, dict) else type(header).__name__)
    v = header.get("format_version")
    if not isinstance(v, int) or v > FORMAT_VERSION:
        raise FileFormatError("mesh configuration written by a newer spikemesh", node=where,
                              needed=f"format_version <= {FORMAT_VERSION}", available=v, hint="upgrade spikemesh")


def load_config(directory: str | Path) -> MeshConfig:
    """The configuration of a build directory: ``mesh_config.json`` (header) and the ``section/config/*`` arrays of
    ``weights.npz``, read without the Program's other sections."""
    d = Path(directory)
    jf, wz = d / "mesh_config.json", d / "weights.npz"
    for f in (jf, wz):
        if not f.is_file():
            raise FileFormatError(f"no mesh configuration: {f.name} missing", node=str(d),
                                  hint="compile for a mesh-family target (spikemesh compile MODEL -t tianjic -o DIR)")
    try:
        head = json.loads(jf.read_text())
        with np.load(wz, allow_pickle=False) as z:
            pre = "section/config/"
            arrays = {k[len(pre):]: z[k] for k in z.files if k.startswith(pre)}
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as e:
        raise FileFormatError(f"corrupt configuration files ({type(e).__name__})", node=str(d)) from None
    check_version(head, str(jf))
    header = {k: v for k, v in head.items() if k not in ("cores", "arrays")}
    return MeshConfig(header, arrays)


# ------------------------------------------------------------------------------------------ routing tables
@njit(cache=True)
def _cover_entries(rptr: np.ndarray, keys: np.ndarray, masks: np.ndarray, out_r: np.ndarray, out_base: np.ndarray,
                   out_size: np.ndarray, out_ports: np.ndarray) -> int:
    """The compressed entries of ``spikemesh.routing.tables._compress`` (same greedy rule, same order), written
    out: per entry its router segment, block base key, block size (a power of two) and output bits."""
    big = 1 << 62
    n_out = 0
    for r in range(rptr.size - 1):
        lo, hi = rptr[r], rptr[r + 1]
        n = hi - lo
        limit = keys[hi - 1] + 1
        below = np.empty(n, dtype=np.int64)
        above = np.empty(n, dtype=np.int64)
        for i in range(n):
            if i == 0:
                below[i] = -big
            elif masks[lo + i - 1] != masks[lo + i]:
                below[i] = keys[lo + i - 1]
            else:
                below[i] = below[i - 1]
        for i in range(n - 1, -1, -1):
            if i == n - 1:
                above[i] = big
            elif masks[lo + i + 1] != masks[lo + i]:
                above[i] = keys[lo + i + 1]
            else:
                above[i] = above[i + 1]
        covered_to = np.full(32, -big, dtype=np.int64)
        for i in range(n):
            k, m = keys[lo + i], masks[lo + i]
            if k <= covered_to[m]:
                continue
            size = 1
            while size < limit:
                blo = (k // (2 * size)) * (2 * size)
                if below[i] >= blo or above[i] < blo + 2 * size:
                    break
                size *= 2
            covered_to[m] = (k // size) * size + size - 1
            out_r[n_out] = r
            out_base[n_out] = (k // size) * size
            out_size[n_out] = size
            out_ports[n_out] = m
            n_out += 1
    return n_out


def table_entries(routes: Any, coords: np.ndarray, target: Any, n_inputs: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Routing-table entries in core-key space: (routers int32 [R, 2] global (x, y), ptr [R+1], base key [E],
    block size [E], output bits [E]); the entry count per router equals ``Tables.compressed``."""
    from spikemesh.routing.tables import route_entries
    from spikemesh.target.topology import Mesh

    mesh = Mesh.of(target)
    rids, rptr, ekey, emask = route_entries(routes, mesh, coords, n_inputs)
    H = mesh.height
    n = ekey.size
    out_r, out_base, out_size, out_ports = (np.zeros(n, np.int64) for _ in range(4))
    m = _cover_entries(rptr, ekey, emask, out_r, out_base, out_size, out_ports)
    out_r, out_base, out_size, out_ports = out_r[:m], out_base[:m], out_size[:m], out_ports[:m]
    ptr = np.searchsorted(out_r, np.arange(rids.size + 1)).astype(np.int64)
    routers = np.stack([rids // H, rids % H], axis=1).astype(np.int32).reshape(-1, 2)
    return routers, ptr, out_base, out_size, out_ports.astype(np.uint8)


def interchip_links(routes: Any, target: Any) -> np.ndarray:
    """int32 [K, 5] (chip_x, chip_y, x, y, dir) of every link the routes use that crosses a chip border, sorted."""
    from spikemesh.routing.trees import STEP_X, STEP_Y, as_flat

    lk = as_flat(routes).links.astype(np.int64).reshape(-1, 5)
    gx = lk[:, 0] * target.cores_x + lk[:, 2]
    gy = lk[:, 1] * target.cores_y + lk[:, 3]
    nx, ny = gx + STEP_X[lk[:, 4]], gy + STEP_Y[lk[:, 4]]
    cross = (nx // target.cores_x != lk[:, 0]) | (ny // target.cores_y != lk[:, 1])
    ids = np.unique(lk[cross] @ np.array([1 << 48, 1 << 32, 1 << 16, 1 << 4, 1], dtype=np.int64))
    return np.stack([ids >> 48, (ids >> 32) & 0xFFFF, (ids >> 16) & 0xFFFF, (ids >> 4) & 0xFFF, ids & 0xF],
                    axis=1).astype(np.int32).reshape(-1, 5)


# ------------------------------------------------------------------------------------------ emission helpers
def _int_dtype(lo: int, hi: int) -> type:
    for dt in (np.int8, np.int16, np.int32):
        if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
            return dt
    return np.int64


def _as_int(a: np.ndarray, what: str, node: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if not np.all(a == np.round(a)):
        raise ConfigError(f"{what} is not an integer", node=node, needed="an integer (quantized) model",
                          available="float values", hint="compile with quantize=True (the default)")
    return a.astype(np.int64)


def _conv_of(graph: Graph, pr: Projection) -> tuple[Conv, int] | None:
    """(the convolution, uniform delay in steps) when ``pr`` is one Conv or SumPool2d with only Identity ops and at
    most one Delay of a single value around it: a projection stored as conv blocks. None otherwise."""
    core = [op for op in pr.ops if not isinstance(op, Identity | Delay)]
    if len(core) != 1 or type(core[0]) not in (Conv, SumPool2d):
        return None
    d = pr.delay_op
    if d is not None and np.unique(d.steps).size > 1:
        return None
    shape = graph.shape_of(pr.source)
    if len(shape) not in (2, 3):
        return None
    op = core[0]
    conv = op._conv(shape[0]) if isinstance(op, SumPool2d) else op
    if conv.ndim != len(shape) - 1:
        return None
    return conv, (0 if d is None else int(d.steps.reshape(-1)[0]) if d.steps.size else 0)


def _ramp(graph: Graph, pr: Projection, D: int) -> np.ndarray | None:
    """Constant input of a projection per step ``min(t, D)`` (int64 [D+1, n_target]; docs/semantics.md §4: a
    bias computed before a Delay switches on at step d), or None when the chain has no bias."""
    if not any(getattr(op, "bias", None) is not None for op in pr.ops):
        return None
    src_shape = graph.shape_of(pr.source)
    n_tgt = graph.population[pr.target].size
    zero = np.zeros((1, *src_shape), dtype=np.int64)
    d_op = pr.delay_op
    if d_op is None:
        const = _as_int(apply_ops(pr.ops, zero).reshape(-1), "bias", pr.name)
        return np.broadcast_to(const, (D + 1, n_tgt)).copy()
    k = pr.ops.index(d_op)
    pre, post = pr.ops[:k], pr.ops[k + 1:]
    mid_shape = graph.chain_shapes(pr)[k]
    pre_bias = apply_ops(pre, zero).reshape(-1)
    d = np.broadcast_to(d_op.steps, mid_shape).reshape(-1)
    out = np.empty((D + 1, n_tgt), dtype=np.int64)
    for s in range(D + 1):
        mid = np.where(d <= s, pre_bias, 0).astype(np.int64).reshape((1, *mid_shape))
        out[s] = _as_int(apply_ops(post, mid).reshape(-1), "bias", pr.name)
    return out


def _node_table(graph: Graph, order: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            out.append({"name": name, "kind": "input", "shape": list(node.shape)})
            continue
        n = node.neuron
        lo, hi = n.state_bounds()
        out.append({
            "name": name, "kind": n.kind, "shape": list(node.shape), "spiking": n.spiking,
            "current": n.has_current, "ports": n.ports, "reset": n.reset, "reset_timing": n.reset_timing,
            "comparison": n.comparison, "refractory": n.refractory,
            "v_lo": None if lo == -np.inf else math.ceil(lo), "v_hi": None if hi == np.inf else math.floor(hi),
        })
    return out


# ------------------------------------------------------------------------------------------ emission
def emit_config(program: Any) -> MeshConfig:
    """The mesh configuration of a placed and routed Program (partition, placement, routes sections; an integer
    graph). Raises ConfigError naming what is missing."""
    from spikemesh.partition.geometry import box_flat, classify, view_shape
    from spikemesh.partition.resources import limits_for
    from spikemesh.simulator.arrays import projection_parts

    graph, target, part = program.graph, program.target, program.partition
    for s in ("partition", "placement", "routes"):
        if getattr(program, s, None) is None:
            raise ConfigError(f"the mesh configuration needs the {s} section", node="config",
                              needed="sections partition, placement, routes", available=f"{s} missing",
                              hint="compile for a mesh-family target")
    if not graph.is_quantized:
        raise ConfigError("the mesh configuration needs an integer model", node="config",
                          needed="every population quantized (state_bits set)", available="float model",
                          hint="compile with quantize=True (the default)")
    coords = np.asarray(program.placement.coords, dtype=np.int32).reshape(-1, 4)
    cores = part.cores
    C = len(cores)
    order = graph.topological_order()
    node_ix = {n: i for i, n in enumerate(order)}
    n_inputs = len(graph.inputs)
    input_k = {inp.name: k for k, inp in enumerate(graph.inputs)}
    sizes = {n: math.prod(graph.shape_of(n)) for n in order}
    views = {n: view_shape(graph.shape_of(n)) for n in order}
    D = max((pr.max_delay for pr in graph.projections), default=0)

    # ---- cores: roles, trees, slots (boxes of each layer in C order; a source core's element range)
    role = np.array([ROLE_CODES[c.role] for c in cores], dtype=np.int8)
    merge = np.array([-1 if c.merge_into is None else c.merge_into for c in cores], dtype=np.int32)
    in_tree = np.zeros(C, dtype=bool)
    in_tree[merge[merge >= 0]] = True
    in_tree[role == ROLE_CODES["partial_sum"]] = True
    root = np.arange(C)
    for c in range(C):  # follow merge_into to the neurons core (a tree is shallow)
        r = c
        while merge[r] >= 0:
            r = int(merge[r])
        root[c] = r
    slot_node_l, slot_index_l, box_slot0 = [], [], {}
    n_slots = np.zeros(C, dtype=np.int64)
    for c in cores:
        if c.role == "source":
            name = c.layers[0]
            a, b = c.neurons[name]
            slot_node_l.append(np.full(b - a, node_ix[name], np.int32))
            slot_index_l.append(np.arange(a, b, dtype=np.int32))
            n_slots[c.index] = b - a
            continue
        off = 0
        for layer in c.layers:
            for bi, box in enumerate(c.boxes[layer]):
                f = box_flat(box, views[layer]).astype(np.int32)
                box_slot0[(c.index, layer, bi)] = off
                slot_node_l.append(np.full(f.size, node_ix[layer], np.int32))
                slot_index_l.append(f)
                off += f.size
        n_slots[c.index] = off
    slot_node = np.concatenate(slot_node_l) if slot_node_l else np.zeros(0, np.int32)
    slot_index = np.concatenate(slot_index_l) if slot_index_l else np.zeros(0, np.int32)
    slot_ptr = np.concatenate([[0], np.cumsum(n_slots)]).astype(np.int64)
    slot_core = np.repeat(np.arange(C), n_slots)
    slot_local = np.arange(slot_node.size) - slot_ptr[slot_core]
    ports = np.ones(C, dtype=np.int64)
    for c in cores:
        if c.role != "source":
            ports[c.index] = max(graph.population[ly].neuron.ports for ly in c.layers)
    n_lanes = n_slots * ports
    lane_ptr = np.concatenate([[0], np.cumsum(n_lanes)]).astype(np.int64)
    nb = max(1, int(max([int(n_lanes.max(initial=1))] + [sizes[i.name] for i in graph.inputs]) - 1).bit_length())
    core_key = np.arange(C, dtype=np.int64) + n_inputs
    key_bits = int(core_key.max(initial=n_inputs)).bit_length() + nb
    # routing key of every sender: each node's neurons (their neurons / source core) and host input elements
    local_slot: dict[str, np.ndarray] = {}
    key_of: dict[str, np.ndarray] = {}
    owner = (role == ROLE_CODES["neurons"]) | (role == ROLE_CODES["source"])
    own = owner[slot_core]
    for name in order:
        ix = node_ix[name]
        sel = np.flatnonzero(own & (slot_node == ix))
        ls = np.full(sizes[name], -1, dtype=np.int64)
        ls[slot_index[sel]] = slot_local[sel]
        kc = np.full(sizes[name], -1, dtype=np.int64)
        kc[slot_index[sel]] = core_key[slot_core[sel]]
        if name in input_k and sel.size == 0:  # streamed from the host
            kc[:] = n_inputs - 1 - input_k[name]
            ls = np.arange(sizes[name], dtype=np.int64)
        if np.any(ls < 0):
            raise ConfigError("internal: a neuron has no slot", node=name, hint="please report")
        local_slot[name] = ls
        key_of[name] = (kc << nb) | ls

    # ---- neuron parameters per slot (neurons cores only) and per lane
    pnames = [n for n in order if n in graph.population]
    slot_par = {k: np.zeros(slot_node.size, np.int64) for k in ("threshold", "v_reset", "leak", "gain", "beta")}
    L = int(lane_ptr[-1])
    lane_alpha = np.zeros(L, np.int64)
    lane_syn_gain = np.zeros(L, np.int64)
    lane_bias = np.zeros((L, D + 1), np.int64)
    is_neuron_slot = role[slot_core] == ROLE_CODES["neurons"]
    ramps: dict[tuple[str, int], np.ndarray] = {}
    for pr in graph.projections:
        r = _ramp(graph, pr, D)
        if r is not None:
            k = (pr.target, pr.port)
            ramps[k] = ramps[k] + r if k in ramps else r
    for name in pnames:
        pop = graph.population[name]
        nrn = pop.neuron
        sel = np.flatnonzero(is_neuron_slot & (slot_node == node_ix[name]))
        idx = slot_index[sel]
        for k in ("threshold", "v_reset", "leak", "gain"):
            slot_par[k][sel] = _as_int(np.broadcast_to(getattr(nrn, k), pop.shape).reshape(-1), k, name)[idx]
        slot_par["beta"][sel] = decay_q(np.broadcast_to(nrn.beta, pop.shape).reshape(-1), name)[idx]
        c_of = slot_core[sel]
        for p in range(nrn.ports):
            glane = lane_ptr[c_of] + p * n_slots[c_of] + slot_local[sel]
            if nrn.has_current:
                lane_alpha[glane] = decay_q(nrn.port_param("alpha", pop.shape, p).reshape(-1), name)[idx]
            lane_syn_gain[glane] = _as_int(nrn.port_param("syn_gain", pop.shape, p).reshape(-1), "syn_gain",
                                           name)[idx]
            if (name, p) in ramps:
                lane_bias[glane] = ramps[(name, p)][:, idx].T

    # ---- synapses: per projection, explicit entries or conv blocks, each assigned to the tree member holding
    # its input unit (docs/config.md "Which core holds a synapse")
    pairs_core: list[np.ndarray] = []  # (core, source key) of every axon
    pairs_key: list[np.ndarray] = []
    syn_parts: list[tuple[np.ndarray, ...]] = []  # (core, key, lane, weight, delay, proj)
    conv_specs: list[dict[str, Any]] = []
    blocks: list[tuple[int, int, int, tuple[int, ...], int, int, int]] = []  # core, proj, spec, box, lo, hi, lane0
    kernels: list[np.ndarray] = []  # per conv spec, its whole kernel (stored once; blocks name their slice)
    by_layer: dict[str, list[int]] = {}
    for c in cores:
        if c.role != "source":
            for ly in c.layers:
                by_layer.setdefault(ly, []).append(c.index)
    proj_names = [pr.name for pr in graph.projections]
    for pi, pr in enumerate(graph.projections):
        geo = classify(graph, pr)
        n_units = geo.n_units
        # tree members holding units of this projection: (root, u0, u1, member)
        members = []
        for ci in by_layer.get(pr.target, []):
            c = cores[ci]
            if not in_tree[ci]:
                members.append((ci, 0, n_units, ci))
            elif pr.name in c.inputs:
                u0, u1 = c.inputs[pr.name]
                if u1 > u0:
                    members.append((int(root[ci]), u0, u1, ci))
        conv = _conv_of(graph, pr)
        if conv is not None:
            cv, delay = conv
            w = _as_int(cv.weight, "conv weight", pr.name)
            spec = len(conv_specs)
            kh, kw = (cv.kernel + (1,))[:2]
            pad = lambda t, v: [int(x) for x in (tuple(t) + (v,))[:2]]  # noqa: E731  (1-D conv: W axis of size 1)
            conv_specs.append({"projection": pr.name, "source": pr.source, "target": pr.target,
                               "source_view": list(views[pr.source]), "target_view": list(views[pr.target]),
                               "kernel": [int(kh), int(kw)], "stride": pad(cv.stride, 1), "padding": pad(cv.padding, 0),
                               "dilation": pad(cv.dilation, 1), "groups": int(cv.groups),
                               "in_per_group": int(cv.weight.shape[1]),
                               "out_per_group": int(cv.weight.shape[0] // cv.groups),
                               "delay": delay, "port": pr.port})
            kernels.append(w.reshape(-1))
            for _root, u0, u1, mc in members:
                c = cores[mc]
                for bi, box in enumerate(c.boxes[pr.target]):
                    ca, cb = geo.conv_channels(box)
                    lo, hi = max(ca, u0), min(cb, u1)
                    if lo >= hi:
                        continue
                    src = geo.source_flat(box, lo, hi)
                    if src.size == 0:
                        continue
                    keys = key_of[pr.source][src]
                    pairs_core.append(np.full(keys.size, mc, np.int64))
                    pairs_key.append(keys)
                    lane0 = pr.port * int(n_slots[mc]) + box_slot0[(mc, pr.target, bi)]
                    blocks.append((mc, pi, spec, tuple(int(v) for v in box), lo, hi, lane0))
            continue
        parts, _ = projection_parts(graph, pr, True, D)
        hw = views[pr.source][1] * views[pr.source][2]
        n_tgt = sizes[pr.target]
        rs, cs, ws, ds = [], [], [], []
        for r, col, wv, dv in parts:
            keep = wv != 0
            rs.append(r[keep].astype(np.int64))
            cs.append(col[keep].astype(np.int64))
            ws.append(_as_int(wv[keep], "synaptic weight", pr.name))
            ds.append(np.full(int(keep.sum()), dv, np.int64))
        # structural synapses whose weight is 0 stay as zero-weight entries: the partition counted them and the
        # routes deliver their sources, so the axon tables list them too
        st_ = graph.projection_csr(pr, structure=True).tocoo()
        sr, sc = st_.row.astype(np.int64), st_.col.astype(np.int64)
        have = np.concatenate([r * n_tgt + col for r, col in zip(rs, cs)]) if rs else np.zeros(0, np.int64)
        miss = ~np.isin(sr * n_tgt + sc, have)
        rs.append(sr[miss])
        cs.append(sc[miss])
        ws.append(np.zeros(int(miss.sum()), np.int64))
        ds.append(np.full(int(miss.sum()), pr.min_delay, np.int64))
        r, col, wv, dv = (np.concatenate(a) for a in (rs, cs, ws, ds))
        if not members:
            if r.size:
                raise ConfigError("internal: a projection has synapses but no core holds its target",
                                  node=pr.name, hint="please report")
            continue
        mem = np.array(members, dtype=np.int64)
        mem = mem[np.lexsort((mem[:, 1], mem[:, 0]))]
        start = mem[:, 0] * (n_units + 1) + mem[:, 1]
        unit = r // hw if geo.kind in ("conv", "elementwise") and not geo.fine else r
        rt = part.neuron_core[pr.target].astype(np.int64)[col]
        j = np.searchsorted(start, rt * (n_units + 1) + unit, side="right") - 1
        ok = (j >= 0) & (mem[np.maximum(j, 0), 0] == rt) & (unit < mem[np.maximum(j, 0), 2])
        if not np.all(ok):
            raise ConfigError("internal: a synapse's input unit is on no core of its target's tree",
                              node=pr.name, hint="please report")
        mc = mem[j, 3]
        keys = key_of[pr.source][r]
        lane = pr.port * n_slots[mc] + local_slot[pr.target][col]
        syn_parts.append((mc, keys, lane, wv, dv, np.full(r.size, pi, np.int64)))
        pairs_core.append(mc)
        pairs_key.append(keys)
    # partial sums: a partial-sum core sends one value per lane to its merge core, stored there as unit weights
    for c in cores:
        if c.role == "partial_sum":
            m = int(c.merge_into)
            if n_lanes[c.index] != n_lanes[m]:
                raise ConfigError("internal: a partial-sum core and its merge core hold different neurons",
                                  node=f"core {c.index}", hint="please report")
            lanes = np.arange(n_lanes[c.index], dtype=np.int64)
            keys = (core_key[c.index] << nb) | lanes
            n = lanes.size
            syn_parts.append((np.full(n, m, np.int64), keys, lanes, np.ones(n, np.int64), np.zeros(n, np.int64),
                              np.full(n, PARTIAL_SUM, np.int64)))
            pairs_core.append(np.full(n, m, np.int64))
            pairs_key.append(keys)

    # ---- axon tables: the distinct source keys of each core, sorted
    z = np.zeros(0, np.int64)
    pc = np.concatenate(pairs_core) if pairs_core else z
    pk = np.concatenate(pairs_key) if pairs_key else z
    packed = np.sort((pc << key_bits) | pk)  # sort + adjacent difference (np.unique hashes, slower here)
    packed = packed[np.concatenate([[True], packed[1:] != packed[:-1]])] if packed.size else packed
    axon_core = packed >> key_bits
    axon_key = packed & ((1 << key_bits) - 1)
    axon_ptr = np.searchsorted(axon_core, np.arange(C + 1)).astype(np.int64)
    # ---- explicit synapse entries, sorted by (core, axon, lane, delay)
    cat = [np.concatenate([p[i] for p in syn_parts]) if syn_parts else z for i in range(6)]
    s_core, s_key, s_lane, s_w, s_d, s_proj = cat
    s_axon = np.searchsorted(packed, (s_core << key_bits) | s_key) - axon_ptr[s_core]
    o = np.lexsort((s_proj, s_d, s_lane, s_axon, s_core))
    s_core, s_axon, s_lane, s_w, s_d, s_proj = (a[o] for a in (s_core, s_axon, s_lane, s_w, s_d, s_proj))
    syn_ptr = np.searchsorted(s_core, np.arange(C + 1)).astype(np.int64)
    kcat = np.concatenate(kernels) if kernels else z
    wmin = int(min(s_w.min(initial=0), kcat.min(initial=0)))
    wmax = int(max(s_w.max(initial=0), kcat.max(initial=0)))
    wdt = _int_dtype(wmin, wmax)
    wlo, whi = -(1 << (target.core.weight_bits - 1)), (1 << (target.core.weight_bits - 1)) - 1
    warnings = []
    for p_ in np.unique(s_proj[(s_w < wlo) | (s_w > whi)]):
        sel_ = s_proj == p_
        warnings.append(f"{proj_names[int(p_)]}: the chain's composed weights span [{int(s_w[sel_].min())}, "
                        f"{int(s_w[sel_].max())}], outside the signed {target.core.weight_bits}-bit range (the ops "
                        "multiply into one synapse matrix; spikemesh verify reports it)")
    bk = np.array([b[0] for b in blocks], np.int32)
    wptr = np.concatenate([[0], np.cumsum([k.size for k in kernels])]).astype(np.int64)
    kern_entries = 0  # weights the blocks' kernel slices hold (what shared-kernel cores store)
    for _c, _p, spec, box, lo, hi, _l in blocks:
        sp_ = conv_specs[spec]
        taps = sp_["kernel"][0] * sp_["kernel"][1]
        if sp_["groups"] == 1:
            kern_entries += (box[1] - box[0]) * (hi - lo) * taps
        else:
            gi = np.arange(box[0], box[1]) // sp_["out_per_group"]
            n = np.minimum(hi, (gi + 1) * sp_["in_per_group"]) - np.maximum(lo, gi * sp_["in_per_group"])
            kern_entries += int(np.maximum(n, 0).sum()) * taps

    # ---- routing tables (neuron-key space) and inter-chip links
    routes = program.routes
    rrouters, rptr, rbase, rsize, rports = table_entries(routes, coords, target, n_inputs)
    full = (1 << key_bits) - 1
    rt_key = rbase << nb
    rt_mask = full & ~((rsize << nb) - 1)
    links = interchip_links(routes, target)
    from spikemesh.routing.trees import as_flat

    routed = set(as_flat(routes).sources.tolist())  # cores (and host inputs -1 - k) whose packets enter the NoC
    sends = np.array([c in routed for c in range(C)], dtype=bool)

    sdt = np.int32  # neuron parameters and biases: state widths up to 32 bits (docs/config.md)
    arrays: dict[str, np.ndarray] = {
        "core_coords": coords, "core_role": role, "core_merge": merge, "core_key": core_key,
        "core_ports": ports.astype(np.int8), "core_sends": sends,
        "slot_ptr": slot_ptr, "slot_node": slot_node, "slot_index": slot_index,
        **{f"slot_{k}": v.astype(sdt) for k, v in slot_par.items()},
        "lane_ptr": lane_ptr, "lane_alpha": lane_alpha.astype(np.int32), "lane_syn_gain": lane_syn_gain.astype(sdt),
        "lane_bias": lane_bias.astype(sdt),
        "axon_ptr": axon_ptr, "axon_key": axon_key,
        "syn_ptr": syn_ptr, "syn_axon": s_axon.astype(np.int32), "syn_lane": s_lane.astype(np.int32),
        "syn_weight": s_w.astype(wdt), "syn_delay": s_d.astype(np.int16), "syn_proj": s_proj.astype(np.int16),
        "conv_core": bk, "conv_proj": np.array([b[1] for b in blocks], np.int16),
        "conv_spec": np.array([b[2] for b in blocks], np.int16),
        "conv_box": np.array([b[3] for b in blocks], np.int32).reshape(-1, 6),
        "conv_cin": np.array([(b[4], b[5]) for b in blocks], np.int32).reshape(-1, 2),
        "conv_lane0": np.array([b[6] for b in blocks], np.int32), "conv_wptr": wptr,
        "conv_weight": kcat.astype(wdt),
        "rt_router": rrouters, "rt_ptr": rptr, "rt_key": rt_key, "rt_mask": rt_mask, "rt_ports": rports,
        "link_interchip": links,
    }
    lim = limits_for(target)
    shared = lim.shared_kernels
    inputs = []
    for k, inp in enumerate(graph.inputs):
        src_cores = [c.index for c in cores if c.role == "source" and c.layers[0] == inp.name]
        if src_cores:
            inputs.append({"name": inp.name, "shape": list(inp.shape), "entry": "source_cores", "cores": src_cores})
        else:
            inputs.append({"name": inp.name, "shape": list(inp.shape), "entry": "host", "core_key": n_inputs - 1 - k,
                           "router": [0, 0], "sends": (-1 - k) in routed})
    header: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "target": {"name": target.name, "chips": [target.chips_x, target.chips_y],
                   "cores_per_chip": [target.cores_x, target.cores_y],
                   "limits": {"neurons": lim.neurons, "axons": lim.axons, "synapse_bits": lim.synapse_bits,
                              "weight_bits": lim.weight_bits, "state_bits": target.core.state_bits,
                              "table_entries": target.noc.table_entries, "kernel_entries": lim.kernel_entries},
                   "shared_kernels": shared, "forwarding": target.noc.forwarding},
        "keys": {"neuron_bits": nb, "key_bits": key_bits, "n_inputs": n_inputs},
        "decay_shift": DECAY_SHIFT, "max_delay": D,
        "nodes": _node_table(graph, order), "projections": proj_names, "conv_specs": conv_specs,
        "inputs": inputs, "outputs": {o.name: o.source for o in graph.outputs}, "warnings": warnings,
        "counts": {"cores": C, "slots": int(slot_ptr[-1]), "lanes": L, "axons": int(axon_ptr[-1]),
                   "synapse_entries": int(syn_ptr[-1]), "conv_blocks": len(blocks), "kernel_entries": kern_entries,
                   "conv_weights": int(wptr[-1]),
                   "routers": int(rrouters.shape[0]), "table_entries": int(rptr[-1]),
                   "interchip_links": int(links.shape[0])},
    }
    return MeshConfig(header, arrays)


def config_stage(program: Any, options: Any) -> Any:
    """The ``config`` compile stage of the mesh family: emit the configuration of a placed, routed, integer Program
    (a float model, built with quantize=False, gets none: report ``config.skipped`` says why)."""
    if program.placement is None or program.routes is None:
        return program
    if not program.graph.is_quantized:
        return program.with_report(config={"skipped": "float model (compile with quantize=True for a configuration)"})
    cfg = emit_config(program)
    return program.with_section("config", cfg).with_report(
        config={"format_version": FORMAT_VERSION, **cfg.header["counts"], "warnings": cfg.header["warnings"]})
