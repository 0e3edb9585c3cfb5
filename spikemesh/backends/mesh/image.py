"""Reading a mesh configuration back (docs/config.md): the routing key of every sender, the synapse memory image of
each core (explicit entries plus unfolded conv blocks), and the walk of a routing key through the routers' tables.
Everything here reads the configuration alone; the verifier (verify.py) and the config-driven engine (engine.py)
share it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spikemesh.backends.mesh.config import PORT_BITS, ROLE_CODES, MeshConfig

#: (dx, dy) of the link ports, in PORT_BITS order E, W, N, S (N = +y)
PORT_STEP = ((PORT_BITS["E"], 1, 0), (PORT_BITS["W"], -1, 0), (PORT_BITS["N"], 0, 1), (PORT_BITS["S"], 0, -1))
DIR_NAMES = {PORT_BITS["E"]: 0, PORT_BITS["W"]: 1, PORT_BITS["N"]: 2, PORT_BITS["S"]: 3}


def slot_core(cfg: MeshConfig) -> np.ndarray:
    """int64 [S]: the core of every slot."""
    ptr = cfg["slot_ptr"]
    return np.repeat(np.arange(ptr.size - 1), np.diff(ptr))


def node_keys(cfg: MeshConfig) -> list[np.ndarray]:
    """Per node (header ``nodes`` order) the routing key of each of its elements (int64, -1 where no core holds it):
    the slot's key on its ``neurons`` / ``source`` core, or the host key of a streamed input element."""
    nb = cfg.neuron_bits
    nodes = cfg.header["nodes"]
    sc = slot_core(cfg)
    local = np.arange(sc.size) - cfg["slot_ptr"][sc]
    role = cfg["core_role"][sc]
    own = (role == ROLE_CODES["neurons"]) | (role == ROLE_CODES["source"])
    key = (cfg["core_key"][sc] << nb) | local
    out = []
    for i, nd in enumerate(nodes):
        size = int(np.prod(nd["shape"]))
        k = np.full(size, -1, dtype=np.int64)
        sel = own & (cfg["slot_node"] == i)
        idx = cfg["slot_index"][sel].astype(np.int64)
        ok = (idx >= 0) & (idx < size)
        k[idx[ok]] = key[sel][ok]
        out.append(k)
    for inp in cfg.header["inputs"]:
        if inp["entry"] == "host":
            i = next(j for j, nd in enumerate(nodes) if nd["name"] == inp["name"])
            out[i] = (np.int64(inp["core_key"]) << nb) | np.arange(out[i].size, dtype=np.int64)
    return out


@dataclass
class Entries:
    """Synapse entries of a set of cores: per entry its core, axon slot, lane, weight, delay (steps) and projection
    index (-1: a partial sum's unit weight)."""

    core: np.ndarray
    axon: np.ndarray
    lane: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    proj: np.ndarray
    problems: list[str] = field(default_factory=list)
    #: per unfolded conv block: (core, valid taps) — taps whose key is missing from the axon table included
    block_taps: list[tuple[int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.core.size)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def unfold_block(cfg: MeshConfig, b: int, keys: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Conv block ``b`` as explicit entries: (source key, lane, weight, delay) of every valid tap."""
    spec = cfg.header["conv_specs"][int(cfg["conv_spec"][b])]
    names = [nd["name"] for nd in cfg.header["nodes"]]
    src_keys = keys[names.index(spec["source"])]
    _, H, W = spec["source_view"]
    kh, kw = spec["kernel"]
    (sy, sx), (py, px), (dy, dx) = spec["stride"], spec["padding"], spec["dilation"]
    cin_g, cout_g = spec["in_per_group"], spec["out_per_group"]
    c0, c1, y0, y1, x0, x1 = (int(v) for v in cfg["conv_box"][b])
    lo, hi = (int(v) for v in cfg["conv_cin"][b])
    s = int(cfg["conv_spec"][b])
    kern = cfg["conv_weight"][cfg["conv_wptr"][s]:cfg["conv_wptr"][s + 1]].astype(np.int64)
    kern = kern.reshape(-1, cin_g, kh, kw)
    co = np.arange(c0, c1)[:, None, None, None, None, None]
    ci = np.arange(lo, hi)[None, :, None, None, None, None]
    y = np.arange(y0, y1)[None, None, :, None, None, None]
    ky = np.arange(kh)[None, None, None, :, None, None]
    x = np.arange(x0, x1)[None, None, None, None, :, None]
    kx = np.arange(kw)[None, None, None, None, None, :]
    iy = y * sy - py + ky * dy
    ix = x * sx - px + kx * dx
    ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W) & (ci // cin_g == co // cout_g)
    shape = np.broadcast_shapes(co.shape, ci.shape, iy.shape, ix.shape)
    ok = np.broadcast_to(ok, shape)

    def pick(a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, shape)[ok]

    src = pick((ci * H + iy) * W + ix)
    lane = int(cfg["conv_lane0"][b]) + pick(((co - c0) * (y1 - y0) + (y - y0)) * (x1 - x0) + (x - x0))
    w = kern[pick(co), pick(ci - (co // cout_g) * cin_g), pick(ky), pick(kx)]
    return src_keys[src], lane, w, np.full(src.size, int(spec["delay"]), dtype=np.int64)


def entries(cfg: MeshConfig, cores: np.ndarray | None = None, keys: list[np.ndarray] | None = None,
            blocks: np.ndarray | None = None, explicit: bool = True) -> Entries:
    """Every synapse entry of ``cores`` (all cores by default): the explicit ones (unless ``explicit`` is False) and
    the unfolded conv blocks of those cores (or the blocks ``blocks``); an unfolded tap whose source key is in no
    axon slot of its core is reported in ``problems``. Unfolding holds every tap in memory: pass ``blocks`` in
    groups on large configurations."""
    keys = node_keys(cfg) if keys is None else keys
    sp = cfg["syn_ptr"]
    C = cfg.n_cores
    sel = np.ones(C, bool) if cores is None else np.isin(np.arange(C), cores)
    per = np.diff(sp)
    e_core = np.repeat(np.arange(C), per)
    m = sel[e_core] & explicit
    parts = {"core": [e_core[m]], "axon": [cfg["syn_axon"][m]], "lane": [cfg["syn_lane"][m]],
             "weight": [cfg["syn_weight"][m]], "delay": [cfg["syn_delay"][m]], "proj": [cfg["syn_proj"][m]]}
    problems: list[str] = []
    taps: list[tuple[int, int]] = []
    ap, ak = cfg["axon_ptr"], cfg["axon_key"]
    if blocks is None:
        blocks = np.flatnonzero(sel[cfg["conv_core"]]) if cfg["conv_core"].size else np.zeros(0, np.int64)
    for b in blocks:
        c = int(cfg["conv_core"][b])
        k, lane, w, d = unfold_block(cfg, int(b), keys)
        taps.append((c, int(k.size)))
        table = ak[ap[c]:ap[c + 1]]
        pos = np.searchsorted(table, k)
        found = (pos < table.size) & (table[np.minimum(pos, max(table.size - 1, 0))] == k) if table.size else \
            np.zeros(k.size, bool)
        if not np.all(found):
            problems.append(f"core {c}: conv block {int(b)} reads {int((~found).sum())} source keys its axon table "
                            f"does not hold (first key {int(k[~found][0])})")
        parts["core"].append(np.full(int(found.sum()), c))
        parts["axon"].append(pos[found])
        parts["lane"].append(lane[found])
        parts["weight"].append(w[found])
        parts["delay"].append(d[found])
        parts["proj"].append(np.full(int(found.sum()), int(cfg["conv_proj"][b])))
    return Entries(**{k: _cat(v) for k, v in parts.items()}, problems=problems, block_taps=taps)


# ------------------------------------------------------------------------------------------ routing walk
class Router:
    """The routers' tables for lookups: ``match(router, key)`` = output bits of the first entry of that router with
    ``key & mask == entry key`` (table order), None when no entry matches."""

    def __init__(self, cfg: MeshConfig) -> None:
        self.cfg = cfg
        rr = cfg["rt_router"].reshape(-1, 2)
        self.index = {(int(x), int(y)): i for i, (x, y) in enumerate(rr)}
        self.ptr, self.key, self.mask, self.ports = cfg["rt_ptr"], cfg["rt_key"], cfg["rt_mask"], cfg["rt_ports"]
        t = cfg.header["target"]
        self.cx, self.cy = t["cores_per_chip"]
        self.width = self.cx * t["chips"][0]
        self.height = self.cy * t["chips"][1]
        co = cfg["core_coords"].reshape(-1, 4).astype(np.int64)
        gx, gy = co[:, 0] * self.cx + co[:, 2], co[:, 1] * self.cy + co[:, 3]
        self.core_at: dict[tuple[int, int], int] = {}
        for c, (x, y) in enumerate(zip(gx.tolist(), gy.tolist())):
            self.core_at.setdefault((x, y), c)
        self.core_xy = list(zip(gx.tolist(), gy.tolist()))

    def match(self, router: tuple[int, int], key: int) -> int | None:
        i = self.index.get(router)
        if i is None:
            return None
        a, b = int(self.ptr[i]), int(self.ptr[i + 1])
        hit = np.flatnonzero((key & self.mask[a:b]) == self.key[a:b])
        return int(self.ports[a + hit[0]]) if hit.size else None

    def walk(self, key: int, start: tuple[int, int]) -> tuple[set[int], list[tuple[int, ...]], list[str]]:
        """Follow ``key`` from router ``start``: (cores reached through a local port, links used as (gx, gy, dir),
        problems: no entry, a loop or a router reached twice, a port leading off the mesh, local delivery at a
        router without a core)."""
        reached: set[int] = set()
        links: list[tuple[int, ...]] = []
        problems: list[str] = []
        seen = {start}
        todo = [start]
        while todo:
            r = todo.pop()
            bits = self.match(r, key)
            if bits is None:
                if r != start:  # a sender without a route (no listener elsewhere) has no entry at its own router
                    problems.append(f"no table entry at router {r}")
                continue
            if bits & PORT_BITS["local"]:
                c = self.core_at.get(r)
                if c is None:
                    problems.append(f"local port at router {r}, which holds no core")
                else:
                    reached.add(c)
            for bit, dx, dy in PORT_STEP:
                if not bits & bit:
                    continue
                nxt = (r[0] + dx, r[1] + dy)
                if not (0 <= nxt[0] < self.width and 0 <= nxt[1] < self.height):
                    problems.append(f"port {DIR_NAMES[bit]} of router {r} leads off the mesh")
                    continue
                links.append((r[0], r[1], DIR_NAMES[bit]))
                if nxt in seen:
                    problems.append(f"router {nxt} reached twice (loop)")
                    continue
                seen.add(nxt)
                todo.append(nxt)
        return reached, links, problems


def senders(cfg: MeshConfig) -> list[tuple[int, tuple[int, int], int, bool]]:
    """Every core key with something to send, its start router, its source core (-1 for the host) and whether it
    injects packets into the NoC (``core_sends``; a core without a route keeps its spikes to itself): ``neurons``,
    ``source`` and ``partial_sum`` cores with slots, host inputs (entry router in the header)."""
    t = cfg.header["target"]
    cx, cy = t["cores_per_chip"]
    co = cfg["core_coords"].reshape(-1, 4).astype(np.int64)
    out = []
    n_slots = np.diff(cfg["slot_ptr"])
    for c in range(cfg.n_cores):
        if n_slots[c] > 0:
            out.append((int(cfg["core_key"][c]), (int(co[c, 0] * cx + co[c, 2]), int(co[c, 1] * cy + co[c, 3])), c,
                        bool(cfg["core_sends"][c])))
    for inp in cfg.header["inputs"]:
        if inp["entry"] == "host":
            out.append((int(inp["core_key"]), (int(inp["router"][0]), int(inp["router"][1])), -1,
                        bool(inp.get("sends", True))))
    return out


def deliveries(cfg: MeshConfig, router: Router | None = None
               ) -> tuple[dict[int, set[int]], dict[int, list[str]], set[tuple[int, ...]]]:
    """Per sending core key: the cores its packets reach (through the tables, plus its own core: a core's own
    spikes loop back internally), the problems of its walk, and every link used (gx, gy, dir)."""
    router = Router(cfg) if router is None else router
    nb = cfg.neuron_bits
    reach: dict[int, set[int]] = {}
    probs: dict[int, list[str]] = {}
    used: set[tuple[int, ...]] = set()
    for key, start, core, sends in senders(cfg):
        got, links, problems = router.walk(key << nb, start) if sends else (set(), [], [])
        if core >= 0:
            got = got | {core}
        reach[key] = got
        probs[key] = problems
        used.update(links)
    return reach, probs, used
