"""Program: compile, save, load; sections exist in the format; failed or corrupt saves are clear."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.errors import FileFormatError
from spikemesh.ir import Graph
from spikemesh.program import LEGACY_TYPES, SECTION_TYPES, SECTIONS, Program, section_class


def test_compile_save_load_round_trip(conv_graph: Graph, tmp_path: Path) -> None:
    prog = spikemesh.compile(conv_graph, "tianjic:2x1", seed=3)
    out = prog.save(tmp_path / "build")
    files = {p.name for p in out.iterdir()}
    assert {"program.json", "weights.npz", "report.json"} <= files
    head = json.loads((out / "program.json").read_text())
    assert set(SECTIONS) <= set(head["sections"])
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["neurons"] == 256 + 64 + 3
    # synapses: conv 3x3 padded (counted by hand below) + pool 256 + dense 192
    conv_syn = 4 * 2 * sum(min(i + 1, 7) - max(i - 1, 0) + 1 for i in range(8)) ** 2
    assert report["model"]["synapses"] == conv_syn + 256 + 3 * 64
    assert report["target"]["cores"] == 2 * 156 and report["time"]
    back = Program.load(out)
    assert back.graph == prog.graph and prog.graph.is_quantized
    assert back.target == prog.target and back.options.seed == 3
    x = (np.random.default_rng(1).random((6, 2, 2, 8, 8)) < 0.4).astype(np.uint8)
    a, b = spikemesh.simulate(prog, x), back.simulate(x)
    for k in a.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k])


def test_resave_replaces_and_tamper_is_detected(conv_graph: Graph, tmp_path: Path) -> None:
    out = tmp_path / "b"
    spikemesh.compile(conv_graph).save(out)
    (out / "stale.txt").write_text("old")
    spikemesh.compile(conv_graph).save(out)
    assert not (out / "stale.txt").exists()
    head = json.loads((out / "program.json").read_text())
    head["graph"]["dt"] = 0.5
    (out / "program.json").write_text(json.dumps(head))
    with pytest.raises(FileFormatError, match="checksum"):
        Program.load(out)
    head["format_version"] = 99
    (out / "program.json").write_text(json.dumps(head))
    with pytest.raises(FileFormatError, match="newer"):
        Program.load(out)


def test_load_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="program.json missing"):
        Program.load(tmp_path)


def test_failed_save_leaves_nothing(conv_graph: Graph, tmp_path: Path) -> None:
    class Broken:
        section_type = "routes"

        def to_parts(self) -> tuple[dict, dict]:
            return {}, {}

        def export(self, directory: Path, program: Program) -> None:
            (directory / "placement.json").write_text("{")
            raise RuntimeError("disk full")

    prog = spikemesh.compile(conv_graph).with_section("routes", Broken())
    with pytest.raises(RuntimeError):
        prog.save(tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_same_inputs_same_bytes(conv_graph: Graph, tmp_path: Path) -> None:
    """Determinism: two compiles with one seed give byte-identical weights and program structure (only the
    measured stage times in the report may differ)."""
    a, b = tmp_path / "a", tmp_path / "b"
    spikemesh.compile(conv_graph, seed=1).save(a)
    spikemesh.compile(conv_graph, seed=1).save(b)
    for f in ("weights.npz", "partition.json", "placement.json", "routes.json", "placement.svg", "placement.png"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    ja, jb = (json.loads((d / "program.json").read_text()) for d in (a, b))
    for j in (ja, jb):
        j["report"].pop("time")
        for stage in ("partition", "placement", "routing"):
            j["report"].get(stage, {}).pop("seconds", None)  # measured wall time of the stage
        j.pop("checksum")
    assert ja == jb
    conv_graph.save(tmp_path / "g1.smg")
    conv_graph.save(tmp_path / "g2.smg")
    assert (tmp_path / "g1.smg").read_bytes() == (tmp_path / "g2.smg").read_bytes()
    assert (a / "report.json").stat().st_mode & 0o044  # readable by others, as an ordinary file


def test_same_bytes_across_processes(conv_graph: Graph, tmp_path: Path) -> None:
    """Two processes with different string-hash seeds compile one model (with source cores, so the map's legend
    mixes inputs and populations) to byte-identical artifacts."""
    import os
    import subprocess
    import sys

    conv_graph.save(tmp_path / "m.smg")
    (tmp_path / "t.toml").write_text('name = "t"\nfeatures = ["IF", "LIF", "Integrator", "reset_zero", '
                                     '"reset_subtract", "multicast", "input_cores"]\n'
                                     "[chip]\ncores_x = 3\ncores_y = 3\n[core]\nneurons = 64\naxons = 256\n"
                                     "synapse_bits = 180224\n")
    for k in ("a", "b"):
        env = {**os.environ, "PYTHONHASHSEED": "1" if k == "a" else "2"}
        subprocess.run([sys.executable, "-m", "spikemesh.cli", "compile", str(tmp_path / "m.smg"), "--target",
                        str(tmp_path / "t.toml"), "--out", str(tmp_path / k), "--time-limit", "2"], env=env,
                       check=True, capture_output=True)
    for f in ("weights.npz", "partition.json", "placement.json", "routes.json", "placement.svg", "placement.png"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


FIXTURES = Path(__file__).parent / "fixtures" / "builds_v1"


@pytest.mark.parametrize("name,engine", [("mesh", "fast"), ("mesh", "cycle"), ("speck", "reference"),
                                         ("crossbar", "crossbar")])
def test_builds_saved_before_registered_section_names_load(name: str, engine: str) -> None:
    """Builds written at commit 2a0fbf8 named section types by module path; they load through LEGACY_TYPES and
    run to the reference spikes saved with them."""
    head = json.loads((FIXTURES / name / "program.json").read_text())
    assert all(":" in s["type"] for s in head["sections"].values() if s)  # the old spelling
    prog = Program.load(FIXTURES / name)
    for sec, entry in head["sections"].items():
        if entry is not None:
            assert type(prog.sections[sec]).section_type == LEGACY_TYPES[entry["type"]]
    with np.load(FIXTURES / f"{name}_expect.npz") as z:
        x, expect = z["x"], {k: z[k] for k in z.files if k != "x"}
    res = prog.simulate(x, engine=engine, **({"config": {"adc_bits": None}} if engine == "crossbar" else {}))
    for pop, spikes in expect.items():
        np.testing.assert_array_equal(np.asarray(res.spikes[pop]).astype(int), spikes.astype(int), err_msg=pop)


def test_section_types_name_their_classes() -> None:
    """Every registered name leads to a class that saves under that name; every legacy path maps to one."""
    for name in SECTION_TYPES:
        assert section_class(name, "test").section_type == name
    assert set(LEGACY_TYPES.values()) <= set(SECTION_TYPES)


def test_unknown_option_is_an_error_naming_the_valid_ones() -> None:
    from spikemesh.data.demo import demo_paths

    g = spikemesh.Graph.load(demo_paths()[0])
    with pytest.raises(spikemesh.SpikemeshError, match="unknown compile option 'stratgy'") as e:
        spikemesh.compile(g, "tianjic", stratgy="tiles")
    assert "strategy" in str(e.value)


def test_target_keyword_selects_the_family() -> None:
    """``compile(graph, target="speck")`` compiles for Speck (the keyword is the target, not an ignored option)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from speck.helpers import chain

    g = chain([{"kind": "conv", "c": 4, "k": 3, "p": 1}, {"kind": "dense", "c": 10, "pool": 2}], (2, 8, 8))
    prog = spikemesh.compile(g, target="speck")
    assert prog.target.family == "speck" and type(prog.config).section_type == "speck_config"
