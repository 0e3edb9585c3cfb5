"""The Speck chip configuration: the Program's ``config`` section and ``speck_config.json``.

The JSON follows the field names of samna's ``SpeckConfiguration`` that sinabs fills (sinabs
``DynapcnnConfigBuilder.get_dynapcnn_layer_config_dict``):
per core ``dimensions`` (input_shape, output_shape (pre-pool), padding, stride, kernel_size), ``weights``
``[f][c][kx][ky]``, ``biases``, ``leak_enable``, ``return_to_zero``, ``threshold_high``/``threshold_low``,
``monitor_enable``, ``neurons_initial_value`` ``[f][x][y]``, ``destinations`` (layer = destination core, enable,
pooling, feature_shift); plus ``dvs_layer`` (dvs.py) and the per-core memory table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spikemesh.backends.speck.dvs import DvsSpec
from spikemesh.backends.speck.lowering import SpeckLayer
from spikemesh.fileio import atomic_open, json_default

_ARRAYS = ("weight", "bias")


@dataclass(frozen=True, eq=False)
class SpeckConfig:
    """Layers (in topological order), ``cores[i]`` = core of layer i, the DVS layer, direct input routes,
    the memory table (one row per core) and the assignment info."""

    section_type: ClassVar[str] = "speck_config"  # its registered name in program.json (spikemesh.program)

    layers: tuple[SpeckLayer, ...]
    cores: tuple[int, ...]
    dvs: DvsSpec | None
    input_routes: tuple[tuple[str, int], ...]
    memory_table: tuple[dict[str, Any], ...] = ()
    assignment: dict[str, Any] = field(default_factory=dict)
    device: str = "speck2f"

    def core_of(self, layer: str) -> int:
        return self.cores[[L.name for L in self.layers].index(layer)]

    # ---------------------------------------------------------------- Program section protocol
    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        metas = []
        for i, L in enumerate(self.layers):
            d = {k: getattr(L, k) for k in SpeckLayer.__dataclass_fields__ if k not in _ARRAYS}
            metas.append(d)
            arrays[f"{i}/weight"] = L.weight
            arrays[f"{i}/bias"] = L.bias
        dvs = None if self.dvs is None else {k: getattr(self.dvs, k) for k in DvsSpec.__dataclass_fields__}
        meta = {"layers": metas, "cores": list(self.cores), "dvs": dvs, "input_routes": self.input_routes,
                "memory_table": list(self.memory_table), "assignment": self.assignment, "device": self.device}
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> SpeckConfig:
        def tup(v: Any) -> Any:
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        layers = []
        for i, d in enumerate(meta["layers"]):
            kw = {k: tup(v) for k, v in d.items()}
            layers.append(SpeckLayer(weight=arrays[f"{i}/weight"], bias=arrays[f"{i}/bias"], **kw))
        dvs = None if meta["dvs"] is None else DvsSpec(**{k: tup(v) for k, v in meta["dvs"].items()})
        return cls(layers=tuple(layers), cores=tuple(meta["cores"]), dvs=dvs, input_routes=tup(meta["input_routes"]),
                   memory_table=tuple(meta["memory_table"]), assignment=meta["assignment"], device=meta["device"])

    def to_json(self) -> dict[str, Any]:
        """The chip configuration as plain JSON (samna-compatible field names)."""
        core = {L.name: c for L, c in zip(self.layers, self.cores)}
        cnn: dict[str, Any] = {}
        for L, c in zip(self.layers, self.cores):
            f, oh, ow = L.out_shape
            ci, ih, iw = L.in_shape
            cnn[str(c)] = {
                "layer": L.name,
                "dimensions": {"input_shape": {"size": {"x": iw, "y": ih}, "feature_count": ci},
                               "output_shape": {"size": {"x": ow, "y": oh}, "feature_count": f},
                               "padding": {"x": L.padding[1], "y": L.padding[0]},
                               "stride": {"x": L.stride[1], "y": L.stride[0]}, "kernel_size": L.kernel},
                "weights": np.asarray(L.weight).transpose(0, 1, 3, 2).tolist(),
                "biases": np.asarray(L.bias).tolist(),
                "leak_enable": L.leak_enable,
                "return_to_zero": L.reset == "zero",
                "threshold_high": int(L.threshold_high),
                "threshold_low": int(L.threshold_low),
                "monitor_enable": L.monitor,
                "neurons_initial_value": np.zeros((f, ow, oh), dtype=np.int64).tolist(),
                "destinations": [{"layer": core[d], "enable": True, "pooling": p, "feature_shift": sh}
                                 for d, p, sh in L.destinations],
                "readout_channels": list(L.channels) if L.channels != tuple(range(f)) else None,
            }
        out: dict[str, Any] = {"device": self.device, "cnn_layers": cnn,
                               "layer2core": {L.name: c for L, c in zip(self.layers, self.cores)},
                               "memory_table": list(self.memory_table)}
        if self.dvs is not None:
            out["dvs_layer"] = self.dvs.config(core)
        else:
            out["input_destinations"] = [{"layer": core[n], "feature_shift": sh} for n, sh in self.input_routes]
        return out

    def export(self, directory: Path, program: Any) -> None:
        """speck_config.json, compact and through ``json.dumps``: with an indent, or through ``json.dump``, the
        json module uses its pure-Python encoder, which took most of a CLI compile's time on the weight lists."""
        text = json.dumps(self.to_json(), default=json_default)
        with atomic_open(Path(directory) / "speck_config.json", "w") as fh:
            fh.write(text + "\n")
