"""The import graph follows the pipeline: no module imports from a later stage, and no private name crosses a
package boundary. A stage is a top-level package (or module) of spikemesh; ``LAYERS`` lists them in pipeline
order, and a module may import from its own layer or any earlier one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "spikemesh"

#: stages in pipeline order; each entry is the set of top-level names (packages or modules) in that layer
LAYERS: list[set[str]] = [
    {"errors", "checks", "fileio", "isolate", "lazy", "options", "budget"},  # shared plumbing
    {"target"},  # the chip model and mesh geometry every later stage reads
    {"ir"},
    {"frontend"},
    {"partition"},
    {"placement"},
    {"routing"},
    {"simulator"},
    {"backends", "trainer"},  # target families: their stages, configurations and engines
    {"report"},  # what a build shows: maps
    {"program", "pipeline", "simulate", "sweep", "cli", "data", "plot", "__init__"},  # the API and the command line
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                lines.update(range(sub.lineno, (sub.end_lineno or sub.lineno) + 1))
    return lines


def imports(module: str, source: str, is_package: bool = False) -> list[tuple[int, str, list[str]]]:
    """(line, imported spikemesh module, imported names) for every import in ``source`` (the text of
    ``module``), function-local ones included, ``if TYPE_CHECKING:`` blocks excluded."""
    tree = ast.parse(source)
    skip = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "spikemesh" or target.startswith("spikemesh."):
                found.append((node.lineno, target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("spikemesh")]
    return found


FILES = sorted(ROOT.rglob("*.py"))


def test_every_stage_has_a_layer() -> None:
    stages = {_stage(_module_name(p)) for p in FILES}
    assert stages <= set(LAYER_OF), f"add to LAYERS: {sorted(stages - set(LAYER_OF))}"


def problems(module: str, source: str, is_package: bool = False) -> list[str]:
    """Back edges and private names across packages in one module's imports."""
    me = _stage(module)
    problems = []
    for line, target, names in imports(module, source, is_package):
        other = _stage(target)
        if target == "spikemesh":  # ``from spikemesh import x``: x is a stage or an API name
            for n in names:
                stage = n if n in LAYER_OF else "__init__"
                if LAYER_OF[stage] > LAYER_OF[me]:
                    problems.append(f"line {line}: imports spikemesh.{n} from a later stage")
            continue
        if LAYER_OF[other] > LAYER_OF[me]:
            problems.append(f"line {line}: {me} (layer {LAYER_OF[me]}) imports {target} (layer {LAYER_OF[other]})")
        if other != me:
            problems += [f"line {line}: private name {n} imported from {target}" for n in names if n.startswith("_")]
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_back_edge_and_no_private_name_across_packages(path: Path) -> None:
    found = problems(_module_name(path), path.read_text(), path.name == "__init__.py")
    assert not found, "\n".join(found)


def test_the_checker_sees_back_edges_and_private_names() -> None:
    """The check itself can fail: a partition module importing the simulator (even inside a function) or a
    private name of the IR is reported; an earlier stage and a TYPE_CHECKING import are not."""
    source = ("from typing import TYPE_CHECKING\nfrom spikemesh.ir.graph import Graph\n"
              "if TYPE_CHECKING:\n    from spikemesh.program import Program\n"
              "def f():\n    from spikemesh.simulator.fast import run_fast\n    from ..ir.reference import _x\n")
    found = problems("spikemesh.partition.fake", source)
    assert found == ["line 6: partition (layer 4) imports spikemesh.simulator.fast (layer 7)",
                     "line 7: private name _x imported from spikemesh.ir.reference"]
