"""Crossbar tiles as partition cores: one array group = one logical core.

An *array group* is the set of ``slices`` arrays that hold one (row tile x column tile) block of one projection's
weight matrix (one conv group): they share the word lines (rows = the core's axons, ``cfg.rows``), and their
columns, shift-added over the bit slices, give the block's ``weight_cols`` neuron columns (the core's neurons).
``crossbar_partition`` turns ``tiling.map_graph`` into the ``partition`` Program section, so the ordinary
``place`` and ``route`` stages (spikemesh.placement) place and route crossbar chips like any mesh.

Roles (the partition contract, spikemesh.partition.artifact):
- the row-tile-0 group of each column tile of a population's first crossbar projection holds those neurons'
  digital state (role "neurons": the neuron periphery of that tile);
- the other row tiles, and every tile of further projections into the same population, are "partial_sum" cores:
  each step they send one partial sum per neuron they cover to the neuron core (the digital add before the neuron);
- a population fed only by digital projections (no Dense / Sparse / Conv) gets digital neuron cores of
  ``weight_cols`` neurons each.

Traffic (copies per step, rates as spikemesh.partition.traffic): a source neuron's spike goes once to every
distinct group whose rows it drives (dense: row = its input index; conv via im2col: every row tile holding its
input channel, all column tiles of its conv group); partial sums add one copy per covered neuron. When the ops
before (after) the crossbar op change the element count, neurons are assigned to rows (columns) by their
relative flat position — a stated approximation for traffic only; execution does not depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.backends.crossbar.target import CrossbarConfig, crossbar_config
from spikemesh.backends.crossbar.tiling import MappedLayer, map_graph
from spikemesh.ir.graph import Graph, Projection
from spikemesh.partition.artifact import LogicalCore, Partition
from spikemesh.partition.traffic import TrafficBuilder, neuron_rates
from spikemesh.target.model import Target


@dataclass(frozen=True)
class Tile:
    """One array group = one logical core. ``rows`` / ``cols``: [start, stop) of the group's block in the
    matrix (weight rows = inputs, columns = outputs of conv group ``group``); ``arrays`` = bit slices."""

    core: int
    projection: str
    group: int
    row_tile: int
    col_tile: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    arrays: int

    def to_dict(self) -> dict[str, Any]:
        return {"core": self.core, "projection": self.projection, "group": self.group, "row_tile": self.row_tile,
                "col_tile": self.col_tile, "rows": list(self.rows), "cols": list(self.cols), "arrays": self.arrays}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Tile:
        return Tile(int(d["core"]), str(d["projection"]), int(d["group"]), int(d["row_tile"]), int(d["col_tile"]),
                    (int(d["rows"][0]), int(d["rows"][1])), (int(d["cols"][0]), int(d["cols"][1])),
                    int(d["arrays"]))


def tiles_of(layers: dict[str, MappedLayer], cfg: CrossbarConfig, graph: Graph, start: int = 0) -> list[Tile]:
    """Every array group of ``layers`` in graph projection order, numbered from ``start``."""
    out: list[Tile] = []
    for proj in graph.projections:
        layer = layers.get(proj.name)
        if layer is None:
            continue
        for gi, m in enumerate(layer.matrices):
            for r in range(layer.row_tiles):
                for c in range(layer.col_tiles):
                    rows = (r * cfg.rows, min(m.rows, (r + 1) * cfg.rows))
                    cols = (c * cfg.weight_cols, min(m.cols, (c + 1) * cfg.weight_cols))
                    out.append(Tile(start + len(out), proj.name, gi, r, c, rows, cols, m.slices))
    return out


def _col_of_neuron(graph: Graph, proj: Projection, layer: MappedLayer) -> tuple[np.ndarray, np.ndarray]:
    """(conv group, matrix column) of each target-population neuron of ``proj`` (flat C order)."""
    shapes = graph.chain_shapes(proj)
    out_shape = shapes[layer.op_index + 1]
    n_out = math.prod(out_shape)
    size = math.prod(shapes[-1])
    e = np.arange(size, dtype=np.int64)
    if n_out != size:
        e = e * n_out // size
    if layer.kind == "conv":
        pos = math.prod(out_shape[1:])
        ch = e // pos
        cout_g = layer.matrices[0].cols
        return ch // cout_g, ch % cout_g
    return np.zeros(size, dtype=np.int64), e


def _rows_of_source(graph: Graph, proj: Projection, layer: MappedLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(conv group, first matrix row, last matrix row) of each source element of ``proj``."""
    shapes = graph.chain_shapes(proj)
    src, inp = shapes[0], shapes[layer.op_index]
    n_src = math.prod(src)
    s = np.arange(n_src, dtype=np.int64)
    if layer.kind == "conv":
        c_in = inp[0]
        if len(src) == len(inp) and src[0] == c_in:
            ch = s // math.prod(src[1:])
        else:
            ch = s * c_in // n_src
        g = len(layer.matrices)
        cin_g = c_in // g
        kk = layer.matrices[0].rows // cin_g
        lo = (ch % cin_g) * kk
        return ch // cin_g, lo, lo + kk - 1
    n_in = math.prod(inp)
    row = s if n_in == n_src else s * n_in // n_src
    return np.zeros(n_src, dtype=np.int64), row, row


def primary_projections(graph: Graph, layers: dict[str, MappedLayer]) -> dict[str, str]:
    """Population -> its first incoming crossbar projection (whose row-tile-0 groups hold its neurons)."""
    primary: dict[str, str] = {}
    for name in graph.population:
        inc = [p.name for p in graph.incoming(name) if p.name in layers]
        if inc:
            primary[name] = inc[0]
    return primary


def population_cores(graph: Graph, cfg: CrossbarConfig, layers: dict[str, MappedLayer], tiles: list[Tile]
                     ) -> tuple[dict[str, np.ndarray], list[tuple[str, int, int]]]:
    """(core of every neuron per population, digital cores as (population, start, stop)): a neuron lives on the
    row-tile-0 group of its column tile of the population's primary projection; a population fed only by digital
    projections gets cores of ``weight_cols`` neurons numbered after the tiles (module docstring)."""
    by_key = {(t.projection, t.group, t.row_tile, t.col_tile): t for t in tiles}
    primary = primary_projections(graph, layers)
    neuron_core: dict[str, np.ndarray] = {}
    digital: list[tuple[str, int, int]] = []
    next_core = len(tiles)
    for name, pop in graph.population.items():
        if name in primary:
            proj = next(p for p in graph.incoming(name) if p.name == primary[name])
            g, col = _col_of_neuron(graph, proj, layers[proj.name])
            ct = col // cfg.weight_cols
            lay = layers[proj.name]
            table = np.array([[by_key[(proj.name, a, 0, b)].core for b in range(lay.col_tiles)]
                              for a in range(len(lay.matrices))], dtype=np.int32)
            neuron_core[name] = table[g, ct] if len(g) else np.zeros(0, np.int32)
        else:  # digital-only population: cores of weight_cols neurons
            n = pop.size
            ids = np.empty(n, dtype=np.int32)
            for k, a in enumerate(range(0, n, cfg.weight_cols)):
                b = min(n, a + cfg.weight_cols)
                ids[a:b] = next_core + k
                digital.append((name, a, b))
            next_core += -(-n // cfg.weight_cols)
            neuron_core[name] = ids
    return neuron_core, digital


def crossbar_partition(graph: Graph, target: Target, cfg: CrossbarConfig | None = None,
                       rates: dict[str, Any] | None = None, sample_input: Any = None) -> Partition:
    """The ``partition`` section of a crossbar target: one LogicalCore per array group (module docstring)."""
    cfg = cfg or crossbar_config(target)
    layers = map_graph(graph, cfg)
    tiles = tiles_of(layers, cfg, graph)
    pops = graph.population
    primary = primary_projections(graph, layers)
    neuron_core, digital = population_cores(graph, cfg, layers, tiles)
    rate = neuron_rates(graph, rates, sample_input)
    input_index = {i.name: k for k, i in enumerate(graph.inputs)}

    def src_cores(node: str) -> np.ndarray:
        if node in input_index:
            return np.full(int(math.prod(graph.shape_of(node))), -1 - input_index[node], dtype=np.int64)
        return neuron_core[node].astype(np.int64)

    traffic = TrafficBuilder()
    cores: list[LogicalCore] = []
    projs = {p.name: p for p in graph.projections}
    cols_of = {name: _col_of_neuron(graph, projs[name], lay) for name, lay in layers.items()}
    rows_of = {name: _rows_of_source(graph, projs[name], lay) for name, lay in layers.items()}
    for t in tiles:
        proj = projs[t.projection]
        layer = layers[t.projection]
        target_pop = proj.target
        g, col = cols_of[t.projection]
        covered = np.nonzero((g == t.group) & (col >= t.cols[0]) & (col < t.cols[1]))[0]
        holders = neuron_core[target_pop][covered]
        is_holder = primary.get(target_pop) == t.projection and t.row_tile == 0
        role = "neurons" if is_holder else "partial_sum"
        merge = None
        if not is_holder and len(covered):
            merge = int(holders[0])
            dst, cnt = np.unique(holders, return_counts=True)
            for d, n in zip(dst, cnt):
                traffic.add(np.array([t.core]), int(d), np.array([float(n)]))
        # spikes into this group's rows
        sg, lo, hi = rows_of[t.projection]
        feed = np.nonzero((sg == t.group) & (hi >= t.rows[0]) & (lo < t.rows[1]))[0]
        if len(feed):
            traffic.add(src_cores(proj.source)[feed], t.core, rate[proj.source][feed])
        nrows, ncols = t.rows[1] - t.rows[0], t.cols[1] - t.cols[0]
        use = {"neurons": ncols, "axons": nrows, "synapse_bits": nrows * ncols * cfg.weight_bits,
               "synapses": int(np.count_nonzero(layer.matrices[t.group].weight[t.rows[0]:t.rows[1],
                                                                                 t.cols[0]:t.cols[1]])),
               "arrays": t.arrays, "neuron_states": int(len(covered)) if is_holder else 0}
        nrn = {}
        if is_holder and len(covered):
            nrn = {target_pop: (int(covered.min()), int(covered.max()) + 1)}
        cores.append(LogicalCore(index=t.core, group=t.core, layers=(target_pop,), role=role, merge_into=merge,
                                 neurons=nrn, use=use, inputs={proj.name: t.rows}))
    for k, (name, a, b) in enumerate(digital):
        idx = len(tiles) + k
        cores.append(LogicalCore(index=idx, group=idx, layers=(name,), role="neurons", neurons={name: (a, b)},
                                 use={"neurons": b - a, "axons": 0, "synapse_bits": 0, "synapses": 0, "arrays": 0,
                                      "neuron_states": b - a}))
    # digital projections (no array): spikes go straight to the target's neuron cores
    for proj in graph.projections:
        if proj.name in layers:
            continue
        n_src = int(math.prod(graph.shape_of(proj.source)))
        n_dst = pops[proj.target].size
        s = np.arange(n_src)
        dst = neuron_core[proj.target][s * n_dst // n_src] if n_dst else np.zeros(0, np.int32)
        for d in np.unique(dst):
            sel = dst == d
            traffic.add(src_cores(proj.source)[sel], int(d), rate[proj.source][sel])
    report = {"strategy": "crossbar_tiles", "cores": len(cores), "tiles": len(tiles), "digital_cores": len(digital),
              "arrays": int(sum(t.arrays for t in tiles)),
              "partial_sum_cores": int(sum(c.role == "partial_sum" for c in cores)),
              "limits": {"neurons": cfg.weight_cols, "axons": cfg.rows,
                         "synapse_bits": cfg.rows * cfg.weight_cols * cfg.weight_bits}}
    return Partition(cores=tuple(cores), neuron_core=neuron_core, traffic=traffic.matrix(), strategy="crossbar_tiles",
                     report=report)
