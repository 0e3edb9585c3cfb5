"""Design-space sweeps: the same rows under every executor, rows equal to compiling and simulating each point by
hand, resume after a kill, one-line errors on bad input before any point runs, the tables and the page."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.cli import main
from spikemesh.data.demo import accuracy, load_demo
from spikemesh.errors import SpikemeshError
from spikemesh.sweep import SweepError, load_sweep
from spikemesh.sweep.html import pareto
from spikemesh.sweep.point import METRICS, TIMING, warm_up
from tests.sweep.procs import alive, end, kill_left, session

ROOT = Path(__file__).resolve().parents[2]

SWEEP8 = """
[axes]
model = "demo"
inputs = "demo"
target = ["tianjic", "tianjic:2x2"]
placer = ["anneal", "rowmajor"]
seed = [0, 1]
engine = "cycle"
"""


def _write(tmp: Path, text: str, name: str = "sweep.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def _design_columns(path: Path) -> list[list[str]]:
    """results.csv without its timing columns (compile_s, simulate_s, peak_rss_mib)."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [i for i, c in enumerate(rows[0]) if c not in TIMING]
    return [[r[i] for i in keep] for r in rows]


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs, started by the test (skips, with the reason, where Ray cannot run)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as e:  # noqa: BLE001 - any reason Ray cannot start here is a skip, with that reason
        pytest.skip(f"Ray cannot start here: {type(e).__name__}: {e}")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def serial8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("serial8")
    spikemesh.sweep(_write(tmp, SWEEP8), tmp / "out", executor="serial")
    return tmp / "out"


def test_rows_equal_compiling_and_simulating_each_point_by_hand(serial8: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((serial8 / "results.csv").read_text())))
    assert len(rows) == 8
    graph, x, y = load_demo()
    expected_order = list(itertools.product(["tianjic", "tianjic:2x2"], ["anneal", "rowmajor"], ["0", "1"]))
    assert [(r["target"], r["placer"], r["seed"]) for r in rows] == expected_order
    for r in rows:
        assert r["status"] == "ok", r["error"]
        program = spikemesh.compile(graph, r["target"], placer=r["placer"], seed=int(r["seed"]))
        result = spikemesh.simulate(program, x, engine="cycle")
        assert int(r["cores"]) == program.report["partition"]["cores"]
        assert r["chips"] == program.report["target"]["chips"]
        assert float(r["hop_weighted_traffic"]) == program.report["placement"]["hop_weighted_traffic"]
        assert float(r["max_link_load"]) == program.report["routing"]["max_link_load"]
        assert r["deadlock_free"] == "true"
        energy = result.stats["energy"]["total_pj"] / x.shape[1]
        latency = float(np.mean(result.stats["noc"]["latency_s_per_sample"]))
        assert float(r["energy_per_inference_pj"]) == pytest.approx(energy, rel=1e-12)
        assert float(r["latency_per_sample_s"]) == pytest.approx(latency, rel=1e-12)
        assert float(r["power_mw"]) == pytest.approx(energy * 1e-12 / latency * 1e3, rel=1e-9)  # pJ/s -> mW
        assert float(r["accuracy"]) == accuracy(result, y)
        assert float(r["compile_s"]) > 0 and float(r["simulate_s"]) > 0
        assert 50 < float(r["peak_rss_mib"]) < 8192  # the whole worker: interpreter, NumPy, Numba, OR-Tools


def test_points_differing_only_in_engine_compile_once_and_give_the_by_hand_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\ninputs = "demo"\nplacer = ["rowmajor", "zigzag"]\n'
                            'engine = ["fast", "cycle"]\n')
    warm_up()  # this process's one-off warm-up compile, before counting
    real_compile, calls = spikemesh.compile, []

    def counting_compile(*args, **kwargs):  # the real compile, counted
        calls.append(kwargs.get("placer"))
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(spikemesh, "compile", counting_compile)
    res = spikemesh.sweep(spec, tmp_path / "out", executor="serial")
    monkeypatch.undo()
    assert sorted(calls) == ["rowmajor", "zigzag"]  # one compile per placer, not per (placer, engine)
    graph, x, y = load_demo()
    assert [(r["placer"], r["engine"]) for r in res.rows] == [("rowmajor", "fast"), ("rowmajor", "cycle"),
                                                              ("zigzag", "fast"), ("zigzag", "cycle")]
    for r in res.rows:
        assert r["status"] == "ok", r["error"]
        program = spikemesh.compile(graph, "tianjic", placer=r["placer"])
        summary = spikemesh.simulate(program, x, engine=r["engine"]).summary()
        assert r["cores"] == program.report["partition"]["cores"]
        assert r["energy_per_inference_pj"] == pytest.approx(summary["energy_per_inference_uJ"] * 1e6, rel=1e-12)
        assert r["latency_per_sample_s"] == summary["latency_per_sample_s"]
    one = {r["placer"]: r["compile_s"] for r in res.rows}  # both rows of a placer carry its one compile
    assert all(r["compile_s"] == one[r["placer"]] for r in res.rows)
    again = spikemesh.sweep(spec, tmp_path / "local", executor="local", workers=2)
    assert _design_columns(tmp_path / "local" / "results.csv") == _design_columns(tmp_path / "out" / "results.csv")
    assert again.ran == 4 and again.failed == 0


def test_local_executor_gives_the_serial_rows(serial8: Path, tmp_path: Path) -> None:
    res = spikemesh.sweep(_write(tmp_path, SWEEP8), tmp_path / "out", executor="local", workers=2)
    assert res.ran == 8 and res.failed == 0
    assert _design_columns(tmp_path / "out" / "results.csv") == _design_columns(serial8 / "results.csv")


def test_ray_executor_gives_the_serial_rows(serial8: Path, tmp_path: Path, ray_local) -> None:
    res = spikemesh.sweep(_write(tmp_path, SWEEP8), tmp_path / "out", executor="ray")
    assert ray_local.is_initialized()  # the sweep joined the test's instance and left it running
    assert res.ran == 8 and res.failed == 0
    assert _design_columns(tmp_path / "out" / "results.csv") == _design_columns(serial8 / "results.csv")


def _assert_ray_summary(stdout: str, n: int) -> None:
    """The summary line of a sweep of ``n`` points that all ran on Ray."""
    assert f"{n} points ({n} run on Ray, 0 already done, 0 failed)" in stdout, stdout


def test_cli_joins_a_running_ray_cluster_by_address(serial8: Path, tmp_path: Path, ray_local) -> None:
    address = ray_local.get_runtime_context().gcs_address  # the test's instance, as a cluster head
    r = subprocess.run([sys.executable, "-m", "spikemesh.cli", "sweep", str(_write(tmp_path, SWEEP8)), "-o",
                        str(tmp_path / "out"), "--executor", "ray", "--address", address], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    _assert_ray_summary(r.stdout, 8)
    assert _design_columns(tmp_path / "out" / "results.csv") == _design_columns(serial8 / "results.csv")


def test_a_starting_local_ray_is_found_registered_by_the_check_that_replaces_rays_1_s_poll(ray_local) -> None:
    """The Ray driver process waits for its node with ray_child.registered (every 20 ms) before Ray's own
    get_node: the check sees the running node and not an unknown id, and the wrapped get_node returns Ray's
    record of the node."""
    from ray._private import services

    from spikemesh.sweep.ray_child import registered, registered_first

    ctx = ray_local.get_runtime_context()
    node = ctx.get_node_id()
    has = registered(ctx.gcs_address)
    assert has(node)
    assert not has("0" * len(node))
    assert registered_first(services.get_node)(ctx.gcs_address, node) == services.get_node(ctx.gcs_address, node)


NO_RAY_THERE = """
import sys
from spikemesh.cli import main
from spikemesh.sweep import ray_run

ray_run.UP_WITHIN_S = 3.0
sys.exit(main(sys.argv[1:]))
"""


def test_an_address_where_no_ray_answers_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Ray retries a wrong address for ever; the sweep gives up after its deadline (3 s here, 60 by default):
    one line naming the address, exit 2, Ray's own retry messages kept off the terminal, nothing left running."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag"]\n')
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", NO_RAY_THERE, "sweep", str(spec), "-o", str(tmp_path / "out"),
                             "--executor", "ray", "--address", "127.0.0.1:1"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=120)
        took = time.monotonic() - t0
        left = alive(session(proc.pid), within=5)
    finally:
        end(proc)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "Ray was not up after 3 s" in err and "--address 127.0.0.1:1" in err, err
    assert took < 60, took
    assert not left, left


def test_an_address_without_the_ray_executor_is_refused(tmp_path: Path) -> None:
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\n')
    with pytest.raises(SpikemeshError, match="--executor ray"):
        spikemesh.sweep(spec, tmp_path / "out", executor="local", address="127.0.0.1:6379")
    assert not (tmp_path / "out").exists()


CLI_THEN_WARM = """
import sys
from spikemesh.cli import main
from spikemesh.sweep import point

code = main(sys.argv[1:])
print("points run in this process:", point._WARM)  # a point warms its process up first
sys.exit(code)
"""


def test_cli_ray_without_address_starts_and_stops_its_own_ray(serial8: Path, tmp_path: Path) -> None:
    """The default of ``--executor ray``: a fresh process starts a local Ray instance, runs every point on it (none
    in the sweep's own process), gives the serial rows, and ends with Ray shut down (it exits on its own)."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    r = subprocess.run([sys.executable, "-c", CLI_THEN_WARM, "sweep", str(_write(tmp_path, SWEEP8)), "-o",
                        str(tmp_path / "out"), "--executor", "ray", "--workers", "2"], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    _assert_ray_summary(r.stdout, 8)
    assert "points run in this process: False" in r.stdout
    assert _design_columns(tmp_path / "out" / "results.csv") == _design_columns(serial8 / "results.csv")


def test_page_is_the_same_with_or_without_the_warm_up(serial8: Path) -> None:
    """A parallel sweep draws a small figure before its last point (html.warm); the page does not depend on it."""
    code = ("import sys; from spikemesh.sweep import html, load_sweep; from spikemesh.sweep.results import "
            "columns, read_point, table; from pathlib import Path; out = Path(sys.argv[1]); "
            "sw = load_sweep(sys.argv[2]); rows = table(sw, {p.key: read_point(out, p) for p in sw.points}); "
            "html.warm() if sys.argv[3] == 'warm' else None; sys.stdout.write(html.render(sw, columns(sw), rows))")
    spec = _write(serial8.parent, SWEEP8, "page.toml")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    pages = [subprocess.run([sys.executable, "-c", code, str(serial8), str(spec), mode], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300) for mode in ("cold", "warm")]
    assert all(p.returncode == 0 for p in pages), pages[0].stderr + pages[1].stderr
    assert pages[0].stdout == pages[1].stdout
    assert pages[0].stdout.count("<svg") == 5


def test_parquet_holds_the_csv_table(serial8: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed (the sweep extra)")
    t = pq.read_table(serial8 / "results.parquet").to_pylist()
    rows = list(csv.DictReader(io.StringIO((serial8 / "results.csv").read_text())))
    assert [r["key"] for r in t] == [r["key"] for r in rows]
    assert [r["cores"] for r in t] == [int(r["cores"]) for r in rows]
    assert [r["seed"] for r in t] == [int(r["seed"]) for r in rows]
    assert [r["energy_per_inference_pj"] for r in t] == [float(r["energy_per_inference_pj"]) for r in rows]
    assert all(r["deadlock_free"] is True for r in t)


def test_sweep_html_is_self_contained_with_fronts_and_axis_plots(serial8: Path) -> None:
    page = (serial8 / "sweep.html").read_text()
    assert page.count("<svg") == 2 + 3  # two Pareto fronts; one figure per axis with more than one value
    for banned in ("<script", "<link", "<img", "@import"):
        assert banned not in page
    assert not re.findall(r"url\((?!#)|(?:href|src)=[\"'](?!#)", page)  # only references within the page
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # several inline figures: no id clashes
    assert "by target" in page and "by placer" in page and "by seed" in page
    assert page.count("<tr") == 1 + 8


def test_kill_then_rerun_finishes_the_rest_and_equals_an_uninterrupted_run(serial8: Path, tmp_path: Path) -> None:
    spec = _write(tmp_path, SWEEP8)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spikemesh.cli", "sweep", str(spec), "-o", str(out), "--executor", "local",
           "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    points = out / "points"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(list(points.glob("*.json"))) < 1:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, as a killed job
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # the sweep was killed, it did not finish on its own
    finished = sorted(points.glob("*.json"))
    done = len(finished)
    # the kill came after the first point was written and before the sweep ended (it waited for one file and
    # killed at once; eight points on two workers take many seconds), so the rerun below has points to skip and
    # points to run
    assert 0 < done < 8, f"{done} points written before the kill"
    # every point file a killed sweep leaves is a whole row (written atomically): status, error and every metric
    for f in finished:
        row = json.loads(f.read_text())
        assert row["key"] == f.stem and set(METRICS) <= set(row["metrics"]), f.name
        assert row["metrics"]["status"] == "ok" and row["metrics"]["error"] is None, f.name
    assert not (out / "results.csv").exists()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{8 - done} run, {done} already done" in r.stdout
    assert not list(points.glob(".*.tmp"))  # temporary files of points killed mid-write are cleared
    assert _design_columns(out / "results.csv") == _design_columns(serial8 / "results.csv")


def test_ctrl_c_ends_the_local_pool_without_waiting_for_its_running_points(tmp_path: Path) -> None:
    """SIGINT to the sweep (Ctrl-C): exit code 130 within seconds, the pool's running point abandoned (a CP-SAT
    placement with a deterministic budget of 120, tens of seconds), not awaited."""
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\ntarget = "tianjic"\ncore.neurons = 128\n'
                            'placer = ["rowmajor", "cpsat"]\ntime_limit = 120.0\n')
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "spikemesh.cli", "sweep", str(spec), "-o", str(out), "--executor", "local",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    points = out / "points"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not list(points.glob("*.json")):
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""  # still running the cpsat point
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)  # the sweep process only, not its workers
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    waited = time.monotonic() - t0
    assert proc.returncode == 130 and "interrupted" in (proc.stderr.read() if proc.stderr else "")
    assert len(list(points.glob("*.json"))) == 1  # the cpsat point never finished: it was abandoned, not awaited
    assert waited < 15, f"the interrupted sweep took {waited:.1f} s to exit"


def test_rerun_skips_finished_points_and_retries_failed_ones_on_request(tmp_path: Path) -> None:
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\ncore.neurons = [256, 4]\nplacer = "rowmajor"\n')
    out = tmp_path / "out"
    first = spikemesh.sweep(spec, out, executor="serial")
    assert (first.ran, first.failed) == (2, 1)
    bad = first.rows[1]
    assert bad["status"] == "failed" and bad["cores"] is None
    assert "PartitionInfeasible" in bad["error"] and "\n" not in bad["error"]  # one line: why it failed
    assert first.rows[0]["status"] == "ok" and first.rows[0]["energy_per_inference_pj"] is None  # compile only
    again = spikemesh.sweep(spec, out, executor="serial")
    assert (again.ran, again.skipped, again.failed) == (0, 2, 1)
    retry = spikemesh.sweep(spec, out, executor="serial", retry_failed=True)
    assert (retry.ran, retry.skipped, retry.failed) == (1, 1, 1)
    wider = _write(tmp_path, '[axes]\nmodel = "demo"\ncore.neurons = [256, 128]\nplacer = "rowmajor"\n')
    assert spikemesh.sweep(wider, out, executor="serial").ran == 1  # a new point; the 256 one is reused


def test_failed_points_keep_their_chips_axis_value(tmp_path: Path) -> None:
    """``chips`` is an axis and a metric (the target's grid): one column, and a point that failed before reporting
    a grid still shows the grid it was given."""
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\ncore.neurons = 4\nchips = ["1x1", "2x2"]\n')
    res = spikemesh.sweep(spec, tmp_path / "out", executor="serial")
    assert [(r["status"], r["chips"]) for r in res.rows] == [("failed", "1x1"), ("ok", "2x2")]
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0].split(",")
    assert header.count("chips") == 1
    assert [r["chips"] for r in csv.DictReader(open(tmp_path / "out" / "results.csv"))] == ["1x1", "2x2"]


def test_keep_builds_saves_a_loadable_build_per_point(tmp_path: Path) -> None:
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag"]\n')
    res = spikemesh.sweep(spec, tmp_path / "out", executor="serial", keep_builds=True)
    builds = sorted((tmp_path / "out" / "builds").iterdir())
    assert [b.name for b in builds] == [f"{r['point']:05d}-{r['key']}" for r in res.rows]
    for b, r in zip(builds, res.rows):
        assert spikemesh.Program.load(b).placement.placer == r["placer"]


def test_target_overrides_chips_filter_and_points_limit(tmp_path: Path) -> None:
    spec = _write(tmp_path, """
[sweep]
filter = "core.neurons >= 256 or chips == '2x2'"
points = 3
[axes]
model = "demo"
target = "tianjic"
core.neurons = [128, 256]
"noc.buffer_flits" = [2, 8]
chips = ["1x1", "2x2"]
""")
    sw = load_sweep(spec)
    values = [p.values for p in sw.points]
    assert [(v["core.neurons"], v["noc.buffer_flits"], v["chips"]) for v in values] == [
        (128, 2, "2x2"), (128, 8, "2x2"), (256, 2, "1x1")]
    assert [p.index for p in sw.points] == [1, 3, 4]
    t = sw.targets[sw.points[1].target_key]
    assert (t.core.neurons, t.noc.buffer_flits, t.chips_x, t.chips_y) == (128, 8, 2, 2)
    assert t.core.axons == spikemesh.target("tianjic").core.axons  # untouched fields keep the preset's values
    assert len({p.key for p in sw.points}) == 3


def test_point_key_follows_the_model_file_content(tmp_path: Path) -> None:
    graph, _, _ = load_demo()
    graph.save(tmp_path / "m.smg")
    spec = _write(tmp_path, '[axes]\nmodel = "m.smg"\n')
    k1 = load_sweep(spec).points[0].key
    assert load_sweep(spec).points[0].key == k1
    graph.replace(dt=graph.dt * 2).save(tmp_path / "m.smg")
    assert load_sweep(spec).points[0].key != k1


BAD = {
    "unknown axis": ('[axes]\nmodel = "demo"\nplacers = ["anneal"]\n', ["unknown axis 'placers'"]),
    "unknown target": ('[axes]\nmodel = "demo"\ntarget = ["tianjic", "tianjik"]\n', ["'target'", "'tianjik'"]),
    "loader refuses": ('[axes]\nmodel = "demo"\ncore.neurons = [256, 0]\n', ["'core.neurons'", "value 0"]),
    "loader refuses mode": ('[axes]\nmodel = "demo"\nnoc.forwarding = ["wormhole"]\n',
                            ["'noc.forwarding'", "'wormhole'"]),
    "wrong type": ('[axes]\nmodel = "demo"\nnoc.buffer_flits = [4, "deep"]\n', ["'noc.buffer_flits'", "'deep'"]),
    "bad placer": ('[axes]\nmodel = "demo"\nplacer = ["anneal", "fastest"]\n', ["'placer'", "'fastest'"]),
    "placer typo": ('[axes]\nmodel = "demo"\nplacer = ["row_major"]\n', ["'row_major'", "did you mean 'rowmajor'?"]),
    "empty axis": ('[axes]\nmodel = "demo"\nseed = []\n', ["'seed'", "empty"]),
    "empty filter": ('[sweep]\nfilter = "seed > 9"\n[axes]\nmodel = "demo"\nseed = [0, 1]\n',
                     ["empty", "'seed > 9'"]),
    "filter name": ('[sweep]\nfilter = "sede > 0"\n[axes]\nmodel = "demo"\nseed = [0]\n', ["'sede'"]),
    "missing model": ('[axes]\nmodel = ["demo", "nets/missing.smg"]\n', ["'model'", "'nets/missing.smg'"]),
    "missing inputs": ('[axes]\nmodel = "demo"\ninputs = "x.npz"\n', ["'inputs'", "'x.npz'"]),
    "engine without inputs": ('[axes]\nmodel = "demo"\nengine = "cycle"\n', ["'engine'", "input"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_error_before_any_point_runs(tmp_path: Path, case: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    text, needles = BAD[case]
    spec = _write(tmp_path, text)
    with pytest.raises(SweepError) as e:
        load_sweep(spec)
    for n in needles:
        assert n in str(e.value)
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spikemesh: error:") and all(n in err[0] for n in needles)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_out_must_be_new_empty_or_a_sweeps_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o refuses a directory holding other files (and a file): one line, exit 2, nothing written. A sweep's
    directory takes another sweep: the shared points are reused and the tables describe the last sweep."""
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag"]\n')
    other = tmp_path / "papers"
    other.mkdir()
    (other / "draft.tex").write_text("keep me")
    for out in (other, spec):
        assert main(["sweep", str(spec), "-o", str(out), "--executor", "serial"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "holds no sweep" in err[0] and str(out) in err[0], err
    assert sorted(p.name for p in other.iterdir()) == ["draft.tex"]
    (tmp_path / "empty").mkdir()
    assert spikemesh.sweep(spec, tmp_path / "empty", executor="serial").ran == 2
    wider = _write(tmp_path, '[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag", "neighbor"]\n', "wider.toml")
    res = spikemesh.sweep(wider, tmp_path / "empty", executor="serial")
    assert (res.ran, res.skipped) == (1, 2) and len(res.rows) == 3


def test_the_ray_executor_without_ray_installed_is_one_error_before_anything_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "ray", None)  # not imported here (a running Ray would be used as it is)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag"]\n')
    with pytest.raises(SpikemeshError, match="the ray executor needs Ray") as e:
        spikemesh.sweep(spec, tmp_path / "out", executor="ray")
    assert "pip install 'spikemesh[sweep]'" in str(e.value) and "--executor local" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_bad_input_with_the_ray_executor_is_one_line_and_leaves_no_ray(tmp_path: Path) -> None:
    """``--executor ray`` starts Ray while it reads the sweep file: a refused file is still one line, exit 2, and
    the process ends on its own (the Ray it started is shut down)."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    text, needles = BAD["unknown axis"]
    r = subprocess.run([sys.executable, "-m", "spikemesh.cli", "sweep", str(_write(tmp_path, text)), "-o",
                        str(tmp_path / "out"), "--executor", "ray"], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and all(n in err[0] for n in needles), r.stderr
    assert not (tmp_path / "out").exists()


def test_cli_prints_one_summary_line_and_no_progress_when_not_a_terminal(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\nplacer = ["rowmajor", "zigzag"]\n')
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out"), "--executor", "serial"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.strip().splitlines() == [out.strip()] and "2 points (2 run, 0 already done, 0 failed)" in out
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["points"] == 2


def test_cli_verbose_prints_each_point_with_its_figures_or_its_error(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """-v: one line per finished point, its values then what results.csv records for it (cores, or the error)."""
    spec = _write(tmp_path, '[axes]\nmodel = "demo"\ncore.neurons = 4\nchips = ["1x1", "2x2"]\n')
    assert main(["sweep", str(spec), "-o", str(tmp_path / "out"), "--executor", "serial", "-v"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert len(lines) == 3 and "2 points (2 run" in lines[2]
    for line, r in zip(lines, rows):
        assert line.startswith(f"[{int(r['point']) + 1}/2] point {r['point']} ")
        assert f"chips={r['chips']}" in line
        if r["status"] == "ok":
            assert f": ok, {r['cores']} cores" in line
        else:
            assert line.endswith(f": failed: {r['error']}")
    assert [r["status"] for r in rows] == ["failed", "ok"]


def test_pareto_front_is_the_set_of_undominated_rows() -> None:
    rng = np.random.default_rng(3)
    rows = [{"point": i, "a": float(a), "b": float(b)} for i, (a, b) in enumerate(rng.integers(0, 6, (40, 2)))]
    rows.append({"point": 40, "a": None, "b": 1.0})
    front = {r["point"] for r in pareto(rows, "a", "b")}
    have = [r for r in rows if r["a"] is not None]
    undominated = {r["point"] for r in have if not any(
        o["a"] <= r["a"] and o["b"] <= r["b"] and (o["a"], o["b"]) != (r["a"], r["b"]) for o in have)}
    assert front == undominated


def test_page_draws_one_front_per_model() -> None:
    """Two models: each has its own Pareto front (a network's best point is on the page even where another network
    beats it everywhere), and the table marks both fronts."""
    from spikemesh.sweep.html import render
    from spikemesh.sweep.spec import Sweep

    def row(i: int, model: str, energy: float, latency: float) -> dict:
        return {"point": i, "key": f"k{i}", "model": model, "seed": i % 2, "status": "ok", "cores": 4,
                "energy_per_inference_pj": energy, "latency_per_sample_s": latency}

    rows = [row(0, "big", 9e5, 3e-4), row(1, "big", 8e5, 4e-4), row(2, "small", 1e5, 5e-5), row(3, "small", 2e5, 6e-5)]
    sw = Sweep(axes={"model": ["big", "small"], "seed": [0, 1]}, points=[], settings={}, source="s.toml", root=Path())
    page = render(sw, ["point", "model", "energy_per_inference_pj"], rows)
    marked = [int(m) for m in re.findall(r"<tr class='pareto'><td>(\d+)</td>", page)]
    # against latency: big {0, 1} (neither beats the other), small {2}; against cores (all 4): big {1}, small {2}
    assert marked == [0, 1, 2]
    single = render(Sweep(axes={"model": ["x"], "seed": [0, 1]}, points=[], settings={}, source="s.toml", root=Path()),
                    ["point"], [{**r, "model": "x"} for r in rows])
    assert [int(m) for m in re.findall(r"<tr class='pareto'><td>(\d+)</td>", single)] == [2]


def test_a_filter_pairs_each_model_with_its_own_inputs(tmp_path: Path) -> None:
    """Models with different input shapes, each with its own data: the shape check looks at the points the filter
    keeps, and without the filter the first mismatched pair is refused, naming both values."""
    from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection

    small = Graph(inputs=(Input("in", (5,)),), populations=(Population("p", (3,), IF()),),
                  projections=(Projection("a", "in", "p", (Dense(np.ones((3, 5))),)),), outputs=(Output("o", "p"),))
    small.save(tmp_path / "small.smg")
    np.savez(tmp_path / "small.npz", inputs=np.ones((4, 2, 5), np.uint8), labels=np.zeros(2, np.int64))
    axes = '[axes]\nmodel = ["demo", "small.smg"]\ninputs = ["demo", "small.npz"]\nengine = "fast"\n'
    paired = "[sweep]\nfilter = \"(model == 'demo') == (inputs == 'demo')\"\n" + axes
    res = spikemesh.sweep(_write(tmp_path, paired), tmp_path / "out", executor="serial")
    assert [(r["model"], r["inputs"], r["status"]) for r in res.rows] == [("demo", "demo", "ok"),
                                                                         ("small.smg", "small.npz", "ok")]
    with pytest.raises(SweepError, match="axis 'inputs' value 'small.npz' does not fit axis 'model' value 'demo'"):
        load_sweep(_write(tmp_path, axes, "unpaired.toml"))


def test_a_target_the_filter_removes_is_never_built(tmp_path: Path) -> None:
    spec = _write(tmp_path, '[sweep]\nfilter = "core.neurons > 0"\n[axes]\nmodel = "demo"\ncore.neurons = [0, 64]\n')
    sw = load_sweep(spec)
    assert [p.values["core.neurons"] for p in sw.points] == [64] and len(sw.targets) == 1


# ------------------------------------------------------------------ a killed sweep leaves no processes behind
SLOW_POINT = ('[axes]\nmodel = "demo"\ntarget = "tianjic"\ncore.neurons = 128\nplacer = ["rowmajor", "cpsat"]\n'
              'time_limit = 120.0\n')  # the cpsat point runs for tens of seconds (a deterministic budget of 120)


def _start_sweep(tmp_path: Path, text: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A CLI sweep in a session of its own, its stderr in ``tmp_path/stderr`` (a file: processes it leaves
    behind cannot hold a pipe open)."""
    cmd = [sys.executable, "-m", "spikemesh.cli", "sweep", str(_write(tmp_path, text)), "-o", str(tmp_path / "out"),
           "--workers", "2", *extra]
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=err)
    return proc, tmp_path / "out" / "points"


def _wait_for(proc: subprocess.Popen[bytes], ready: Callable[[], object], within: float = 240) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.02)
    assert proc.poll() is None, f"the sweep ended before the signal (exit {proc.returncode})"


def _signal_and_reap(proc: subprocess.Popen[bytes], children: dict[int, str],
                     send: Callable[[], None]) -> tuple[float, dict[int, str]]:
    """``send()`` a signal, wait for the sweep to end; (seconds it took, ``children`` still alive 10 s later).
    Whatever is left is then killed, so a failing test leaves no processes either."""
    t0 = time.monotonic()
    send()
    try:
        end(proc)
        waited = time.monotonic() - t0
        left = alive(children, within=10)
    finally:
        kill_left(children)
    return waited, left


def test_sigterm_ends_a_local_sweep_as_ctrl_c_does_and_its_workers_with_it(tmp_path: Path) -> None:
    """``kill PID`` (SIGTERM) to the sweep only: one line, exit 130 within seconds, the pool's workers and the
    resource tracker gone, the finished point kept as a whole row."""
    proc, points = _start_sweep(tmp_path, SLOW_POINT, "--executor", "local")
    _wait_for(proc, lambda: list(points.glob("*.json")) and len(session(proc.pid)) >= 3)
    children = session(proc.pid)  # two workers and the resource tracker
    assert sum("multiprocessing" in c for c in children.values()) >= 3, children
    waited, left = _signal_and_reap(proc, children, lambda: os.kill(proc.pid, signal.SIGTERM))
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 130 and err.strip().splitlines() == ["spikemesh: interrupted"], err
    assert waited < 15, f"the terminated sweep took {waited:.1f} s to exit"
    assert not left, left
    [kept] = points.glob("*.json")  # the rowmajor point; the cpsat one was abandoned
    assert json.loads(kept.read_text())["metrics"]["status"] == "ok"


def test_sigkill_of_a_local_sweep_ends_its_pool_workers(tmp_path: Path) -> None:
    """``kill -9`` of the sweep process only (no cleanup runs in it): its pool workers, one of them in the middle
    of a long CP-SAT point, end on their own within seconds (parent-death signal), and so does the resource
    tracker once they are gone."""
    proc, points = _start_sweep(tmp_path, SLOW_POINT, "--executor", "local")
    _wait_for(proc, lambda: list(points.glob("*.json")) and len(session(proc.pid)) >= 3)
    children = session(proc.pid)
    assert sum("multiprocessing" in c for c in children.values()) >= 3, children
    _, left = _signal_and_reap(proc, children, lambda: os.kill(proc.pid, signal.SIGKILL))
    assert proc.returncode == -signal.SIGKILL
    assert not left, left


RAY_CPSAT = ('[axes]\nmodel = "demo"\ntarget = "tianjic"\nplacer = "cpsat"\ntime_limit = 0.5\n'
             'seed = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n')


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_ending_a_ray_sweep_leaves_no_ray_process(tmp_path: Path, how: str) -> None:
    """``--executor ray`` without an address (a local Ray this sweep starts), once Ray is up and the sweep process
    has run a CP-SAT point itself: Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM to the
    sweep only ends it with one line and exit 130; ``kill -9`` of the sweep only (no cleanup runs in it) reaches
    the Ray driver process as its parent-death signal. Either way every process of the sweep's session (the Ray
    driver process, Ray's GCS, raylet, workers, dashboard and runtime-env agents) is gone within seconds."""
    pytest.importorskip("ray", reason="Ray is not installed (the sweep extra: pip install -e '.[sweep]')")
    proc, points = _start_sweep(tmp_path, RAY_CPSAT, "--executor", "ray")

    def ray_up() -> bool:
        cmds = " ".join(session(proc.pid).values())
        return bool(list(points.glob("*.json"))) and all(n in cmds for n in ("raylet", "gcs_server", "ray::"))

    _wait_for(proc, ray_up)
    children = session(proc.pid)
    send = {"ctrl-c": lambda: os.killpg(proc.pid, signal.SIGINT),
            "sigterm": lambda: os.kill(proc.pid, signal.SIGTERM),
            "sigkill": lambda: os.kill(proc.pid, signal.SIGKILL)}[how]
    _, left = _signal_and_reap(proc, children, send)
    err = (tmp_path / "stderr").read_text()
    if how == "sigkill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130 and err.strip().splitlines() == ["spikemesh: interrupted"], err
    assert not left, left


def test_a_point_stops_the_sweep_on_ctrl_c_even_when_numba_wraps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure is a point's row, but Ctrl-C is not a failure: a KeyboardInterrupt that a Numba kernel's call
    wrapped in SystemError still ends the sweep (the serial executor runs points in the sweep's process)."""
    from spikemesh.sweep.point import run_group, warm_up

    warm_up()  # once per process, through spikemesh.compile too
    sw = load_sweep({"axes": {"model": "demo", "placer": "rowmajor"}})
    values = sw.points[0].values

    def interrupted_in_a_kernel(*args: object, **kwargs: object) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("CPUDispatcher(<function _search>) returned a result with an exception set")  # noqa: B904

    monkeypatch.setattr(spikemesh, "compile", interrupted_in_a_kernel)
    with pytest.raises(KeyboardInterrupt):
        run_group([(values, None)], sw.points[0].target_key, sw.payload())

    def broken(*args: object, **kwargs: object) -> None:
        raise SystemError("a real failure")

    monkeypatch.setattr(spikemesh, "compile", broken)
    row = run_group([(values, None)], sw.points[0].target_key, sw.payload())[0]
    assert row["status"] == "failed" and "SystemError: a real failure" in row["error"]
