"""``CompileOptions``: every option ``spikemesh.compile`` takes, typed and frozen, with its default.

Stages read the fields they need; an option no field names is an error listing the valid ones, so a misspelt
keyword never compiles silently with a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from spikemesh.errors import SpikemeshError


@dataclass(frozen=True)
class CompileOptions:
    """Options of one compile.

    Every family: ``seed`` (every random choice), ``time_limit`` (seconds for every solver call of the compile
    together, shared between the stages by spikemesh.budget and counted in deterministic work, so results do not
    depend on the machine's load; ``report["budget"]`` says per stage what it was granted and spent and whether it
    stopped at its limit), ``quantize`` (integer weights and states at the target's bit widths).
    Mesh and crossbar families: ``strategy`` (partition: slicing, tiles, groups, hypergraph), ``placer``,
    ``routing``, ``rates`` (population -> spikes per neuron per step, for the traffic estimate) or
    ``sample_input`` (an input array ``[T, B, *shape]`` whose reference run gives the rates).
    Speck family: ``speck_min_v_mem`` ("threshold" | "int16" | a number), ``speck_readout`` (the speck2e/2f x4
    readout remap), ``speck_assign`` ("auto" | "exact" | "cpsat"), ``layer2core`` (layer -> core, checked),
    ``device`` (samna device name), ``dvs`` (the sensor-side DVS layer: input_shape, pool, crop, flip_x, flip_y,
    swap_xy, merge_polarities).
    """

    seed: int = 0
    time_limit: float = 8.0
    quantize: bool = True
    strategy: str = "groups"
    placer: str = "auto"
    routing: str = "select"
    rates: dict[str, Any] | None = None
    sample_input: Any = None
    speck_min_v_mem: str | float = "threshold"
    speck_readout: bool = False
    speck_assign: str = "auto"
    layer2core: dict[str, int] | None = None
    device: str = "speck2f"
    dvs: dict[str, Any] | None = None

    @classmethod
    def of(cls, options: dict[str, Any]) -> CompileOptions:
        """Options from keyword arguments; an unknown name raises a SpikemeshError naming the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise SpikemeshError(f"unknown compile option {unknown[0]!r}", node="compile", needed="one of "
                                 + ", ".join(valid), available=", ".join(unknown),
                                 hint="the target is the second argument (or target=...); see CompileOptions")
        tl = options.get("time_limit", 8.0)
        if not isinstance(tl, int | float) or not tl > 0:
            raise SpikemeshError("the time limit must be a positive number of seconds", node="time_limit",
                                 needed="> 0", available=tl, hint="e.g. --time-limit 8 (the default)")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
