"""Finding and reading targets: presets by name, TOML files, the ``:AxB`` chip-grid suffix, and the
plain-dict form a Program stores. The TOML format is documented in docs/targets.md."""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from spikemesh.errors import TargetError
from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

#: every feature name a target may list: the IR's neuron kinds (ir.neurons.KINDS, spelled out so that reading a
#: target file does not import NumPy; tests/test_targets.py checks they agree) and the capabilities of the Target
#: docstring
KNOWN_FEATURES = frozenset({"IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator", "reset_zero", "reset_subtract",
                            "reset_none", "refractory", "delay", "multicast", "recurrence", "partial_sums",
                            "shared_kernels", "training", "input_cores"})

#: preset name -> "module:function" building it (imported lazily so a preset's module loads only when used)
PRESETS: dict[str, str] = {
    "tianjic": "spikemesh.backends.mesh.presets:tianjic",
    "loihi": "spikemesh.backends.mesh.presets:loihi",
    "speck": "spikemesh.backends.speck:speck",
    "trainer": "spikemesh.trainer.spec:trainer",
    "crossbar": "spikemesh.backends.crossbar.target:crossbar",
    "crossbar-256": "spikemesh.backends.crossbar.target:crossbar_256",
    "crossbar-512": "spikemesh.backends.crossbar.target:crossbar_512",
}

_GRID = re.compile(r"^(?P<name>[^:]+):(?P<x>\d+)x(?P<y>\d+)$")
_TOP_KEYS = {"name", "family", "description", "clock_hz", "features", "chips", "chip", "core", "cores", "noc",
             "energy", "extra"}


def _preset(name: str) -> Target:
    module, func = PRESETS[name].split(":")
    build: Callable[[], Target] = getattr(importlib.import_module(module), func)
    return build()


def target(name_or_path: str | Path | Target) -> Target:
    """The Target for a preset name (``"tianjic"``, ``"tianjic:2x2"`` for a 2x2 grid of chips) or a TOML file."""
    if isinstance(name_or_path, Target):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        return load_target_toml(path)
    grid = _GRID.match(text)
    base = grid["name"] if grid else text
    if base not in PRESETS:
        raise TargetError(
            f"unknown target {base!r}",
            node=text,
            needed="a preset name or a .toml file",
            available=", ".join(sorted(PRESETS)),
            hint="run `spikemesh targets` to list presets, or write a TOML file (docs/targets.md)",
        )
    t = _preset(base)
    if grid:
        x, y = int(grid["x"]), int(grid["y"])
        if x < 1 or y < 1:
            raise TargetError("chip grid must be at least 1x1", node=text, needed=">= 1x1", available=f"{x}x{y}")
        t = t.with_chips(x, y)
    return t


def list_targets() -> list[Target]:
    """Every preset, in name order."""
    return [_preset(n) for n in sorted(PRESETS)]


def _known(section: str, data: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise TargetError(
            f"unknown key {unknown[0]!r} in [{section}]",
            node=where,
            needed="one of " + ", ".join(sorted(allowed - {"sources"})),
            available=unknown[0],
            hint="see docs/targets.md for the target file format",
        )
    return data


def target_from_dict(d: dict[str, Any], where: str = "target") -> Target:
    """Build a Target from the nested dict form (the TOML layout, also what ``target_to_dict`` writes)."""
    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise TargetError(f"unknown top-level key {unknown[0]!r}", node=where,
                          needed="one of " + ", ".join(sorted(_TOP_KEYS)), available=unknown[0],
                          hint="see docs/targets.md for the target file format")
    if "name" not in d:
        raise TargetError("missing key 'name'", node=where, hint='add name = "my-chip" at the top of the file')
    bad = sorted(set(d.get("features", [])) - KNOWN_FEATURES)
    if bad:
        raise TargetError(f"unknown feature {bad[0]!r} in features", node=where,
                          needed="some of " + ", ".join(sorted(KNOWN_FEATURES)), available=bad[0],
                          hint="see docs/targets.md (Features)")
    try:
        chips = d.get("chips", {})
        chip = d.get("chip", {})
        core = CoreSpec(**_known("core", d.get("core", {}), CoreSpec, where)) if "core" in d else None
        cores = tuple(CoreSpec(**_known("cores", c, CoreSpec, where)) for c in d["cores"]) if "cores" in d else None
        if core is None and cores is None:
            raise TargetError("missing section [core]", node=where, hint="add [core] with neurons, axons, synapse_bits")
        energy = dict(_known("energy", d.get("energy", {}), EnergyTable, where))
        t = Target(
            name=str(d["name"]),
            family=str(d.get("family", "mesh")),
            chips_x=int(chips.get("x", 1)),
            chips_y=int(chips.get("y", 1)),
            cores_x=int(chip.get("cores_x", 1)),
            cores_y=int(chip.get("cores_y", 1)),
            core=core if core is not None else cores[0],
            cores=cores,
            clock_hz=float(d.get("clock_hz", 1e8)),
            noc=NocSpec(**_known("noc", d.get("noc", {}), NocSpec, where)),
            energy=EnergyTable(**energy),
            features=frozenset(d.get("features", [])),
            extra=dict(d.get("extra", {})),
            description=str(d.get("description", "")),
        )
    except (TypeError, ValueError) as e:
        raise TargetError(f"bad value: {e}", node=where, hint="see docs/targets.md for types of each key") from e
    _check(t, where)
    return t


def _check(t: Target, where: str) -> None:
    for name, value in (("chips.x", t.chips_x), ("chips.y", t.chips_y), ("chip.cores_x", t.cores_x),
                        ("chip.cores_y", t.cores_y)):
        if value < 1:
            raise TargetError(f"{name} must be positive", node=where, needed=">= 1", available=value)
    if t.cores is not None and len(t.cores) != t.cores_per_chip:
        raise TargetError("[[cores]] must list one entry per core of a chip", node=where,
                          needed=t.cores_per_chip, available=len(t.cores),
                          hint="set chip.cores_x * chip.cores_y to the number of [[cores]] entries")
    for spec in t.cores or (t.core,):
        if spec.neurons < 1 or spec.axons < 1 or spec.synapse_bits < 0:
            raise TargetError("core resources must be positive", node=where, needed="neurons, axons >= 1",
                              available=f"neurons={spec.neurons}, axons={spec.axons}")


def load_target_toml(path: str | Path) -> Target:
    """Read a target from a TOML file (format: docs/targets.md)."""
    p = Path(path)
    if not p.is_file():
        raise TargetError("target file not found", node=str(p), hint="give a preset name or an existing .toml file")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TargetError(f"not valid TOML: {e}", node=str(p), hint="check the file against docs/targets.md") from e
    return target_from_dict(data, where=str(p))


def target_to_dict(t: Target) -> dict[str, Any]:
    """The nested dict form of a Target (same layout as the TOML file; JSON-serialisable)."""
    d: dict[str, Any] = {
        "name": t.name,
        "family": t.family,
        "description": t.description,
        "clock_hz": t.clock_hz,
        "features": sorted(t.features),
        "chips": {"x": t.chips_x, "y": t.chips_y},
        "chip": {"cores_x": t.cores_x, "cores_y": t.cores_y},
        "core": {k: v for k, v in asdict(t.core).items() if v is not None},
        "noc": {k: v for k, v in asdict(t.noc).items() if v is not None},
        "energy": {k: v for k, v in asdict(t.energy).items() if v is not None},
        "extra": t.extra,
    }
    if t.cores is not None:
        d["cores"] = [{k: v for k, v in asdict(c).items() if v is not None} for c in t.cores]
    return d


def resources_summary(t: Target) -> dict[str, Any]:
    """Totals a user compares targets by: cores, neurons, axons and synapse memory (bits) over all chips."""
    specs = [t.core_spec(i) for i in range(t.cores_per_chip)]
    return {
        "chips": f"{t.chips_x}x{t.chips_y}",
        "cores": t.n_cores,
        "neurons": t.n_chips * sum(s.neurons for s in specs),
        "axons_per_core": sorted({s.axons for s in specs}),
        "synapse_bits": t.n_chips * sum(s.synapse_bits for s in specs),
        "clock_hz": t.clock_hz,
    }
