"""Sweep files: the axes, their product, the filter and the ``points`` limit, checked before any point runs.

A sweep file (TOML)::

    [sweep]
    points = 100                                  # optional: first N points of the filtered product
    filter = "placer != 'cpsat' or core.neurons <= 256"   # optional: a Python-like boolean expression
    samples = 32                                  # optional: first N samples of every input file
    steps = 20                                    # optional: first N time steps (zero-padded when longer)

    [axes]
    model = ["demo", "nets/cnn.nir"]              # model files (.smg / .nir); "demo" = the bundled model
    inputs = "demo"                               # .npz with "inputs" [T, B, ...] and optional "labels" [B]
    target = ["tianjic", "loihi:2x1", "my_chip.toml"]
    core.neurons = [128, 256, 512]                # target field overrides: core.*, noc.*, energy.*, chip.*,
    noc.buffer_flits = [2, 4, 8]                  # clock_hz; chips = ["1x1", "2x2"] sets the chip grid
    placer = ["anneal", "cpsat"]                  # compile options: seed, time_limit, quantize, strategy,
    seed = [0, 1]                                 # placer, routing
    engine = "cycle"                              # simulation engine (needs inputs)

A scalar is a one-value axis. Paths are relative to the sweep file. The sweep is the product of the axes in file
order (the last axis varies fastest). Everything a point needs from disk (models, inputs, target files) is read
here, once, so a point only computes; a value the loaders refuse is an error naming the axis and the value. The
filter expression is checked and evaluated by ``filter_expr.py``.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
import tomllib
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.errors import SpikemeshError
from spikemesh.options import CompileOptions
from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

#: compile options a sweep may vary (the scalar fields of CompileOptions)
OPTION_AXES = ("seed", "time_limit", "quantize", "strategy", "placer", "routing")
#: target field overrides: axis prefix -> the dataclass whose fields it names
_FIELD_SECTIONS: dict[str, type] = {"core": CoreSpec, "noc": NocSpec, "energy": EnergyTable}
_CHIP_FIELDS = ("cores_x", "cores_y")
#: every other axis
PLAIN_AXES = ("model", "inputs", "target", "chips", "engine", "clock_hz")
#: keys of the [sweep] table
SETTINGS = ("points", "filter", "samples", "steps")
DEMO = "demo"
_GRID = re.compile(r"^(\d+)x(\d+)$")


class SweepError(SpikemeshError):
    """A sweep file is malformed or names something the loaders refuse."""


def known_axes() -> list[str]:
    """Every axis name a sweep file may use."""
    names = [*PLAIN_AXES, *OPTION_AXES, *(f"chip.{f}" for f in _CHIP_FIELDS)]
    for prefix, cls in _FIELD_SECTIONS.items():
        names += [f"{prefix}.{f.name}" for f in fields(cls) if f.name != "sources"]
    return names


def is_target_axis(name: str) -> bool:
    return name in ("target", "chips", "clock_hz") or name.split(".")[0] in (*_FIELD_SECTIONS, "chip")


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its position in the product, its axis values and its key (a digest of the values
    and of the content of every file they name, so a changed model file is a new point)."""

    index: int
    values: dict[str, Any]
    key: str
    target_key: str


@dataclass
class Sweep:
    """A checked sweep: axes (name -> values, file order), settings, the points, and the data the points share
    (graphs by model value, (inputs, labels) by inputs value, Targets by target key)."""

    axes: dict[str, list[Any]]
    points: list[Point]
    settings: dict[str, Any] = field(default_factory=dict)
    graphs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    source: str = "<dict>"
    root: Path = Path(".")

    def payload(self) -> dict[str, Any]:
        """What every worker needs, pickled once per worker: graphs, inputs and targets."""
        return {"graphs": self.graphs, "inputs": self.inputs, "targets": self.targets}


# ----------------------------------------------------------------------------------------------- reading
def load_sweep(spec: str | Path | dict[str, Any], base: str | Path | None = None, points: int | None = None) -> Sweep:
    """Read and check a sweep: a TOML file path, or the same layout as a dict (``{"sweep": {...}, "axes":
    {...}}``; paths relative to ``base`` or the working directory); ``points`` overrides ``[sweep] points``.
    Raises SweepError naming the axis and the value before any point runs."""
    if isinstance(spec, dict):
        data, where, root = spec, "<dict>", Path(base or ".")
    else:
        p = Path(spec)
        if not p.is_file():
            raise SweepError("sweep file not found", node=str(p), hint="give a .toml file with an [axes] table")
        try:
            data = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SweepError(f"not valid TOML: {e}", node=str(p), hint="see README (Design-space sweeps)") from None
        where, root = str(p), Path(base) if base is not None else p.parent
    unknown = sorted(set(data) - {"sweep", "axes"})
    if unknown:
        raise SweepError(f"unknown table [{unknown[0]}]", node=where, needed="[sweep] and [axes]",
                         available=unknown[0])
    settings = dict(data.get("sweep", {}))
    if points is not None:
        settings["points"] = points
    bad = sorted(set(settings) - set(SETTINGS))
    if bad:
        raise SweepError(f"unknown key {bad[0]!r} in [sweep]", node=where, needed="one of " + ", ".join(SETTINGS),
                         available=bad[0])
    for key in ("points", "samples", "steps"):
        if key in settings and (not isinstance(settings[key], int) or isinstance(settings[key], bool)
                                or settings[key] < 0):
            raise SweepError(f"[sweep] {key} must be a non-negative integer", node=where, needed="int >= 0",
                             available=repr(settings[key]))
    axes = _flatten(data.get("axes", {}))
    if not axes:
        raise SweepError("the sweep has no axes", node=where, hint="add an [axes] table with at least model = ...")
    names = known_axes()
    for name, values in axes.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            section = [n for n in names if n.split(".")[0] == name.split(".")[0]] if "." in name else []
            listed = section or [n for n in names if "." not in n]
            raise SweepError(f"unknown axis {name!r}", node=where, needed="one of " + ", ".join(listed),
                             available=name, hint=(f"did you mean {' or '.join(map(repr, close))}? " if close else "")
                             + "target fields are core.*, noc.*, energy.*, chip.* (README: Design-space sweeps)")
        if not values:
            raise SweepError(f"axis {name!r} has no values: the sweep is empty", node=where, needed=">= 1 value",
                             available="[]")
    if "model" not in axes:
        raise SweepError("the sweep has no model axis", node=where, hint='add model = "demo" or model files')
    if "engine" in axes and "inputs" not in axes:
        raise SweepError("axis 'engine' needs input data", node=where, hint='add inputs = "file.npz" (or "demo")')
    sweep = Sweep(axes=axes, points=[], settings=settings, source=where, root=root)
    digests = _load_files(sweep, root)
    _check_values(sweep)
    sweep.points = _expand(sweep, digests, _Targets(sweep))
    return sweep


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """``core.neurons = [...]`` (a TOML dotted key is a nested table) -> {"core.neurons": [...]}; scalars become
    one-value lists."""
    out: dict[str, list[Any]] = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{name}."))
        else:
            out[name] = list(v) if isinstance(v, list) else [v]
    return out


def _axis_error(axis: str, value: Any, e: SpikemeshError) -> SweepError:
    return SweepError(f"axis {axis!r} value {value!r}: {e}", node=None)


def _file_digest(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _load_files(sweep: Sweep, root: Path) -> dict[tuple[str, Any], str]:
    """Read every model, input and target file an axis names; returns (axis, value) -> content digest."""
    from spikemesh.data.demo import demo_paths
    from spikemesh.pipeline import load_model

    digests: dict[tuple[str, Any], str] = {}
    for value in sweep.axes["model"]:
        path = demo_paths()[0] if value == DEMO and not (root / DEMO).exists() else root / str(value)
        if not isinstance(value, str) or not path.is_file():
            raise SweepError(f"axis 'model' value {value!r}: model file not found", node=str(path),
                             hint='give a .smg or .nir file (relative to the sweep file) or "demo"')
        try:
            sweep.graphs[value] = load_model(path)
        except SpikemeshError as e:
            raise _axis_error("model", value, e) from None
        digests["model", value] = _file_digest(path)
    for value in sweep.axes.get("inputs", []):
        path = demo_paths()[1] if value == DEMO and not (root / DEMO).exists() else root / str(value)
        if not isinstance(value, str) or not path.is_file():
            raise SweepError(f"axis 'inputs' value {value!r}: input file not found", node=str(path),
                             hint='give an .npz with "inputs" [T, B, ...] and optional "labels" [B], or "demo"')
        sweep.inputs[value] = _read_inputs(path, value, sweep.settings)
        digests["inputs", value] = _file_digest(path)
    for value in sweep.axes.get("target", []):
        text = str(value)
        if text.endswith(".toml"):
            path = root / text
            if not path.is_file():
                raise SweepError(f"axis 'target' value {value!r}: target file not found", node=str(path),
                                 hint="give a preset name (spikemesh targets) or an existing .toml file")
            digests["target", value] = _file_digest(path)
    return digests


def _read_inputs(path: Path, value: str, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile) or "inputs" not in z.files:
                raise SweepError(f"axis 'inputs' value {value!r}: no 'inputs' array", node=str(path),
                                 needed="npz with 'inputs' [T, B, ...] and optional 'labels' [B]")
            x = z["inputs"]
            y = z["labels"] if "labels" in z.files else None
    except AttributeError:  # np.load of a .npy returns an array, which has no .files
        raise SweepError(f"axis 'inputs' value {value!r}: not an .npz archive", node=str(path),
                         needed="npz with 'inputs' [T, B, ...]") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise SweepError(f"axis 'inputs' value {value!r}: cannot read ({type(e).__name__})", node=str(path),
                         needed="npz with 'inputs' [T, B, ...]") from None
    if x.ndim < 3:
        raise SweepError(f"axis 'inputs' value {value!r}: inputs must be [T, B, *shape]", node=str(path),
                         needed=">= 3 dimensions", available=list(x.shape))
    if y is not None and y.shape != (x.shape[1],):
        raise SweepError(f"axis 'inputs' value {value!r}: labels do not match the batch", node=str(path),
                         needed=[x.shape[1]], available=list(y.shape))
    if settings.get("samples"):
        x = x[:, : settings["samples"]]
        y = None if y is None else y[: settings["samples"]]
    steps = settings.get("steps")
    if steps:
        x = x[:steps] if steps <= x.shape[0] else np.concatenate(
            [x, np.zeros((steps - x.shape[0], *x.shape[1:]), dtype=x.dtype)])
    return np.ascontiguousarray(x), None if y is None else np.asarray(y, dtype=np.int64)


def _check_values(sweep: Sweep) -> None:
    """Compile options, engines and chip grids: the values the pipeline accepts."""
    from spikemesh.partition import STRATEGIES
    from spikemesh.placement.place import PLACERS
    from spikemesh.routing.routes import ALGORITHMS
    from spikemesh.simulate import ENGINES

    choices: dict[str, tuple[str, ...]] = {"strategy": STRATEGIES, "placer": PLACERS,
                                           "routing": ("select", *ALGORITHMS), "engine": tuple(ENGINES)}
    defaults = CompileOptions()
    for name, values in sweep.axes.items():
        for v in values:
            if name in choices and v not in choices[name]:
                close = difflib.get_close_matches(str(v), choices[name], n=1, cutoff=0.6)
                raise SweepError(f"axis {name!r} value {v!r} is not a known {name}",
                                 node=sweep.source, needed=" | ".join(choices[name]), available=repr(v),
                                 hint=f"did you mean {close[0]!r}?" if close else None)
            if name in OPTION_AXES and not _same_kind(v, getattr(defaults, name)):
                raise SweepError(f"axis {name!r} value {v!r} has the wrong type", node=sweep.source,
                                 needed=type(getattr(defaults, name)).__name__, available=type(v).__name__)
            if name == "chips" and not (isinstance(v, str) and _GRID.match(v) and min(_grid(v)) >= 1):
                raise SweepError(f"axis 'chips' value {v!r} is not a chip grid", node=sweep.source,
                                 needed='"AxB" with A, B >= 1', available=repr(v))


def _check_pair(sweep: Sweep, model: Any, inputs: Any) -> None:
    """The input data of a point fits its model (one graph input of the data's [T, B, *shape])."""
    graph, (x, _) = sweep.graphs[model], sweep.inputs[inputs]
    if len(graph.inputs) != 1 or tuple(graph.inputs[0].shape) != tuple(x.shape[2:]):
        raise SweepError(f"axis 'inputs' value {inputs!r} does not fit axis 'model' value {model!r}",
                         node=sweep.source, needed=f"[T, B, {', '.join(map(str, graph.inputs[0].shape))}]",
                         available=list(x.shape), hint="one graph input; shapes must agree (a [sweep] filter "
                         "can pair each model with its own inputs)")


def _same_kind(v: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(v, bool):
        return isinstance(v, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(v, int | float)
    return isinstance(v, type(default))


def _grid(text: str) -> tuple[int, int]:
    m = _GRID.match(text)
    assert m is not None
    return int(m[1]), int(m[2])


# ----------------------------------------------------------------------------------------------- targets
class _Targets:
    """The distinct targets of the selected points (base target x overrides x chip grid), each built once through
    the target loader, so that it checks every override; a point names its target by key."""

    def __init__(self, sweep: Sweep) -> None:
        from spikemesh.target.registry import target as find_target

        self.sweep = sweep
        self.names = [n for n in sweep.axes if is_target_axis(n)]
        self.bases: dict[Any, Target] = {}
        for b in sweep.axes.get("target", ["tianjic"]):
            text = str(b)
            try:
                self.bases[b] = find_target(sweep.root / text if text.endswith(".toml") else text)
            except SpikemeshError as e:
                raise _axis_error("target", b, e) from None
        self.keys: dict[tuple[Any, ...], str] = {}

    def key(self, values: dict[str, Any]) -> str:
        combo = tuple(values[n] for n in self.names)
        if combo not in self.keys:
            own = dict(zip(self.names, combo))
            t = _override(self.bases[own.get("target", next(iter(self.bases)))], own)
            key = hashlib.sha256(json.dumps([self.names, list(combo)], default=str).encode()).hexdigest()[:16]
            self.sweep.targets[key] = t
            self.keys[combo] = key
        return self.keys[combo]


def _override(base: Target, values: dict[str, Any]) -> Target:
    from spikemesh.target.registry import target_from_dict, target_to_dict

    d = target_to_dict(base)
    chips = None
    for name, v in values.items():
        if name == "target":
            continue
        if name == "chips":
            chips = _grid(v)
            continue
        if name == "clock_hz":
            d["clock_hz"] = v
            continue
        section, _, key = name.partition(".")
        cls = {"chip": None, **_FIELD_SECTIONS}[section]
        if cls is not None:
            ftype = next(f.type for f in fields(cls) if f.name == key)
            if not _matches(v, str(ftype)):
                raise SweepError(f"axis {name!r} value {v!r} has the wrong type", needed=str(ftype),
                                 available=type(v).__name__)
        elif not isinstance(v, int) or isinstance(v, bool):
            raise SweepError(f"axis {name!r} value {v!r} has the wrong type", needed="int", available=type(v).__name__)
        d.setdefault(section, {})[key] = v
        if section == "core" and "cores" in d:  # heterogeneous chips: the override applies to every core
            for c in d["cores"]:
                c[key] = v
    try:
        t = target_from_dict(d, where=base.name)
        return t.with_chips(*chips) if chips else t
    except SpikemeshError as e:
        changed = {k: v for k, v in values.items() if k != "target"}
        axis, value = next(iter(changed.items())) if len(changed) == 1 else ("target", values.get("target"))
        for k, v in changed.items():  # name the override the loader's message is about, when it says
            if k.split(".")[-1] in str(e):
                axis, value = k, v
        raise SweepError(f"axis {axis!r} value {value!r}: the target loader refuses it: {e}") from None


def _matches(v: Any, ftype: str) -> bool:
    kinds = {k.strip() for k in ftype.split("|")}
    if v is None:
        return "None" in kinds
    if isinstance(v, bool):
        return "bool" in kinds
    if isinstance(v, int):
        return bool(kinds & {"int", "float"})
    if isinstance(v, float):
        return "float" in kinds
    if isinstance(v, str):
        return "str" in kinds
    return False


# ----------------------------------------------------------------------------------------------- product
def _expand(sweep: Sweep, digests: dict[tuple[str, Any], str], targets: _Targets) -> list[Point]:
    """The points of the product that pass the filter, up to the ``points`` limit; only their targets are built and
    only their model / input pairs checked (a combination the filter removes is never checked)."""
    from spikemesh.sweep.filter_expr import compile_filter  # it raises SweepError, defined here

    names = list(sweep.axes)
    check = compile_filter(sweep.settings.get("filter"), names, sweep.source)
    limit = sweep.settings.get("points")
    settings = {k: sweep.settings[k] for k in ("samples", "steps") if k in sweep.settings}
    points: list[Point] = []
    pairs: set[tuple[Any, Any]] = set()
    for i, combo in enumerate(itertools.product(*sweep.axes.values())):
        values = dict(zip(names, combo))
        if check is not None and not check(values):
            continue
        if limit is not None and len(points) >= limit:
            break
        if "inputs" in values and (values["model"], values["inputs"]) not in pairs:
            _check_pair(sweep, values["model"], values["inputs"])
            pairs.add((values["model"], values["inputs"]))
        ident = {"values": values, "files": {f"{a}={v}": d for (a, v), d in digests.items() if values.get(a) == v},
                 "settings": settings}
        key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]
        points.append(Point(index=i, values=values, key=key,
                            target_key=targets.key(values)))
    if not points:
        why = "[sweep] points = 0" if limit == 0 else f"the filter {sweep.settings['filter']!r} rejects every point"
        raise SweepError(f"the sweep is empty: {why}", node=sweep.source, needed=">= 1 point", available=0)
    return points
