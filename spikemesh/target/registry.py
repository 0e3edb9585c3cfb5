"""Finding and reading targets: presets by name, TOML files, the ``:AxB`` chip-grid suffix, and the
plain-dict form a Program stores. The TOML format is documented in docs/targets.md."""

from __future__ import annotations

import difflib
import importlib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import spikemesh.checks as checks
from spikemesh.errors import TargetError, located
from spikemesh.target.model import KNOWN_FEATURES, CoreSpec, EnergyTable, NocSpec, Target

__all__ = ["KNOWN_FEATURES", "PRESETS", "list_targets", "load_target_toml", "resources_summary", "target",
           "target_from_dict", "target_to_dict"]

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
    if not isinstance(name_or_path, str | os.PathLike) or not str(name_or_path):
        raise TargetError("a target is a preset name, NAME:AxB, a .toml path or a Target", node="target",
                          needed="str | Path | Target", available=type(name_or_path).__name__,
                          hint="run `spikemesh targets` to list presets")
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
            hint=_target_hint(base),
        )
    t = _preset(base)
    if grid:
        x, y = int(grid["x"]), int(grid["y"])
        if x < 1 or y < 1:
            raise TargetError("chip grid must be at least 1x1", node=text, needed=">= 1x1", available=f"{x}x{y}")
        n = x * y * t.cores_per_chip
        if n > checks.MAX_CORES:  # checked before building anything of this size
            raise TargetError("the target has too many cores", node=text, needed=f"<= {checks.MAX_CORES:,} cores",
                              available=f"{x}x{y} chips x {t.cores_per_chip} cores = {n:,}",
                              hint="use a smaller chip grid")
        if t.family == "speck" and (x, y) != (1, 1):
            raise TargetError("a Speck board is one chip: it has no chip grid", node=text, needed="speck",
                              available=f"{x}x{y} chips", hint="use --target speck")
        t = t.with_chips(x, y)
    return t


def _target_hint(name: str) -> str:
    """A did-you-mean for a misspelt preset or chip grid, then where the presets are listed."""
    head, sep, tail = name.partition(":")
    close = difflib.get_close_matches(head.lower(), list(PRESETS), n=1)
    if sep and (head in PRESETS or close):
        return f"a grid of chips is written NAME:AxB, e.g. {head if head in PRESETS else close[0]}:2x2"
    if close:
        return f"did you mean {close[0]!r}? (`spikemesh targets` lists the presets)"
    return "run `spikemesh targets` to list presets, or write a TOML file (docs/targets.md)"


def list_targets() -> list[Target]:
    """Every preset, in name order."""
    return [_preset(n) for n in sorted(PRESETS)]


def _known(section: str, data: Any, cls: type, where: str) -> dict[str, Any]:
    checks.mapping(data, f"[{section}]", where, TargetError)
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
    """Build a Target from the nested dict form (the TOML layout, also what ``target_to_dict`` writes). Every
    value is checked by the Target dataclasses (docs/targets.md lists the rules); errors name ``where``."""
    checks.mapping(d, "a target", where, TargetError)
    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise TargetError(f"unknown top-level key {unknown[0]!r}", node=where,
                          needed="one of " + ", ".join(sorted(_TOP_KEYS)), available=unknown[0],
                          hint="see docs/targets.md for the target file format")
    if "name" not in d:
        raise TargetError("missing key 'name'", node=where, hint='add name = "my-chip" at the top of the file')
    features = d.get("features", [])
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise TargetError("features must be a list of feature names", node=where, needed='e.g. ["LIF", "delay"]',
                          available=repr(features), hint="see docs/targets.md (Features)")
    with located(where, "bad target description", TargetError, hint="see docs/targets.md for the type of each key"):
        chips = _known("chips", d.get("chips", {}), _Grid, where)
        chip = _known("chip", d.get("chip", {}), _ChipGrid, where)
        if "core" not in d and "cores" not in d:
            raise TargetError("missing section [core]", node=where, hint="add [core] with neurons, axons, synapse_bits")
        core = CoreSpec(**_known("core", d["core"], CoreSpec, where)) if "core" in d else None
        cores = None
        if "cores" in d:
            if not isinstance(d["cores"], list) or not d["cores"]:
                raise TargetError("[[cores]] must be a list of tables", node=where,
                                  available=type(d["cores"]).__name__)
            n_listed = len(d["cores"])
            per_chip = checks.integer(chip.get("cores_x", 1), "chip.cores_x", where, TargetError, lo=1) * \
                checks.integer(chip.get("cores_y", 1), "chip.cores_y", where, TargetError, lo=1)
            if n_listed != per_chip:
                raise TargetError("[[cores]] must list one entry per core of a chip", node=where, needed=per_chip,
                                  available=n_listed, hint="set chip.cores_x * chip.cores_y to the number of "
                                  "[[cores]] entries")
            cores = tuple(CoreSpec(**_known("cores", c, CoreSpec, where)) for c in d["cores"])
        energy = dict(_known("energy", d.get("energy", {}), EnergyTable, where))
        first = core if core is not None else cores[0]  # type: ignore[index]
        return Target(
            name=d["name"],
            family=d.get("family", "mesh"),
            chips_x=chips.get("x", 1),
            chips_y=chips.get("y", 1),
            cores_x=chip.get("cores_x", 1),
            cores_y=chip.get("cores_y", 1),
            core=first,
            cores=cores,
            clock_hz=d.get("clock_hz", 1e8),
            noc=NocSpec(**_known("noc", d.get("noc", {}), NocSpec, where)),
            energy=EnergyTable(**energy),
            features=frozenset(features),
            extra=d.get("extra", {}),
            description=d.get("description", ""),
        )


@dataclass(frozen=True)
class _Grid:
    """The keys of [chips]."""

    x: int = 1
    y: int = 1


@dataclass(frozen=True)
class _ChipGrid:
    """The keys of [chip]."""

    cores_x: int = 1
    cores_y: int = 1


def load_target_toml(path: str | Path) -> Target:
    """Read a target from a TOML file (format: docs/targets.md)."""
    p = Path(path)
    if not p.is_file():
        raise TargetError("target file not found", node=str(p), hint="give a preset name or an existing .toml file")
    if p.stat().st_size > 1 << 24:
        raise TargetError("target file is too large", node=str(p), needed="<= 16 MiB", available=p.stat().st_size)
    try:
        data = tomllib.loads(p.read_bytes().decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise TargetError(f"not valid TOML: {e}", node=str(p), hint="check the file against docs/targets.md") from None
    except OSError as e:
        raise TargetError(f"cannot read the target file ({e.strerror})", node=str(p)) from None
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
    specs = list(t.cores) if t.cores is not None else [t.core]
    per = t.cores_per_chip if t.cores is None else 1  # cores one spec stands for within a chip
    return {
        "chips": f"{t.chips_x}x{t.chips_y}",
        "cores": t.n_cores,
        "neurons": t.n_chips * per * sum(s.neurons for s in specs),
        "axons_per_core": sorted({s.axons for s in specs}),
        "synapse_bits": t.n_chips * per * sum(s.synapse_bits for s in specs),
        "clock_hz": t.clock_hz,
    }
