"""The "partition" Program section: logical cores, neuron → core maps and the core-to-core traffic matrix.

Placement reads ``n_cores`` and ``traffic``; routing and the certificate read ``relays``; the engines read
``neuron_core``. Per logical core:

- ``LogicalCore.use``: ``"neurons"``, ``"axons"``, ``"synapse_bits"``, ``"synapses"`` (graph synapses whose
  weights this core stores; merge cores store none of the graph's synapses), and ``"kernel_entries"`` /
  ``"neuron_entries"`` / ``"bias_entries"`` on targets whose cores have those memories.
- ``LogicalCore.neurons``: per layer, the flat [start, stop) bounds of the neurons it holds.
- ``LogicalCore.boxes``: per layer, the boxes ``(c0, c1, h0, h1, w0, w1)`` of the layer's (C, H, W) view (see
  ``spikemesh.partition.geometry.view_shape``) whose neurons the core holds (role "neurons") or accumulates
  (role "partial_sum").
- ``LogicalCore.inputs``: per incoming projection, the unit range ``(u0, u1)`` of its sources this core
  receives (a partial-sum core takes a slice of the input channels; see geometry.py for what a unit is).
- ``traffic`` leaves out a core's spikes to itself (local delivery is not remote traffic); partial-sum cores'
  forwards to their merge core appear with one copy per neuron per step.
- Partial-sum trees: a ``partial_sum`` core's ``merge_into`` may be another ``partial_sum`` core of the same boxes
  (which adds the received sums to its own and forwards them); following ``merge_into`` always ends at the
  "neurons" core of those boxes. Any core of a tree may also take an input chunk (``inputs``); a core that receives
  partial sums counts them in its axons (one per neuron per child). See plan.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spikemesh.fileio import atomic_write_json

Box = tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class LogicalCore:
    """One logical core. ``role`` is "neurons" (holds neuron state), "partial_sum" (accumulates a slice of the
    input channels of ``layers`` and forwards the sums to core ``merge_into``) or "source" (replays the elements
    ``neurons[input]`` of a graph input on targets with the "input_cores" feature)."""

    index: int
    group: int
    layers: tuple[str, ...]
    role: str = "neurons"
    merge_into: int | None = None
    neurons: dict[str, tuple[int, int]] = field(default_factory=dict)
    use: dict[str, int] = field(default_factory=dict)
    spec: int | None = None
    boxes: dict[str, tuple[Box, ...]] = field(default_factory=dict)
    inputs: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "group": self.group, "layers": list(self.layers), "role": self.role,
                "merge_into": self.merge_into, "neurons": {k: list(v) for k, v in self.neurons.items()},
                "use": dict(self.use), "spec": self.spec,
                "boxes": {k: [list(b) for b in v] for k, v in self.boxes.items()},
                "inputs": {k: list(v) for k, v in self.inputs.items()}}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> LogicalCore:
        return LogicalCore(
            index=int(d["index"]), group=int(d["group"]), layers=tuple(d["layers"]), role=str(d["role"]),
            merge_into=None if d.get("merge_into") is None else int(d["merge_into"]),
            neurons={k: (int(v[0]), int(v[1])) for k, v in d.get("neurons", {}).items()},
            use={k: int(v) for k, v in d.get("use", {}).items()},
            spec=None if d.get("spec") is None else int(d["spec"]),
            boxes={k: tuple(tuple(int(x) for x in b) for b in v) for k, v in d.get("boxes", {}).items()},  # type: ignore[misc]
            inputs={k: (int(v[0]), int(v[1])) for k, v in d.get("inputs", {}).items()},
        )


@dataclass(frozen=True, eq=False)
class Partition:
    """The graph split into logical cores (index = logical core id).

    ``neuron_core[pop]`` (int32, population size, C-order flat index) is the core holding each neuron's state
    (with "input_cores", also ``neuron_core[input]``: the source core of each input element).
    ``traffic`` (float64 [E, 3]) rows are (source core, destination core, expected spike copies per step);
    graph input ``k`` is source ``-1 - k`` (streamed from the host) unless it has source cores. ``report`` is the
    ``partition`` entry of report.json."""

    section_type: ClassVar[str] = "partition"  # its registered name in program.json (spikemesh.program)

    cores: tuple[LogicalCore, ...]
    neuron_core: dict[str, np.ndarray]
    traffic: np.ndarray
    strategy: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cores(self) -> int:
        return len(self.cores)

    @property
    def relays(self) -> dict[int, int]:
        """Forwarding (partial-sum) core → the core it merges into, as the certificate and the cycle engine take it."""
        return {c.index: int(c.merge_into) for c in self.cores if c.role == "partial_sum" and c.merge_into is not None}

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        # the measured wall time stays in report.json only, so equal inputs give byte-identical sections
        rep = {k: v for k, v in self.report.items() if k != "seconds"}
        meta = {"strategy": self.strategy, "cores": [c.to_dict() for c in self.cores],
                "populations": sorted(self.neuron_core), "report": rep}
        arrays = {f"neuron_core/{k}": np.asarray(v, dtype=np.int32) for k, v in self.neuron_core.items()}
        arrays["traffic"] = np.asarray(self.traffic, dtype=np.float64).reshape(-1, 3)
        return json.loads(json.dumps(meta)), arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Partition:
        nc = {k: np.asarray(arrays[f"neuron_core/{k}"], dtype=np.int32) for k in meta["populations"]}
        return cls(cores=tuple(LogicalCore.from_dict(c) for c in meta["cores"]), neuron_core=nc,
                   traffic=np.asarray(arrays["traffic"], dtype=np.float64).reshape(-1, 3),
                   strategy=str(meta["strategy"]), report=dict(meta.get("report", {})))

    def export(self, directory: str | Path, program: Any = None) -> None:
        """Write ``partition.json`` (cores with their use; no per-neuron arrays; the report without its wall time,
        which report.json keeps) into ``directory``."""
        rep = {k: v for k, v in self.report.items() if k != "seconds"}
        atomic_write_json(Path(directory) / "partition.json",
                          {"strategy": self.strategy, "cores": [c.to_dict() for c in self.cores], "report": rep})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Partition):
            return NotImplemented
        return (self.cores == other.cores and self.strategy == other.strategy
                and sorted(self.neuron_core) == sorted(other.neuron_core)
                and all(np.array_equal(self.neuron_core[k], other.neuron_core[k]) for k in self.neuron_core)
                and np.array_equal(self.traffic, other.traffic))

    __hash__ = None  # type: ignore[assignment]
