"""Sweep points: compile, simulate, and the row of figures each reports. Points that differ only in their engine
are run together (one compile, one simulation per engine). Runs in a worker process (a local pool worker, a Ray
worker, or the calling process for the serial executor); a failure
becomes a row with ``status = "failed"`` and the one-line error, never an exception (but Ctrl-C, even when a
Numba kernel wraps it, is KeyboardInterrupt).

Peak memory: the peak resident set size (``VmHWM`` of /proc/self/status, MiB) of the process running the point,
reset before the compile by writing 5 to /proc/self/clear_refs (Linux). It counts the whole worker (interpreter,
imported libraries, shared inputs), so it is the memory a worker needs for that point. Where the reset is not
available it falls back to ``resource.getrusage`` ``ru_maxrss``, the process's peak since it started.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.errors import SpikemeshError, interrupted

#: the columns every row has after the axis columns, in order. Units: energy pJ per inference (sample), power mW,
#: latency seconds per sample, traffic spike copies per step, times seconds, memory MiB.
METRICS = ("status", "error", "cores", "chips", "chips_used", "hop_weighted_traffic", "interchip_traffic",
           "max_link_load", "deadlock_free", "energy_per_inference_pj", "power_mw", "latency_per_sample_s",
           "accuracy", "compile_s", "simulate_s", "peak_rss_mib")
#: columns that measure the run, not the design: they differ between runs and executors
TIMING = ("compile_s", "simulate_s", "peak_rss_mib")

_PAYLOAD: dict[str, Any] = {}
_WARM = False


def set_payload(payload: dict[str, Any]) -> None:
    """Keep the data every point shares (graphs, inputs, targets) in this process (a pool initializer)."""
    _PAYLOAD.clear()
    _PAYLOAD.update(payload)


def warm_up() -> float:
    """Load the Numba kernels (from the on-disk cache, or JIT them) and the solvers once per process, by compiling
    and simulating a 3-neuron graph, so that the first point's times measure the point. Returns seconds."""
    global _WARM
    if _WARM:
        return 0.0
    t0 = time.perf_counter()
    import spikemesh
    from spikemesh.ir import IF, Dense, Graph, Input, Output, Population, Projection

    g = Graph(inputs=(Input("in", (2,)),), populations=(Population("p", (3,), IF()),),
              projections=(Projection("a", "in", "p", (Dense(np.ones((3, 2))),)),), outputs=(Output("out", "p"),))
    x = np.ones((2, 1, 2), dtype=np.uint8)
    try:
        program = spikemesh.compile(g, "tianjic", placer="anneal", time_limit=0.1)
        for engine in ("fast", "cycle"):
            spikemesh.simulate(program, x, engine=engine)
    except SpikemeshError:  # a warm-up problem shows up again, with its point, in the real run
        pass
    _WARM = True
    return time.perf_counter() - t0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mib(reset_ok: bool) -> float:
    if reset_ok:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def run_group(points: list[tuple[dict[str, Any], str | None]], target_key: str,
              payload: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Points that differ only in their engine (``(values, keep_build)`` each, one target): compile once, simulate
    each; returns each point's metric columns. Every row carries the one compile's figures and ``compile_s``; its
    peak memory is the larger of the compile's and its own simulation's, as if the point had run alone."""
    data = payload if payload is not None else _PAYLOAD
    warm_up()
    reset_ok = _reset_peak()
    base: dict[str, Any] = dict.fromkeys(METRICS)
    t0 = time.perf_counter()
    program = None
    try:
        import spikemesh

        values = points[0][0]
        options = {k: values[k] for k in ("seed", "time_limit", "quantize", "strategy", "placer", "routing")
                   if k in values}
        program = spikemesh.compile(data["graphs"][values["model"]], data["targets"][target_key], **options)
        base["compile_s"] = round(time.perf_counter() - t0, 4)
        base.update(_compile_figures(program))
    except Exception as e:  # any failure is this point's row; the sweep goes on
        if interrupted(e):
            raise KeyboardInterrupt from e
        base["status"] = "failed"
        base["error"] = f"compile: {type(e).__name__}: {e}".replace("\n", " ")
    compile_peak = _peak_mib(reset_ok)
    rows = []
    for values, keep_build in points:
        row = dict(base)
        if program is not None:
            reset_ok = _reset_peak()
            _simulate_into(row, program, values, keep_build, data)
            row["peak_rss_mib"] = max(compile_peak, _peak_mib(reset_ok))
        else:
            row["peak_rss_mib"] = compile_peak
        rows.append(row)
    return rows


def _simulate_into(row: dict[str, Any], program: Any, values: dict[str, Any], keep_build: str | None,
                   data: dict[str, Any]) -> None:
    """Save the build (when asked) and simulate ``program`` on the point's inputs with its engine, into ``row``."""
    stage = "save"
    try:
        import spikemesh

        if keep_build:
            program.save(keep_build)
        if "inputs" in values:
            stage = "simulate"
            x, labels = data["inputs"][values["inputs"]]
            t1 = time.perf_counter()
            result = spikemesh.simulate(program, x, engine=values.get("engine", "cycle"))
            row["simulate_s"] = round(time.perf_counter() - t1, 4)
            row.update(_simulation_figures(result.summary()))
            if labels is not None:
                from spikemesh.data.demo import accuracy

                row["accuracy"] = accuracy(result, labels)
        row["status"] = "ok"
    except Exception as e:  # any failure is this point's row; the sweep goes on
        if interrupted(e):
            raise KeyboardInterrupt from e
        row["status"] = "failed"
        row["error"] = f"{stage}: {type(e).__name__}: {e}".replace("\n", " ")


def _compile_figures(program: Any) -> dict[str, Any]:
    rep = program.report
    part, place, routing = rep.get("partition", {}), rep.get("placement", {}), rep.get("routing", {})
    cores = part.get("cores")
    if cores is None and "speck" in rep:
        cores = sum(1 for r in rep["speck"].get("memory", []) if r.get("layer") is not None)
    used = None
    if getattr(program, "placement", None) is not None:
        coords = np.asarray(program.placement.coords)
        used = len({(int(a), int(b)) for a, b in coords[:, :2]})
    elif cores is not None:
        used = 1
    return {"cores": cores, "chips": rep.get("target", {}).get("chips"), "chips_used": used,
            "hop_weighted_traffic": place.get("hop_weighted_traffic"),
            "interchip_traffic": place.get("interchip_traffic"),
            "max_link_load": routing.get("max_link_load", place.get("max_link_load")),
            "deadlock_free": routing.get("deadlock_free")}


def _simulation_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Energy per inference (pJ), average power (mW) and latency per sample (s) from the run's summary (the one
    metrics model of every engine, ``SimResult.summary``); None where the engine does not model it."""
    e = summary.get("energy_per_inference_uJ")
    return {"energy_per_inference_pj": None if e is None else float(e) * 1e6,
            "latency_per_sample_s": summary.get("latency_per_sample_s"), "power_mw": summary.get("average_power_mW")}
