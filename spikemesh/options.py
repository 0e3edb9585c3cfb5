"""``CompileOptions``: every option ``spikemesh.compile`` takes, typed and frozen, with its default.

Stages read the fields they need; an option no field names is an error listing the valid ones, so a misspelt
keyword never compiles silently with a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import spikemesh.checks as checks
from spikemesh.errors import SpikemeshError

#: the values of the choice options (the stages' own tuples; tests/test_errors_fuzz.py checks they agree)
STRATEGIES = ("slicing", "tiles", "groups", "hypergraph")
PLACERS = ("auto", "anneal", "cpsat", "rowmajor", "zigzag", "neighbor")
ROUTINGS = ("select", "xy", "yx", "west_first", "north_last", "negative_first", "odd_even")
SPECK_ASSIGN = ("auto", "exact", "cpsat")
#: largest seed (seeds are unsigned 64-bit integers) and longest solver time limit (seconds, one day)
MAX_SEED = 2**64 - 1
MAX_TIME_LIMIT = 86400.0


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

    def __post_init__(self) -> None:
        E, n = SpikemeshError, "compile option"
        object.__setattr__(self, "seed", checks.integer(self.seed, "seed", n, E, lo=0, hi=MAX_SEED))
        # >= 0 here: a stage may be granted nothing left of the compile's budget; of() asks the user for > 0
        object.__setattr__(self, "time_limit", checks.real(self.time_limit, "time_limit (solver seconds)", n, E,
                                                           lo=0.0, hi=MAX_TIME_LIMIT))
        for name in ("quantize", "speck_readout"):
            if not isinstance(getattr(self, name), bool):
                raise E(f"{name} must be True or False", node=n, available=repr(getattr(self, name)))
        checks.choice(self.strategy, STRATEGIES, "strategy", n, E)
        checks.choice(self.placer, PLACERS, "placer", n, E)
        checks.choice(self.routing, ROUTINGS, "routing", n, E)
        checks.choice(self.speck_assign, SPECK_ASSIGN, "speck_assign", n, E)
        if not isinstance(self.speck_min_v_mem, str):
            checks.real(self.speck_min_v_mem, "speck_min_v_mem", n, E)
        else:
            checks.choice(self.speck_min_v_mem, ("threshold", "int16"), "speck_min_v_mem", n, E)
        if not isinstance(self.device, str) or not self.device:
            raise E("device must be a device name", node=n, available=repr(self.device))
        for name in ("rates", "layer2core", "dvs"):
            v = getattr(self, name)
            if v is not None:
                checks.mapping(v, name, n, E)
        for k, v in (self.rates or {}).items():
            r = checks.number_array(v, f"rates[{k!r}] (spikes per neuron per step)", n, E)
            if r.size and r.min() < 0:
                raise E(f"rates[{k!r}] must be >= 0", node=n, needed=">= 0", available=float(r.min()))
        for k, v in (self.layer2core or {}).items():
            checks.integer(v, f"layer2core[{k!r}]", n, E, lo=0)

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
        if "time_limit" in options:
            checks.real(options["time_limit"], "time_limit (solver seconds)", "compile option", SpikemeshError,
                        lo=0.0, hi=MAX_TIME_LIMIT, lo_open=True)
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
