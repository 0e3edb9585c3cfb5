"""The mesh chip configuration: the Program's ``config`` section for mesh-family targets (``MeshConfig``),
``mesh_config.json`` and the ``section/config/*`` arrays of ``weights.npz``, the format version check and the
reader of a build directory. The format is specified field by field in docs/config.md; ``emit.py`` writes it.

What a chip loads, per core (logical core ``c`` at its placed router): its neuron slots (node, flat index), the
neuron parameters of each slot at the target's widths, its role, its *lanes* (one input accumulator per slot and
synaptic port), its axon table (axon slot ← source routing key, sorted), its synapse memory — explicit
``(axon, lane, weight, delay)`` entries, and *conv blocks* (a slice of a kernel stored once per projection, plus
the geometry that unfolds it into ``(axon, lane, weight)`` entries) — and the routing key each lane sends with:
``(core_key << neuron_bits) | lane`` with ``core_key = c + n_inputs`` (host input ``k``: ``n_inputs - 1 - k``);
whether it sends at all (``core_sends``: a core without a route keeps its packets to itself). Per router: the
routing table after key/mask compression (the rule of ``spikemesh.routing.tables``), ports E/W/N/S/local as bits.
Plus the inter-chip links used, how inputs are injected and the per-step evaluation order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spikemesh.errors import FileFormatError, SpikemeshError
from spikemesh.fileio import atomic_write_json, read_build_files

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
    jf = d / "mesh_config.json"
    head, arrays = read_build_files(
        d, jf.name, missing="no mesh configuration", corrupt="corrupt configuration files", prefix="section/config/",
        missing_hint="compile for a mesh-family target (spikemesh compile MODEL -t tianjic -o DIR)")
    check_version(head, str(jf))
    header = {k: v for k, v in head.items() if k not in ("cores", "arrays")}
    return MeshConfig(header, arrays)
