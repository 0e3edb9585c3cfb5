"""Emission of the mesh configuration (``MeshConfig``, docs/config.md) from a placed, routed, integer Program, and
the ``config`` compile stage of the mesh family that runs it.

Emission is proportional: NumPy over whole arrays, Python loops only over cores, blocks and projections, never over
synapses of conv projections (ResNet-18 has 4.8e8 synapses; conv kernels are stored once per projection and each
conv block names its slice and geometry, see docs/config.md "Cost of an unfolded image").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from spikemesh.backends.mesh.config import FORMAT, FORMAT_VERSION, PARTIAL_SUM, ROLE_CODES, ConfigError, MeshConfig
from spikemesh.backends.mesh.emit_parts import as_int, bias_ramp, conv_of, int_dtype, node_table
from spikemesh.backends.mesh.routing_config import interchip_links, table_entries
from spikemesh.ir.neurons import DECAY_SHIFT
from spikemesh.ir.reference import decay_q


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
        r = bias_ramp(graph, pr, D)
        if r is not None:
            k = (pr.target, pr.port)
            ramps[k] = ramps[k] + r if k in ramps else r
    for name in pnames:
        pop = graph.population[name]
        nrn = pop.neuron
        sel = np.flatnonzero(is_neuron_slot & (slot_node == node_ix[name]))
        idx = slot_index[sel]
        for k in ("threshold", "v_reset", "leak", "gain"):
            slot_par[k][sel] = as_int(np.broadcast_to(getattr(nrn, k), pop.shape).reshape(-1), k, name)[idx]
        slot_par["beta"][sel] = decay_q(np.broadcast_to(nrn.beta, pop.shape).reshape(-1), name)[idx]
        c_of = slot_core[sel]
        for p in range(nrn.ports):
            glane = lane_ptr[c_of] + p * n_slots[c_of] + slot_local[sel]
            if nrn.has_current:
                lane_alpha[glane] = decay_q(nrn.port_param("alpha", pop.shape, p).reshape(-1), name)[idx]
            lane_syn_gain[glane] = as_int(nrn.port_param("syn_gain", pop.shape, p).reshape(-1), "syn_gain",
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
        conv = conv_of(graph, pr)
        if conv is not None:
            cv, delay = conv
            w = as_int(cv.weight, "conv weight", pr.name)
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
        n_tgt = sizes[pr.target]
        rs, cs, ws, ds = [], [], [], []
        for r, col, wv, dv in parts:
            keep = wv != 0
            rs.append(r[keep].astype(np.int64))
            cs.append(col[keep].astype(np.int64))
            ws.append(as_int(wv[keep], "synaptic weight", pr.name))
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
        unit = geo.unit_of(r)
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
    wdt = int_dtype(wmin, wmax)
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
        "nodes": node_table(graph, order), "projections": proj_names, "conv_specs": conv_specs,
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
