"""The crossbar chip configuration: the ``config`` Program section of a crossbar target (``CrossbarProgram``).

``crossbar_program`` builds it after the tile partition (tiles.py) has been placed: the array parameters, every
array group (tile) with its router coordinates, and the cell levels programmed into each weight matrix (the bit
slices and the differential or offset scheme of ``tiling.encode``; ``decode`` inverts it). The ``crossbar``
engine programs its arrays from these levels; ``export`` writes ``crossbar_config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spikemesh.backends.crossbar.target import CrossbarConfig, crossbar_config
from spikemesh.backends.crossbar.tiles import Tile, tiles_of
from spikemesh.backends.crossbar.tiling import MappedLayer, MappedMatrix, map_graph
from spikemesh.errors import SimulationError
from spikemesh.fileio import atomic_write_json
from spikemesh.ir.graph import Graph


@dataclass(frozen=True, eq=False)
class CrossbarProgram:
    """The ``config`` Program section of a crossbar target: the array parameters, every array group (core) with
    its placement, and the cell levels programmed into each matrix. The ``crossbar`` engine programs its arrays
    from these levels. ``levels[(projection, group)]`` uint8 [slices, 2, R, C]; ``offsets`` the offset-scheme
    code offset per projection."""

    section_type: ClassVar[str] = "crossbar_config"  # its registered name in program.json (spikemesh.program)

    crossbar: dict[str, Any]
    tiles: tuple[Tile, ...]
    coords: np.ndarray  # int32 [n_tiles, 4] (chip_x, chip_y, x, y) of each tile's core
    levels: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    layout: dict[str, dict[str, Any]] = field(default_factory=dict)  # projection -> op_index, kind, positions

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {f"levels/{p}/{g}": np.asarray(v, dtype=np.uint8) for (p, g), v in self.levels.items()}
        arrays["coords"] = np.asarray(self.coords, dtype=np.int32).reshape(-1, 4)
        meta = {"crossbar": self.crossbar, "tiles": [t.to_dict() for t in self.tiles], "layout": self.layout,
                "matrices": [[p, g] for (p, g) in self.levels]}
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> CrossbarProgram:
        levels = {(str(p), int(g)): np.asarray(arrays[f"levels/{p}/{g}"]) for p, g in meta["matrices"]}
        return cls(crossbar=dict(meta["crossbar"]), tiles=tuple(Tile.from_dict(t) for t in meta["tiles"]),
                   coords=np.asarray(arrays["coords"], dtype=np.int32).reshape(-1, 4), levels=levels,
                   layout={k: dict(v) for k, v in meta["layout"].items()})

    def export(self, directory: str | Path, program: Any = None) -> None:
        """``crossbar_config.json``: array parameters and every array group with its router coordinates."""
        tiles = []
        for t, xy in zip(self.tiles, self.coords):
            d = t.to_dict()
            d["coords"] = [int(v) for v in xy]
            tiles.append(d)
        atomic_write_json(Path(directory) / "crossbar_config.json",
                          {"crossbar": self.crossbar, "layout": self.layout, "tiles": tiles})

    def mapped_layers(self, graph: Graph, cfg: CrossbarConfig) -> dict[str, MappedLayer]:
        """The MappedLayers encoded by the emitted levels (weights decoded from the levels, not from the graph)."""
        out: dict[str, MappedLayer] = {}
        for proj_name, lay in self.layout.items():
            mats = []
            g = int(lay["groups"])
            for gi in range(g):
                lv = self.levels[(proj_name, gi)].astype(np.int64)
                w = decode(lv, cfg, int(lay["offset"]))
                mats.append(MappedMatrix(w, int(lay["mag_bits"]), lv.shape[0], lv, int(lay["offset"])))
            groups = [t for t in self.tiles if t.projection == proj_name]
            rt = 1 + max(t.row_tile for t in groups)
            ct = 1 + max(t.col_tile for t in groups)
            util = np.asarray(lay["utilisation"], dtype=np.float64)
            out[proj_name] = MappedLayer(proj_name, int(lay["op_index"]), str(lay["kind"]), tuple(mats), rt, ct,
                                         mats[0].slices, sum(t.arrays for t in groups), util, int(lay["positions"]))
        return out


def decode(levels: np.ndarray, cfg: CrossbarConfig, offset: int) -> np.ndarray:
    """Integer weights [R, C] of cell levels [slices, 2, R, C] (inverse of ``tiling.encode``)."""
    scale = (1 << (cfg.cell_bits * np.arange(levels.shape[0], dtype=np.int64)))[:, None, None]
    if cfg.scheme == "differential":
        return ((levels[:, 0] - levels[:, 1]) * scale).sum(0)
    return (levels[:, 0] * scale).sum(0) - offset


def crossbar_program(program: Any, cfg: CrossbarConfig | None = None) -> CrossbarProgram:
    """Build the ``config`` section from a Program whose partition came from ``crossbar_partition``."""
    graph = program.graph
    cfg = cfg or crossbar_config(program.target)
    layers = map_graph(graph, cfg)
    tiles = tiles_of(layers, cfg, graph)
    part = program.partition
    if part is None or part.strategy != "crossbar_tiles" or part.n_cores < len(tiles):
        raise SimulationError("the crossbar configuration needs the crossbar tile partition", node="config",
                              needed="partition strategy crossbar_tiles",
                              available=None if part is None else part.strategy)
    coords = np.zeros((len(tiles), 4), dtype=np.int32)
    if program.placement is not None:
        coords = np.asarray(program.placement.coords, dtype=np.int32)[:len(tiles)]
    levels = {(name, gi): m.levels for name, layer in layers.items() for gi, m in enumerate(layer.matrices)}
    layout = {name: {"op_index": layer.op_index, "kind": layer.kind, "positions": layer.positions,
                     "groups": len(layer.matrices), "mag_bits": layer.matrices[0].mag_bits,
                     "offset": layer.matrices[0].offset, "rows": layer.matrices[0].rows,
                     "cols": layer.matrices[0].cols, "utilisation": [float(u) for u in layer.utilisation]}
              for name, layer in layers.items()}
    return CrossbarProgram(crossbar=cfg.to_dict(), tiles=tuple(tiles), coords=coords, levels=levels, layout=layout)
