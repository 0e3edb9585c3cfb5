"""Simulation speed: spikemesh's fast (and cycle) engines beside Brian2 cpp_standalone, in the same run.
(One file over 400 lines: it re-launches itself for every worker, which keeps each case's peak RSS apart.)

Cases:
- CUBA-4k: Brian2's examples/CUBA.py network (benchmark 2 of Brette et al., J. Comput. Neurosci. 23:349, 2007):
  4000 LIF, p = 0.02 (in-degree 80), 1 s biological time (10,000 steps of 0.1 ms). spikemesh and Brian2
  get the *same* connectivity and initial membrane potentials (passed to Brian2 as arrays).
- CUBA-40k: 40,000 LIF, same in-degree (p = 0.002): spikemesh fast with peak RSS (target <= 1 GB).
- cnn_sinabs.nir (NIR paper file) quantized for `tianjic`: steps/s of the fast engine (and cycle, when available).

Brian2 runs in its own venv (default /work/brian2-venv, `pip install brian2 'numpy<2'`), single-threaded:
codegen + compile + first run reported apart ("JIT/build s"), then 5 `device.run()` calls; "wall s" = their median
wall time (the binary's whole process: start, loading its arrays, the loop), "loop s" = median of
`device._last_run_time` (the simulation loop alone), "cpu s" = the binary's whole-process CPU time (min).
spikemesh CUBA rows: what a user gets from a plain `spikemesh.simulate(graph, inputs, engine="fast")` (the defaults:
the engine picks its kernel, the `kernel` column); "wall s" = median wall time of 5 such calls in one process
after a first call (its JIT, or the load of the disk-cached kernel, reported apart as "JIT/build s"), "loop s" =
median `stats["run_s"]` (kernel loop incl. raster writes), "cpu s" = min process CPU time of a call. The
`specialize=True` row is shown beside the default one. "first call s" lines: the first call's wall time in a
fresh process, with an empty kernel cache (`SPIKEMESH_CACHE_DIR` pointed at a new directory) and again in a second
fresh process with that cache, i.e. whether the compile is paid once per machine.
Ratios: Brian2's median `device.run()` wall time / spikemesh's median call wall time (target >= 1.5x), and the
same by loop time and by CPU time. On a shared machine the rows above run minutes apart under different loads, so
"CUBA-4k paired" alternates one `device.run()` and one default `simulate()` call five times (same load for both).
Usage: nice python benchmarks/sim_speed.py [--brian2-python PATH] [--skip-40k] [--skip-brian2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: the CUBA network in Brian2 (its examples/CUBA.py with exact integration): connectivity and initial v from the npz in
#: sys.argv[1]
BRIAN2_CUBA_MODEL = r'''
n = int(d["n"]); ne = int(round(0.8 * n))
taum = 20*ms; taue = 5*ms; taui = 10*ms; Vt = -50*mV; Vr = -60*mV; El = -49*mV
we = (60*0.27/10)*mV; wi = (-20*4.5/10)*mV
defaultclock.dt = 0.1*ms
eqs = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""
P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5*ms, method="exact")
P.v = d["v0"]*mV
P.ge = 0*mV
P.gi = 0*mV
pre, post = d["pre"], d["post"]
e = pre < ne
Ce = Synapses(P, P, on_pre="ge += we")
Ci = Synapses(P, P, on_pre="gi += wi")
Ce.connect(i=pre[e], j=post[e])
Ci.connect(i=pre[~e], j=post[~e])
'''

#: Brian2 with the C++ standalone device, single-threaded: the CUBA network of ``sys.argv[1]`` built into directory
#: ``sys.argv[2]`` for one second of simulated time, with a spike counter ``M``
BRIAN2_SETUP = r'''
import json, sys, time, resource
import numpy as np
from brian2 import *
d = np.load(sys.argv[1])
out_dir = sys.argv[2]
set_device("cpp_standalone", directory=out_dir, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = 0
''' + BRIAN2_CUBA_MODEL + r'''
M = SpikeMonitor(P, record=False)
run(1*second)
'''

BRIAN2_SCRIPT = BRIAN2_SETUP + r'''
t0 = time.perf_counter()
device.build(directory=out_dir, compile=True, run=True, debug=False)
build = time.perf_counter() - t0
loops = []
walls = []
cpus = []
for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 5):
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    device.run(directory=out_dir, with_output=False, run_args=[])
    walls.append(time.perf_counter() - w0)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append((c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime))
    loops.append(device._last_run_time)
counts = np.asarray(M.count[:])
outdeg = np.bincount(pre, minlength=n)
print(json.dumps({"build_s": build, "wall_s": float(np.median(walls)), "run_s": float(np.median(loops)),
                  "walls": walls, "loops": loops, "cpu_s": min(cpus), "spikes": int(counts.sum()),
                  "events": int((counts * outdeg).sum())}))
'''


#: Brian2 side of the paired measurement: build, then one ``device.run()`` per "run" line on stdin
BRIAN2_PAIRED = BRIAN2_SETUP + r'''
device.build(directory=out_dir, compile=True, run=True, debug=False)
print("ready", flush=True)
for line in sys.stdin:
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    device.run(directory=out_dir, with_output=False, run_args=[])
    w = time.perf_counter() - w0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"wall_s": w, "loop_s": device._last_run_time,
                      "cpu_s": (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)}), flush=True)
'''

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------------------------------- workers
def worker_cuba(n: int, engine: str, repeats: int) -> dict:
    """``engine``: "fast" (the plain default call) or "fast specialize=True"."""
    import spikemesh
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs

    kw = {"specialize": True} if "specialize=True" in engine else {}
    t0 = time.perf_counter()
    net = cuba_network(n, in_degree=80.0, seed=0)
    g = cuba_graph(net)
    si = initial_inputs(g, net, 10_000)
    outdeg = np.bincount(net.pre, minlength=n)
    n_syn = len(net.pre)
    del net  # the graph holds the connectivity
    build = time.perf_counter() - t0
    w0 = time.perf_counter()
    first = spikemesh.simulate(g, si, engine="fast", **kw)  # JIT (or disk-cache load) and flatten
    first_wall = time.perf_counter() - w0
    jit = first.stats["jit_s"]
    del first
    walls, loops, stats = [], [], []
    spikes = 0
    cpu = float("inf")
    check = 0
    for _ in range(repeats):
        c0 = time.process_time()
        w0 = time.perf_counter()
        res = spikemesh.simulate(g, si, engine="fast", **kw)
        walls.append(time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
        loops.append(res.stats["run_s"])
        stats.append({k: res.stats[k] for k in ("synaptic_events", "neuron_updates", "kernel")})
        counts = res.spikes["lif"].sum(axis=(0, 1))
        spikes = int(counts.sum())
        check = int((counts * outdeg).sum())
        del res  # keep one raster alive at a time
    if check != stats[-1]["synaptic_events"]:
        raise RuntimeError(f"event count {stats[-1]['synaptic_events']} != spikes x out-degree {check}")
    return {"case": f"CUBA-{n // 1000}k", "engine": engine, "kernel": stats[-1]["kernel"], "build_s": build,
            "jit_s": jit, "first_wall_s": first_wall, "wall_s": float(np.median(walls)),
            "run_s": float(np.median(loops)), "walls": walls, "cpu_s": cpu, "events": stats[-1]["synaptic_events"],
            "spikes": spikes, "rate_hz": spikes / n, "neuron_updates": stats[-1]["neuron_updates"],
            "peak_rss_mb": peak_rss_mb(), "synapses": n_syn}


def worker_first_call(n: int, steps: int) -> dict:
    """Wall time of the first plain default call in this (fresh) process: flatten, kernel choice, JIT or load."""
    import spikemesh
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs

    net = cuba_network(n, in_degree=80.0, seed=0)
    g = cuba_graph(net)
    si = initial_inputs(g, net, steps)
    w0 = time.perf_counter()
    res = spikemesh.simulate(g, si, engine="fast")
    return {"wall_s": time.perf_counter() - w0, "jit_s": res.stats["jit_s"], "kernel": res.stats["kernel"]}


def si_short(si, steps: int):  # noqa: ANN001, ANN201
    """The first ``steps`` steps of a one-sample StepInputs."""
    from dataclasses import replace

    ptr = si.ptr[:steps + 1]
    return replace(si, steps=steps, ptr=ptr, index=si.index[:ptr[-1]], value=si.value[:ptr[-1]])


def placed_program(graph, target_name: str):  # noqa: ANN001, ANN201
    """Partition (partition stage) + chip-major placement + XY routes (tests/simulator/noc_helpers.py: fixed
    inputs for the cycle engine, independent of what the placement and routing stages choose)."""
    from tests.simulator.noc_helpers import placed

    return placed(graph, target_name)


def worker_cuba_cycle(n: int, steps: int, target_name: str, repeats: int = 2) -> dict:
    import spikemesh
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs

    net = cuba_network(n, in_degree=80.0, seed=0)
    g = cuba_graph(net)
    t0 = time.perf_counter()
    prog = placed_program(g, target_name)
    build = time.perf_counter() - t0
    t_warm = time.perf_counter()
    # JIT warm-up: compiles the kernel the default call picks for this run length (then loaded, in memory)
    warm = spikemesh.simulate(prog, initial_inputs(g, net, 20), engine="cycle", specialize=True)
    warm_s = time.perf_counter() - t_warm
    si = initial_inputs(g, net, steps)
    best = None
    for _ in range(repeats):
        c0 = time.process_time()
        w0 = time.perf_counter()
        res = spikemesh.simulate(prog, si, engine="cycle", progress=False)
        wall = time.perf_counter() - w0
        cpu = time.process_time() - c0
        if best is None or res.stats["run_s"] < best[0].stats["run_s"]:
            best = (res, wall, cpu)
        del res
    res, wall, cpu = best
    outdeg = np.bincount(net.pre, minlength=n)
    counts = res.spikes["lif"].sum(axis=(0, 1))
    if int((counts * outdeg).sum()) != res.stats["synaptic_events"]:
        raise RuntimeError("cycle event count != spikes x out-degree")
    spikes = int(counts.sum())
    noc = res.stats["noc"]
    return {"case": f"CUBA-{n // 1000}k", "engine": f"cycle ({target_name})", "build_s": build,
            "jit_s": warm.stats["jit_s"], "warmup_s": warm_s, "run_s": res.stats["run_s"], "wall_s": wall,
            "cpu_s": cpu,
            "events": res.stats["synaptic_events"], "spikes": spikes, "rate_hz": spikes / n / (steps * 1e-4),
            "peak_rss_mb": peak_rss_mb(), "packets": noc["packets"], "noc_s": noc["noc_s"],
            "comm_cycles": noc["communication_cycles"], "cores": len(prog.partition.cores)}


def worker_sinabs(engine: str, steps: int) -> dict:
    import spikemesh

    path = Path("/work/shared/data/nir_paper/cnn_sinabs.nir")
    g = spikemesh.load(path)
    q, _ = spikemesh.quantize(g, weight_bits=8, state_bits=16)
    rng = np.random.default_rng(0)
    x = (rng.random((steps, 1, *q.inputs[0].shape)) < 0.05).astype(np.float64)
    subject = placed_program(q, "tianjic") if engine == "cycle" else q
    kw = {} if engine == "cycle" else {"target": "tianjic"}
    res = spikemesh.simulate(subject, x[:2], engine=engine)  # JIT warm-up
    t0 = time.perf_counter()
    res = spikemesh.simulate(subject, x, engine=engine, **kw)
    wall = time.perf_counter() - t0
    return {"case": "cnn_sinabs.nir (int, tianjic)", "engine": engine, "run_s": res.stats["run_s"], "wall_s": wall,
            "steps": steps, "steps_per_s": steps / res.stats["run_s"], "events": res.stats["synaptic_events"],
            "peak_rss_mb": peak_rss_mb()}


def run_brian2(python: str, n: int) -> dict:
    from spikemesh.simulator.cuba import cuba_network

    net = cuba_network(n, in_degree=80.0, seed=0)
    with tempfile.TemporaryDirectory(prefix="brian2_cuba_") as tmp:
        np.savez(Path(tmp) / "net.npz", n=n, pre=net.pre, post=net.post, v0=net.v0)
        script = Path(tmp) / "cuba_brian2.py"
        script.write_text(BRIAN2_SCRIPT)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        p = subprocess.run([python, str(script), str(Path(tmp) / "net.npz"), str(Path(tmp) / "standalone")],
                           capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            raise RuntimeError(f"brian2 failed: {p.stderr[-2000:]}")
        out = json.loads(p.stdout.strip().splitlines()[-1])
        out["process_s"] = time.perf_counter() - t0
    out.update({"case": f"CUBA-{n // 1000}k", "engine": "brian2 cpp_standalone", "rate_hz": out["spikes"] / n})
    return out


def worker_small(engine: str, repeats: int) -> dict:
    """The digits demo model (the `make demo` size: 360 samples x 16 steps, 714 neurons) through a plain
    `spikemesh.simulate(graph, x, engine=...)` in a fresh process: the first call's wall time (what a user or a test
    pays, JIT or kernel load included) and the median of the later calls."""
    import spikemesh
    from spikemesh.data.digits import load_digits_demo

    g, x, _ = load_digits_demo(360)
    w0 = time.perf_counter()
    res = spikemesh.simulate(g, x, engine=engine)
    first = time.perf_counter() - w0
    walls = []
    for _ in range(repeats):
        w0 = time.perf_counter()
        spikemesh.simulate(g, x, engine=engine)
        walls.append(time.perf_counter() - w0)
    return {"case": "digits demo model", "engine": engine, "first_wall_s": first, "wall_s": float(np.median(walls)),
            "kernel": res.stats.get("kernel", "-")}


def paired_cuba(python: str, n: int = 4000, rounds: int = 5) -> dict:
    """Brian2's ``device.run()`` and spikemesh's plain default ``simulate`` call alternately, ``rounds`` times
    each (after Brian2's build and spikemesh's first call), so that both see the same machine load: medians."""
    import spikemesh
    from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs

    net = cuba_network(n, in_degree=80.0, seed=0)
    g = cuba_graph(net)
    si = initial_inputs(g, net, 10_000)
    with tempfile.TemporaryDirectory(prefix="brian2_paired_") as tmp:
        np.savez(Path(tmp) / "net.npz", n=n, pre=net.pre, post=net.post, v0=net.v0)
        script = Path(tmp) / "paired.py"
        script.write_text(BRIAN2_PAIRED)
        p = subprocess.Popen([python, str(script), str(Path(tmp) / "net.npz"), str(Path(tmp) / "standalone")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert p.stdin is not None and p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("brian2 paired build failed")
        first = spikemesh.simulate(g, si, engine="fast")  # JIT or disk-cache load, not timed
        b2, sm = [], []
        for _ in range(rounds):
            p.stdin.write("run\n")
            p.stdin.flush()
            b2.append(json.loads(p.stdout.readline()))
            c0 = time.process_time()
            w0 = time.perf_counter()
            res = spikemesh.simulate(g, si, engine="fast")
            sm.append({"wall_s": time.perf_counter() - w0, "loop_s": res.stats["run_s"],
                       "cpu_s": time.process_time() - c0})
            del res
        p.stdin.close()
        p.wait(timeout=60)
    med = {f"{who}_{k}": float(np.median([r[k] for r in rows])) for who, rows in (("b2", b2), ("sm", sm))
           for k in ("wall_s", "loop_s", "cpu_s")}
    return {**med, "kernel": first.stats["kernel"], "spikes": int(first.spikes["lif"].sum())}


def spawn(args: list[str], env: dict | None = None) -> dict:
    p = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, timeout=1800,
                       env=None if env is None else {**os.environ, **env})
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}",
                "case": " ".join(args)}
    return json.loads(p.stdout.strip().splitlines()[-1])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brian2-python", default="/work/brian2-venv/bin/python")
    ap.add_argument("--skip-brian2", action="store_true")
    ap.add_argument("--skip-40k", action="store_true")
    ap.add_argument("--only-cuba4k", action="store_true", help="CUBA-4k rows, first calls and the demo model only")
    ap.add_argument("--cycle-steps", type=int, default=10_000,
                    help="steps of the CUBA cycle run (default: the same 1 s as the other rows)")
    ap.add_argument("--cycle-target", default="loihi", help="target of the CUBA cycle run")
    ap.add_argument("--worker", nargs="*")
    a = ap.parse_args()
    if a.worker:
        kind = a.worker[0]
        if kind == "cuba":
            print(json.dumps(worker_cuba(int(a.worker[1]), a.worker[2], int(a.worker[3]))))
        elif kind == "first_call":
            print(json.dumps(worker_first_call(int(a.worker[1]), int(a.worker[2]))))
        elif kind == "small":
            print(json.dumps(worker_small(a.worker[1], int(a.worker[2]))))
        elif kind == "cuba_cycle":
            print(json.dumps(worker_cuba_cycle(int(a.worker[1]), int(a.worker[2]), a.worker[3])))
        elif kind == "sinabs":
            print(json.dumps(worker_sinabs(a.worker[1], int(a.worker[2]))))
        return
    up0 = uptime()
    rows = []
    with tempfile.TemporaryDirectory(prefix="spikemesh_cache_") as cache:  # a cold kernel cache, then warm
        firsts = [spawn(["first_call", "4000", "10000"], {"SPIKEMESH_CACHE_DIR": cache}) for _ in range(2)]
    rows.append(spawn(["cuba", "4000", "fast", "5"]))
    rows.append(spawn(["cuba", "4000", "fast specialize=True", "5"]))
    if not a.skip_brian2:
        try:
            rows.append(run_brian2(a.brian2_python, 4000))
        except Exception as e:  # noqa: BLE001  (report, keep going)
            rows.append({"case": "CUBA-4k", "engine": "brian2 cpp_standalone", "error": str(e)[-300:]})
    small = spawn(["small", "fast", "3"])
    paired = None
    if not a.skip_brian2:
        try:
            paired = paired_cuba(a.brian2_python)
        except Exception as e:  # noqa: BLE001
            paired = {"error": str(e)[-300:]}
    if not a.skip_40k and not a.only_cuba4k:
        rows.append(spawn(["cuba", "40000", "fast", "3"]))
        if not a.skip_brian2:
            try:
                rows.append(run_brian2(a.brian2_python, 40000))
            except Exception as e:  # noqa: BLE001
                rows.append({"case": "CUBA-40k", "engine": "brian2 cpp_standalone", "error": str(e)[-300:]})
    if not a.only_cuba4k:
        rows.append(spawn(["cuba_cycle", "4000", str(a.cycle_steps), a.cycle_target]))
        rows.append(spawn(["sinabs", "fast", "100"]))
        rows.append(spawn(["sinabs", "cycle", "100"]))
    print(f"uptime before: {up0}")
    print(f"uptime after:  {uptime()}  (2 cores shared)")
    hdr = (f"{'case':<32}{'engine':<24}{'kernel':<13}{'wall s':>8}{'loop s':>8}{'cpu s':>8}{'events/s':>10}"
           f"{'rate Hz':>9}{'JIT/build s':>12}{'RSS MB':>8}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if "error" in r:
            print(f"{r.get('case', '?'):<32}{r.get('engine', ''):<24} ERROR {r['error']}")
            continue
        wall = r.get("wall_s", r["run_s"])
        evs = r["events"] / wall if wall else float("nan")
        r["events_per_s"] = evs
        jit = r.get("jit_s", r.get("build_s", float("nan")))
        rate = f"{r['rate_hz']:.2f}" if "rate_hz" in r else "-"
        rss = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-"
        extra = f"  {r['steps_per_s']:.1f} steps/s" if "steps_per_s" in r else ""
        cpu = f"{r['cpu_s']:.4f}" if "cpu_s" in r else "-"
        print(f"{r['case']:<32}{r['engine']:<24}{r.get('kernel', '-'):<13}{wall:>8.4f}{r['run_s']:>8.4f}{cpu:>8}"
              f"{evs:>10.3g}{rate:>9}{jit:>12.2f}{rss:>8}{extra}")
    print("(events/s by wall s; cycle rows: wall s = the whole call, loop s = its run_s)")
    print()
    for k, f in zip(("cold kernel cache", "second process, warm cache"), firsts):
        if "error" in f:
            print(f"CUBA-4k first default call, {k}: ERROR {f['error']}")
        else:
            print(f"CUBA-4k first default call in a fresh process, {k}: {f['wall_s']:.2f} s wall "
                  f"(JIT/load {f['jit_s']:.2f} s, {f['kernel']} kernel)")
    if "error" in small:
        print(f"digits demo model: ERROR {small['error']}")
    else:
        print(f"digits demo model (360 x 16 steps), default fast call: first call {small['first_wall_s']:.2f} s, "
              f"later calls {small['wall_s']:.3f} s (median), {small['kernel']} kernel")
    for case in ("CUBA-4k", "CUBA-40k"):
        b2 = next((r for r in rows if r.get("case") == case and r.get("engine", "").startswith("brian2")
                   and "error" not in r), None)
        for r in rows:
            if r.get("case") == case and b2 is not None and "error" not in r and r is not b2:
                goal = {"fast": "; target >= 1.5x" if case == "CUBA-4k" else "",
                        "fast specialize=True": ""}.get(r["engine"], "; target >= 0.2x")
                print(f"{case}: {r['engine']} ({r.get('kernel', '-')}) vs brian2 cpp_standalone: "
                      f"{b2['wall_s'] / r['wall_s']:.2f}x by wall (median device.run() {b2['wall_s']:.4f} s / "
                      f"median simulate() {r['wall_s']:.4f} s{goal}), "
                      f"{b2['run_s'] / r['run_s']:.2f}x by loop ({b2['run_s']:.4f} s / {r['run_s']:.4f} s), "
                      f"{b2['cpu_s'] / r['cpu_s']:.2f}x by CPU (binary process / call)")
    if paired is not None and "error" in paired:
        print(f"CUBA-4k paired: ERROR {paired['error']}")
    elif paired is not None:
        q = paired
        print(f"CUBA-4k paired (alternating device.run() / default simulate(), same load; medians of 5): brian2 "
              f"{q['b2_wall_s']:.4f} s wall ({q['b2_loop_s']:.4f} s loop, {q['b2_cpu_s']:.4f} s CPU), spikemesh "
              f"{q['sm_wall_s']:.4f} s wall ({q['sm_loop_s']:.4f} s loop, {q['sm_cpu_s']:.4f} s CPU, {q['kernel']} "
              f"kernel): {q['b2_wall_s'] / q['sm_wall_s']:.2f}x by wall (target >= 1.5x), "
              f"{q['b2_loop_s'] / q['sm_loop_s']:.2f}x by loop, {q['b2_cpu_s'] / q['sm_cpu_s']:.2f}x by CPU")
    for case in ("CUBA-4k", "CUBA-40k"):
        got = [f"{r['engine']} {r['spikes']}" for r in rows if r.get("case") == case and "spikes" in r]
        if got:
            print(f"{case} spikes in 1 s (same network and initial v): " + ", ".join(got))
    for r in rows:
        if r.get("case") == "CUBA-40k" and r.get("engine") == "fast" and "peak_rss_mb" in r:
            print(f"CUBA-40k fast peak RSS {r['peak_rss_mb']:.0f} MB (target <= 1024 MB)")


if __name__ == "__main__":
    main()
