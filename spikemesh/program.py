"""The ``Program``: what ``compile`` returns and saves.

A Program is the IR graph, the Target, the compile options, and one section per compiler stage (partition,
placement, routes, routing tables, deadlock certificate, backend chip configuration), plus the ``report`` dict.
A section is an artifact with a registered ``section_type`` name, ``to_parts() -> (json-able dict, {name:
array})`` and a classmethod ``from_parts(meta, arrays)``; a stage that has not run leaves its section ``None``.
``program.json`` names each section's type by its registered name (``SECTION_TYPES``), so moving a class between
modules does not break saved builds; the module paths older builds stored are read through ``LEGACY_TYPES``.

``Program.save(dir)`` writes ``program.json`` (structure, target, section metadata, report, checksum) and
``weights.npz`` (every array), then ``report.json``, whatever per-section exports the sections provide
(``routes.json``, ``<backend>_config.json``...), the placement map files and ``report.html``
(``spikemesh.report.html``). The directory is written to a temporary sibling and swapped into place in one atomic
exchange, so a failed or killed save leaves no half-written directory; ``save`` replaces only an absent path, an
empty directory or a spikemesh build unless ``force=True`` (``spikemesh.fileio.check_output_dir``).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from spikemesh.errors import FileFormatError, OutputError, SpikemeshError, located
from spikemesh.fileio import (
    atomic_write_json,
    check_output_dir,
    json_default,
    new_temp_dir,
    npz_bytes,
    read_build_files,
    replace_dir,
)
from spikemesh.ir.graph import Graph
from spikemesh.ir.serialize import checksum, graph_from_parts, graph_to_parts
from spikemesh.options import CompileOptions
from spikemesh.target.model import Target
from spikemesh.target.registry import target_from_dict, target_to_dict

FORMAT = "spikemesh-program"
FORMAT_VERSION = 1

#: Program sections in pipeline order; each is None until its stage has run.
SECTIONS = ("partition", "placement", "routes", "tables", "certificate", "config")

#: registered section type name -> the class that reads it ("module:qualname", imported when a build is loaded)
SECTION_TYPES: dict[str, str] = {
    "partition": "spikemesh.partition.artifact:Partition",
    "placement": "spikemesh.placement.place:Placement",
    "routes": "spikemesh.routing.routes:Routes",
    "tables": "spikemesh.routing.tables:Tables",
    "certificate": "spikemesh.routing.deadlock:Certificate",
    "speck_config": "spikemesh.backends.speck.config:SpeckConfig",
    "crossbar_config": "spikemesh.backends.crossbar.config:CrossbarProgram",
    "mesh_config": "spikemesh.backends.mesh.config:MeshConfig",
}

#: section types as builds saved before registered names spelt them ("module:qualname" -> registered name)
LEGACY_TYPES: dict[str, str] = {
    "spikemesh.partition.artifact:Partition": "partition",
    "spikemesh.placement.place:Placement": "placement",
    "spikemesh.placement.routing:Routes": "routes",
    "spikemesh.placement.tables:Tables": "tables",
    "spikemesh.placement.deadlock:Certificate": "certificate",
    "spikemesh.backends.speck.config:SpeckConfig": "speck_config",
    "spikemesh.simulator.cores.crossbar.cores:CrossbarProgram": "crossbar_config",
}


class Artifact(Protocol):
    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Artifact: ...


@dataclass(frozen=True)
class Program:
    """A compiled model. ``sections`` maps a name in ``SECTIONS`` to a stage artifact or None; ``report``
    holds cores, traffic, energy, latency and times (schema in docs/report.md); ``options`` the compile options
    used; ``float_graph`` the user's float model when a stage replaced ``graph`` by its quantized form (a Speck
    build: the engines report their fidelity against both), None otherwise."""

    graph: Graph
    target: Target
    sections: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    options: CompileOptions = field(default_factory=CompileOptions)
    float_graph: Graph | None = None

    def __getattr__(self, name: str) -> Any:
        if name in SECTIONS:
            return self.sections.get(name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        from spikemesh.report.html import program_summary

        s = program_summary(self)
        return (f"Program(model={s['model']!r}, target={s['target']!r} ({s['family']}, {s['chips']} chips), "
                f"{s['layers']} layers, {s['neurons']:,} neurons, {s['synapses']:,} synapses, {s['cores']} cores, "
                f"sections={s['sections']}, compiled in {s['compile_s']:.2f} s)")

    def _repr_html_(self) -> str:
        from spikemesh.report.html import program_html

        return program_html(self)

    def with_section(self, name: str, artifact: Any) -> Program:
        if name not in SECTIONS:
            raise ValueError(f"unknown Program section {name!r}")
        return replace(self, sections={**self.sections, name: artifact})

    def with_report(self, **parts: Any) -> Program:
        return replace(self, report={**self.report, **parts})

    def simulate(self, inputs: Any, engine: str = "reference", record: list[str] | None = None, **kw: Any) -> Any:
        from spikemesh.simulate import simulate

        return simulate(self, inputs, engine=engine, record=record, **kw)

    # ------------------------------------------------------------------ save / load
    def _parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        gbody, arrays = graph_to_parts(self.graph, prefix="graph/")
        sections: dict[str, Any] = {}
        for name in SECTIONS:
            art = self.sections.get(name)
            if art is None:
                sections[name] = None
                continue
            meta, arrs = art.to_parts()
            sections[name] = {"type": type(art).section_type, "meta": meta}
            arrays.update({f"section/{name}/{k}": np.asarray(v) for k, v in arrs.items()})
        body = {
            "graph": gbody,
            "target": target_to_dict(self.target),
            "options": self.options.to_dict(),
            "sections": sections,
            "report": self.report,
        }
        if self.float_graph is not None:  # absent otherwise, so builds without one keep their checksum
            fbody, farrays = graph_to_parts(self.float_graph, prefix="float_graph/")
            body["float_graph"] = fbody
            arrays.update(farrays)
        # round-trip through JSON so the checksum sees exactly what load() will read
        body = json.loads(json.dumps(body, default=json_default))
        return body, arrays

    def save(self, directory: str | Path, force: bool = False) -> Path:
        """Write the Program's files into ``directory`` and return its path.

        ``directory`` must not exist, be an empty directory, or be a spikemesh build (its ``program.json``
        carries a spikemesh format); it is then replaced as a whole, crash-safe (after a kill at any instant it
        holds the old or the new complete build). Anything else raises OutputError unless ``force=True``."""
        if not isinstance(directory, str | os.PathLike) or not str(directory):
            raise OutputError("a build directory must be a path", node="Program.save", needed="str | Path",
                              available=type(directory).__name__)
        out = Path(directory)
        check_output_dir(out, force, flag="force=True")
        body, arrays = self._parts()
        head = {"format": FORMAT, "format_version": FORMAT_VERSION, "checksum": checksum(body, arrays), **body}
        tmp: Path | None = None
        try:
            tmp = new_temp_dir(out)
            (tmp / "weights.npz").write_bytes(npz_bytes(arrays))
            atomic_write_json(tmp / "program.json", head)
            atomic_write_json(tmp / "report.json", body["report"])
            for name in SECTIONS:
                art = self.sections.get(name)
                export = getattr(art, "export", None)
                if export is not None:
                    export(tmp, self)
            from spikemesh.report.html import write_build_views

            write_build_views(tmp, self)
            replace_dir(tmp, out)
        except OSError as e:
            raise OutputError(f"cannot write the build ({e.strerror or type(e).__name__})", node=str(out),
                              hint="check that the parent directory exists and is writable") from None
        except SpikemeshError as e:
            raise _renamed(e, tmp, out).at(str(out)) from None
        finally:
            if tmp is not None and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return out

    @staticmethod
    def load(directory: str | Path) -> Program:
        """Read a Program written by ``save``; a missing, corrupt, tampered or newer one raises FileFormatError."""
        if not isinstance(directory, str | os.PathLike):
            raise FileFormatError("a build directory must be a path", node="Program.load", needed="str | Path",
                                  available=type(directory).__name__)
        d = Path(directory)
        pj = d / "program.json"
        if not d.is_dir():
            raise FileFormatError("build directory not found" if not d.exists() else "not a directory",
                                  node=str(d), hint="run `spikemesh compile MODEL --target T --out DIR` first")
        head, arrays = read_build_files(
            d, "program.json", missing="not a compiled program", corrupt="corrupt program files",
            missing_hint="run `spikemesh compile MODEL --target T --out DIR` first", corrupt_hint="compile again")
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise FileFormatError("program.json is not a spikemesh program", node=str(pj), needed=FORMAT,
                                  available=head.get("format") if isinstance(head, dict) else type(head).__name__)
        v = head.get("format_version")
        if not isinstance(v, int) or isinstance(v, bool) or v > FORMAT_VERSION:
            raise FileFormatError("written by a newer spikemesh", node=str(pj),
                                  needed=f"format_version <= {FORMAT_VERSION}", available=v, hint="upgrade spikemesh")
        body = {k: head.get(k) for k in ("graph", "target", "options", "sections", "report")}
        if "float_graph" in head:
            body["float_graph"] = head["float_graph"]
        if checksum(body, arrays) != head.get("checksum"):
            raise FileFormatError("checksum mismatch: program.json and weights.npz do not belong together or "
                                  "one is corrupt", node=str(d), hint="compile again")
        with located(str(pj), "malformed build", hint="compile again"):
            for key, kind in (("graph", dict), ("target", dict), ("options", dict), ("sections", dict),
                              ("report", dict)):
                if not isinstance(body[key], kind):
                    raise FileFormatError(f"{key} must be an object", node=key, needed="an object",
                                          available=type(body[key]).__name__)
            graph = graph_from_parts(body["graph"], arrays, prefix="graph/")
            fgraph = None
            if body.get("float_graph") is not None:
                if not isinstance(body["float_graph"], dict):
                    raise FileFormatError("float_graph must be an object", node="float_graph",
                                          needed="an object", available=type(body["float_graph"]).__name__)
                fgraph = graph_from_parts(body["float_graph"], arrays, prefix="float_graph/")
            sections: dict[str, Any] = {}
            for name, entry in body["sections"].items():
                if entry is None:
                    continue
                if name not in SECTIONS:
                    raise FileFormatError(f"unknown section {name!r}", node="sections",
                                          needed="one of " + ", ".join(SECTIONS), available=name)
                if not isinstance(entry, dict) or not isinstance(entry.get("meta"), dict):
                    raise FileFormatError("a section entry needs a type and a meta object", node=name)
                pre = f"section/{name}/"
                arrs = {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}
                sections[name] = section_class(entry.get("type"), name).from_parts(entry["meta"], arrs)
            report = body["report"]
            if "simulation" not in report and (sim := _last_simulation(d)) is not None:
                report = {**report, "simulation": sim}
            return Program(graph=graph, target=target_from_dict(body["target"], where="target"), sections=sections,
                           report=report, options=_options(body["options"]), float_graph=fgraph)


def _last_simulation(directory: Path) -> dict[str, Any] | None:
    """The ``simulation`` entry `spikemesh simulate DIR` recorded in DIR/report.json (None without a readable one):
    a loaded build shows its last run (link heat, energy by core) wherever its report is read."""
    try:
        entry = json.loads((directory / "report.json").read_bytes().decode()).get("simulation")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


def _renamed(e: SpikemeshError, tmp: Path | None, out: Path) -> SpikemeshError:
    """``e`` with the temporary directory's path replaced by the user's ``out``."""
    def fix(v: Any) -> Any:
        return v.replace(str(tmp), str(out)) if isinstance(v, str) and tmp is not None else v

    err = type(e).__new__(type(e))
    SpikemeshError.__init__(err, fix(e.message), node=fix(e.node), needed=e.needed, available=e.available,
                            hint=e.hint)
    return err


def _options(stored: dict[str, Any]) -> CompileOptions:
    """The options a build was compiled with (fields a later spikemesh dropped are ignored)."""
    known = {f.name for f in fields(CompileOptions)}
    return CompileOptions(**{k: v for k, v in stored.items() if k in known})


def section_class(name: Any, where: str) -> type:
    """The class registered for a section type name (or for the module path an older build stored)."""
    spec = SECTION_TYPES.get(LEGACY_TYPES.get(name, name)) if isinstance(name, str) else None
    if spec is None:
        raise FileFormatError(f"unknown section type {name!r}", node=where,
                              needed="one of " + ", ".join(SECTION_TYPES), hint="upgrade spikemesh")
    module, _, qual = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise FileFormatError(f"unknown section type {spec!r}", node=where, hint="upgrade spikemesh") from None
    return obj
