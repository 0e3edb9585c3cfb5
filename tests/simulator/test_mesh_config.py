"""The mesh chip configuration (docs/config.md): emitted by compile, saved and reloaded, refused when newer, run alone
by the cycle engine spike-equal to the reference (random graphs x targets: multi-chip, partial sums, source cores,
shared kernels), and verified (``spikemesh verify``), with every tampering reported."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import spikemesh
from spikemesh.backends.mesh.config import FORMAT_VERSION, MeshConfig, load_config
from spikemesh.backends.mesh.verify import verify_config, verify_dir
from spikemesh.errors import FileFormatError
from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection
from spikemesh.ir.reference import run_reference
from spikemesh.target.model import CoreSpec, NocSpec, Target
from tests.simulator.strategies import integer_graphs

FEATURES = frozenset({"IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator", "reset_zero", "reset_subtract",
                      "reset_none", "refractory", "delay", "multicast", "recurrence", "partial_sums"})
FAST = {"placer": "rowmajor", "routing": "xy", "time_limit": 1.0}


def small_target(kind: str) -> Target:
    """2x2 chips of 2x2 cores with tiny cores: ``multi`` (3 neurons per core), ``psum`` (few axons: partial-sum
    trees), ``source`` (inputs replayed by source cores), ``shared`` (conv kernels stored once per core)."""
    core = {"multi": CoreSpec(3, 64, 64 * 64 * 8), "psum": CoreSpec(4, 16, 16 * 4 * 8),
            "source": CoreSpec(3, 64, 64 * 64 * 8), "shared": CoreSpec(8, 64, 64 * 8 * 8)}[kind]
    feats = FEATURES | ({"input_cores"} if kind == "source" else set()) | ({"shared_kernels"} if kind == "shared"
                                                                          else set())
    return Target(name=f"t-{kind}", chips_x=2, chips_y=2, cores_x=3, cores_y=3, core=core, features=feats,
                  noc=NocSpec(interchip_hop_cycles=5))


def conv_dense_graph(seed: int = 0) -> tuple[Graph, np.ndarray]:
    """in 2x4x4 -> conv 3x3 (2 channels, pad 1) -> dense 5: conv blocks and explicit entries, partial sums on
    small cores."""
    rng = np.random.default_rng(seed)
    g = Graph(inputs=(Input("in", (2, 4, 4)),),
              populations=(Population("c", (2, 4, 4), IF(threshold=3.0, state_bits=16)),
                           Population("d", (5,), IF(threshold=4.0, state_bits=16))),
              projections=(Projection("a", "in", "c", (Conv2d(rng.integers(-2, 4, (2, 2, 3, 3)).astype(float),
                                                               bias=np.array([1.0, -1.0]), padding=1),)),
                           Projection("b", "c", "d", (Flatten(), Dense(rng.integers(-2, 3, (5, 32)).astype(float))))),
              outputs=(Output("o", "d"),))
    x = (rng.random((12, 2, 2, 4, 4)) < 0.5).astype(float)
    return g, x


def assert_equal_runs(prog: spikemesh.Program, x: np.ndarray) -> None:
    res = spikemesh.simulate(prog, x, engine="cycle", source="config")
    ref = run_reference(prog.graph, x, mode="int")
    assert res.stats["source"] == "config"
    for k in ref.spikes:
        np.testing.assert_array_equal(res.spikes[k], ref.spikes[k], err_msg=k)
    for k in ref.v:
        np.testing.assert_array_equal(res.v[k], ref.v[k], err_msg=k)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    g, x = conv_dense_graph()
    prog = spikemesh.compile(g, small_target("psum"), **FAST)
    d = prog.save(tmp_path_factory.mktemp("b") / "build")
    return prog, x, d


def test_compile_emits_config_and_roundtrips(built):
    prog, x, d = built
    cfg = prog.config
    assert isinstance(cfg, MeshConfig)
    assert (cfg["core_role"] == 1).any(), "the psum target should give partial-sum trees"
    assert cfg["conv_core"].size and cfg["syn_ptr"][-1] > 0
    assert cfg.header["counts"]["interchip_links"] > 0
    head = json.loads((d / "mesh_config.json").read_text())
    assert head["format_version"] == FORMAT_VERSION and len(head["cores"]) == cfg.n_cores
    back = load_config(d)
    assert set(back.arrays) == set(cfg.arrays)
    for k, v in cfg.arrays.items():
        np.testing.assert_array_equal(back[k], v, err_msg=k)
    again = spikemesh.Program.load(d)
    assert_equal_runs(again, x)
    # table entries per router equal the tables section's compressed counts
    assert np.array_equal(np.diff(cfg["rt_ptr"]), prog.tables.compressed)


def test_emission_is_deterministic(built, tmp_path):
    prog, _, d = built
    d2 = prog.save(tmp_path / "again")
    assert (d / "mesh_config.json").read_bytes() == (d2 / "mesh_config.json").read_bytes()
    a, b = load_config(d), load_config(d2)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a.arrays)


def test_newer_version_refused(built, tmp_path):
    _, _, d = built
    import shutil

    dst = tmp_path / "newer"
    shutil.copytree(d, dst)
    head = json.loads((dst / "mesh_config.json").read_text())
    head["format_version"] = FORMAT_VERSION + 1
    (dst / "mesh_config.json").write_text(json.dumps(head))
    with pytest.raises(FileFormatError, match="newer spikemesh"):
        load_config(dst)
    with pytest.raises(FileFormatError, match="newer"):
        MeshConfig.from_parts(head, {})


def test_verify_clean_build(built):
    prog, _, d = built
    problems, summary = verify_dir(d)
    assert problems == [] and summary["graph"]


def _tampered(cfg: MeshConfig, **arrays: np.ndarray) -> MeshConfig:
    return MeshConfig(cfg.header, {**cfg.arrays, **arrays})


def _one(problems: list[str], check: str, text: str) -> None:
    assert any(p.startswith(check) and text in p for p in problems), problems


def test_verify_reports_each_tampering(built):
    prog, _, _ = built
    cfg, g = prog.config, prog.graph
    a = cfg.arrays
    # a weight changed: the synapse's weight differs from the graph's
    w = a["syn_weight"].copy()
    i = int(np.flatnonzero(a["syn_proj"] >= 0)[0])
    w[i] = w[i] + 1 if w[i] < 100 else w[i] - 1
    _one(verify_config(_tampered(cfg, syn_weight=w), g), "synapses", "has weight")
    # a weight out of the 8-bit range
    w = a["syn_weight"].astype(np.int32)
    w[i] = 300
    _one(verify_config(_tampered(cfg, syn_weight=w), g), "memory", "outside the signed 8-bit range")
    # a synapse entry duplicated (and so the core's synapse bits grow)
    ptr = a["syn_ptr"].copy()
    core = int(np.searchsorted(ptr, i, side="right") - 1)
    ptr[core + 1:] += 1
    dup = {k: np.insert(a[k], i, a[k][i]) for k in ("syn_axon", "syn_lane", "syn_weight", "syn_delay", "syn_proj")}
    _one(verify_config(_tampered(cfg, syn_ptr=ptr, **dup), g), "synapses", "appears more than once")
    _one(verify_config(_tampered(cfg, syn_ptr=ptr, **dup), None), "synapses", "appears more than once")
    # a synapse entry dropped: missing
    ptr = a["syn_ptr"].copy()
    ptr[core + 1:] -= 1
    drop = {k: np.delete(a[k], i) for k in ("syn_axon", "syn_lane", "syn_weight", "syn_delay", "syn_proj")}
    _one(verify_config(_tampered(cfg, syn_ptr=ptr, **drop), g), "synapses", "is missing")
    # a conv kernel weight changed
    kern = a["conv_weight"].copy()
    kern[:] = np.where(kern < 100, kern + 1, kern - 1)
    _one(verify_config(_tampered(cfg, conv_weight=kern), g), "synapses", "a: synapse")
    # a routing-table entry's ports changed: some key no longer reaches its cores (or reaches others)
    ports = a["rt_ports"].copy()
    k = int(np.flatnonzero(ports & 16)[0])
    ports[k] &= ~np.uint8(16)
    _one(verify_config(_tampered(cfg, rt_ports=ports), g), "routing", "does not reach core")
    # a loop: send a packet back where it came from
    ports = a["rt_ports"].copy()
    rr = a["rt_router"]
    loop = None
    for e in range(ports.size):
        if ports[e] & 1:  # E: make the east neighbour send it west for the same key
            r = int(np.searchsorted(a["rt_ptr"], e, side="right") - 1)
            nxt = (int(rr[r, 0]) + 1, int(rr[r, 1]))
            hit = [q for q in range(rr.shape[0]) if (int(rr[q, 0]), int(rr[q, 1])) == nxt]
            if hit:
                q = hit[0]
                for f in range(int(a["rt_ptr"][q]), int(a["rt_ptr"][q + 1])):
                    if (a["rt_key"][e] & a["rt_mask"][f]) == a["rt_key"][f]:
                        loop = f
                        break
            if loop is not None:
                break
    assert loop is not None
    ports[loop] |= 2
    _one(verify_config(_tampered(cfg, rt_ports=ports), g), "routing", "reached twice (loop)")
    # a table entry removed: no entry on the way
    keyc = a["rt_key"].copy()
    keyc[int(np.flatnonzero(ports & 16)[-1])] ^= np.int64(1 << (cfg.neuron_bits + 20))
    _one(verify_config(_tampered(cfg, rt_key=keyc), g), "routing", "")
    # too many neurons on a core (a limit lowered in the header)
    head = json.loads(json.dumps(cfg.header))
    head["target"]["limits"]["neurons"] = 1
    head["target"]["limits"]["axons"] = 1
    head["target"]["limits"]["synapse_bits"] = 8
    head["target"]["limits"]["table_entries"] = 1
    probs = verify_config(MeshConfig(head, cfg.arrays), g)
    for what in ("neurons", "axons", "synapse_bits"):
        _one(probs, "memory", f"{what} ")
    _one(probs, "memory", "table entries over the limit 1")
    # an axon listening to a key nobody sends
    ak = a["axon_key"].copy()
    ak[-1] = ak[-1] + (1 << (cfg.neuron_bits + 25))
    _one(verify_config(_tampered(cfg, axon_key=ak), g), "axons", "which no core or host input sends")
    # an inter-chip link dropped from the list
    links = a["link_interchip"][1:]
    _one(verify_config(_tampered(cfg, link_interchip=links), g), "links", "used but not listed")


def test_cli_verify(built, tmp_path, capsys):
    import shutil

    from spikemesh.cli import main

    _, _, d = built
    assert main(["verify", str(d)]) == 0
    assert "ok" in capsys.readouterr().out
    dst = tmp_path / "bad"
    shutil.copytree(d, dst)
    head = json.loads((dst / "mesh_config.json").read_text())
    head["target"]["limits"]["neurons"] = 1
    (dst / "mesh_config.json").write_text(json.dumps(head))
    assert main(["verify", str(dst)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith("memory: core") for line in out if line.startswith("memory"))
    assert main(["verify", str(tmp_path / "nothing")]) == 2


def test_float_model_has_no_config():
    g = Graph(inputs=(Input("in", (3,)),), populations=(Population("p", (2,), IF()),),
              projections=(Projection("a", "in", "p", (Dense(np.full((2, 3), 0.5)),)),), outputs=(Output("o", "p"),))
    prog = spikemesh.compile(g, small_target("multi"), quantize=False, **FAST)
    assert prog.config is None and "skipped" in prog.report["config"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(integer_graphs(integer=True), st.sampled_from(["multi", "psum", "source", "shared"]))
def test_config_engine_equals_reference_random(case, kind):
    g, x = case
    try:
        prog = spikemesh.compile(g, small_target(kind), **FAST)
    except spikemesh.SpikemeshError:
        return  # a graph these tiny cores cannot hold is not a configuration case
    assert_equal_runs(prog, x)
    problems = verify_config(prog.config, prog.graph)
    if kind == "psum" and any(p.neuron.ports > 1 for p in g.populations):
        # known partition gap: a merge core receives one partial sum per neuron *and port* of a multi-port
        # population, the partition counts one per neuron, so such a merge core can exceed its axons
        problems = [p for p in problems if not (p.startswith("memory: core") and " axons " in p)]
    if prog.config.header["warnings"]:  # a chain of weighted ops (conv, pool, dense) multiplied past weight_bits
        problems = [p for p in problems if not p.startswith("memory: syn_weight")]
    assert problems == []


@pytest.mark.parametrize("kind", ["multi", "psum", "source", "shared"])
def test_config_engine_conv_dense(kind):
    g, x = conv_dense_graph(1)
    prog = spikemesh.compile(g, small_target(kind), **FAST)
    assert_equal_runs(prog, x)
    assert verify_config(prog.config, prog.graph) == []


def test_demo_on_tianjic_grid():
    from spikemesh.data.demo import load_demo

    g, x, _ = load_demo()
    t = replace(spikemesh.target("tianjic:2x2"), cores_x=3, cores_y=3,
                core=CoreSpec(neurons=128, axons=256, synapse_bits=22 * 1024 * 8))
    prog = spikemesh.compile(g, t, **FAST)
    assert prog.config.header["counts"]["interchip_links"] > 0
    assert_equal_runs(prog, x[:6, :2])
    assert verify_config(prog.config, prog.graph) == []


def test_worked_example_of_the_docs(tmp_path, capsys):
    """docs/config.md "Worked example: two cores", figure by figure."""
    from spikemesh.cli import main
    from spikemesh.ir import LIF

    g = Graph(inputs=(Input("in", (3,)),),
              populations=(Population("h", (4,), IF(threshold=2.0, state_bits=8)),
                           Population("o", (2,), LIF(0.5, threshold=3.0, reset="zero", state_bits=8))),
              projections=(Projection("in>h", "in", "h", (Dense([[1., 0, 2], [0, 1, 0], [1, 1, 0], [0, 0, 3]]),)),
                           Projection("h>o", "h", "o", (Dense([[1., 1, -1, 0], [0, 2, 0, 1]], bias=[0., 1.]),))),
              outputs=(Output("out", "o"),))
    t = Target(name="two", cores_x=2, cores_y=1, core=CoreSpec(neurons=4, axons=8, synapse_bits=256),
               features=frozenset({"IF", "LIF", "reset_zero", "reset_subtract"}))
    p = spikemesh.compile(g, t, placer="rowmajor", routing="xy")
    c = p.config
    assert c.header["keys"] == {"neuron_bits": 2, "key_bits": 4, "n_inputs": 1}
    assert c["core_key"].tolist() == [1, 2] and c["core_sends"].tolist() == [True, False]
    assert c["axon_key"].tolist() == [0, 1, 2, 4, 5, 6, 7] and c["axon_ptr"].tolist() == [0, 3, 7]
    assert c["slot_threshold"].tolist() == [2, 2, 2, 2, 3, 3]
    assert c["slot_beta"].tolist() == [4096] * 4 + [2048] * 2
    assert c["lane_bias"][:, 0].tolist() == [0, 0, 0, 0, 0, 1]
    assert c["syn_ptr"].tolist() == [0, 12, 20]
    assert c["syn_weight"].tolist() == [1, 0, 1, 0, 0, 1, 1, 0, 2, 0, 0, 3, 1, 0, 1, 2, -1, 0, 0, 1]
    assert c["rt_router"].tolist() == [[0, 0], [1, 0]] and c["rt_ptr"].tolist() == [0, 2, 3]
    assert c["rt_key"].tolist() == [0, 4, 0] and c["rt_mask"].tolist() == [12, 12, 8]
    assert c["rt_ports"].tolist() == [16, 1, 16]
    x = np.array([[[1, 0, 1]], [[1, 1, 0]], [[0, 1, 1]], [[1, 1, 1]]])
    r = spikemesh.simulate(p, x, engine="cycle", source="config")
    assert r.spikes["h"][:, 0].astype(int).tolist() == [[1, 0, 0, 1], [1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 1, 1]]
    assert r.spikes["o"][:, 0].astype(int).tolist() == [[0, 0], [0, 0], [0, 1], [0, 0]]
    d = p.save(tmp_path / "two")
    assert main(["verify", str(d)]) == 0
    assert capsys.readouterr().out.startswith("ok: 2 cores, 7 axons, 20 synapse entries")
    head = json.loads((d / "mesh_config.json").read_text())
    head["target"]["limits"]["neurons"] = 1
    (d / "mesh_config.json").write_text(json.dumps(head))
    assert main(["verify", str(d)]) == 2
    assert capsys.readouterr().out.splitlines() == ["memory: core 0: neurons 4 over the limit 1",
                                                    "memory: core 1: neurons 2 over the limit 1"]


def test_cli_simulate_from_config(built, tmp_path):
    from spikemesh.cli import main

    _, x, d = built
    f = tmp_path / "x.npy"
    np.save(f, x)
    assert main(["simulate", str(d), "-i", str(f), "-e", "cycle", "--source", "config"]) == 0
    assert json.loads((d / "report.json").read_text())["simulation"]["source"] == "config"
    assert main(["simulate", str(d), "-i", str(f), "-e", "fast", "--source", "config"]) == 2
