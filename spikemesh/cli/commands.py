"""The commands: one ``cmd_NAME(args)`` per subcommand, and the input helpers they share. (Slightly over 400
lines: twelve short command bodies side by side, each a thin call into the library.)"""


from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from spikemesh.cli import output
from spikemesh.cli.output import (
    DEFAULT_TARGET,
    _fmt,
    _headline_table,
    _json_out,
    _print_energy,
    _print_report,
    console,
)
from spikemesh.errors import FileFormatError, SimulationError


def cmd_targets(args: argparse.Namespace) -> None:
    from spikemesh.target.registry import list_targets, resources_summary

    rows = [(t, resources_summary(t)) for t in list_targets()]
    if args.json:
        _json_out([{"name": t.name, "family": t.family, **r, "clock_hz": t.clock_hz} for t, r in rows])
        return
    table = Table(title="targets (presets; add :AxB for a grid of chips, or pass a .toml file)")
    for col in ("name", "family", "chips", "cores", "neurons", "axons/core", "synapse memory", "clock"):
        table.add_column(col)
    for t, r in rows:
        table.add_row(t.name, t.family, r["chips"], str(r["cores"]), f"{r['neurons']:,}",
                      "/".join(map(str, r["axons_per_core"])), f"{r['synapse_bits'] / 8 / 1024:,.0f} KiB",
                      f"{t.clock_hz / 1e6:g} MHz")
    console.print(table)
    if getattr(args, "energy", False):
        for t in list_targets():
            _print_energy(t)


def cmd_target(args: argparse.Namespace) -> None:
    from spikemesh.target.registry import resources_summary, target

    t = target(args.name)
    r = resources_summary(t)
    console.print(f"[bold]{t.name}[/] ({t.family}): {t.description}")
    console.print(f"chips {r['chips']}, {r['cores']} cores, {r['neurons']:,} neurons, axons/core "
                  f"{'/'.join(map(str, r['axons_per_core']))}, synapse memory {r['synapse_bits'] / 8 / 1024:,.0f} "
                  f"KiB, clock {t.clock_hz / 1e6:g} MHz; features: {', '.join(sorted(t.features))}")
    _print_energy(t)


def cmd_info(args: argparse.Namespace) -> None:
    from spikemesh.pipeline import load_model

    g = load_model(args.model)
    s = g.summary()
    if args.json:
        _json_out(s)
        return
    table = Table(title=f"{args.model}: {len(s['layers'])} layers, {s['neurons']:,} neurons, "
                        f"{s['synapses']:,} synapses, dt={s['dt']:g} s")
    for col in ("layer", "neuron", "shape", "neurons", "synapses", "fan-in max", "fan-out max", "from"):
        table.add_column(col)
    for layer in s["layers"]:
        table.add_row(layer["name"], layer["kind"], _fmt(layer["shape"]), f"{layer['neurons']:,}",
                      f"{layer['synapses']:,}", str(layer["fan_in_max"]), str(layer["fan_out_max"]),
                      ", ".join(layer["sources"]))
    console.print(table)


def _check_out(out: str, force: bool, *inputs: str | None) -> None:
    """Before any work: ``out`` may be written (fileio.check_output_dir) and replacing it deletes no input."""
    from spikemesh.errors import OutputError
    from spikemesh.fileio import check_output_dir

    check_output_dir(out, force)
    o = Path(out).resolve()
    for f in inputs:
        if f is not None and (Path(f).resolve() == o or o in Path(f).resolve().parents) and Path(out).exists():
            raise OutputError("the output directory holds an input of this run; replacing it would delete it",
                              node=str(out), available=str(f), hint="choose another --out, or move the input")


def cmd_compile(args: argparse.Namespace) -> None:
    import spikemesh
    from spikemesh.options import CompileOptions

    target = args.target
    if target is None:
        target = DEFAULT_TARGET
        console.print(f"no --target given: compiling for the default target [bold]{DEFAULT_TARGET}[/] "
                      "(`spikemesh targets` lists the others)")
    opts: dict[str, Any] = {"seed": args.seed, "time_limit": args.time_limit, "strategy": args.strategy,
                            "placer": args.placer, "routing": args.routing}
    CompileOptions.of(opts)  # bad values fail before any file is read
    _check_out(args.out, args.force, args.model, target if str(target).endswith(".toml") else None)
    program = spikemesh.compile(args.model, target, progress=not args.quiet, **opts)
    out = program.save(args.out, force=args.force)
    if args.json:
        _json_out({"out": str(out), "report_html": str(out / "report.html"), "report": program.report})
        return
    _print_report(program.report)
    console.print(f"wrote {out} (open {out / 'report.html'})")


def _load_inputs(path: str) -> np.ndarray:
    from spikemesh.fileio import read_arrays

    p = Path(path)
    if not p.is_file():
        raise FileFormatError("input file not found", node=str(p), hint="give a .npy array [T, B, *input_shape]")
    data = read_arrays(p, "input file")
    if isinstance(data, dict):
        if "inputs" not in data:
            raise FileFormatError("npz input has no 'inputs' array", node=str(p), needed="inputs",
                                  available=", ".join(data) or "no arrays",
                                  hint="save with numpy.savez(path, inputs=x) or an event list x, y, p, t")
        return data["inputs"]
    return data


def _fit_steps(x: np.ndarray, steps: int | None, path: str = "input") -> np.ndarray:
    """Truncate to, or pad with zero steps up to, ``steps`` time steps."""
    from spikemesh.checks import memory

    if steps is None:
        return x
    if steps < 1:
        raise SimulationError("--steps must be positive", node="simulate", needed=">= 1", available=steps)
    if x.ndim < 2:
        raise SimulationError("input array needs [T, B, *input_shape]", node=path, available=list(x.shape))
    if steps == x.shape[0]:
        return x
    if steps < x.shape[0]:
        return x[:steps]
    memory(float(steps) * max(x[0].nbytes, 1), f"{steps:,} steps of input", "--steps", SimulationError,
           hint="simulate fewer steps")
    pad = np.zeros((steps - x.shape[0], *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([x, pad])


def _labels(args: argparse.Namespace, batch: int) -> np.ndarray | None:
    """Labels from --labels, or the 'labels' array of an .npz input file (read without pickles)."""
    from spikemesh.fileio import read_arrays

    path = args.labels
    if path is None and str(args.input).endswith(".npz") and Path(args.input).is_file():
        z = read_arrays(args.input, "input file")
        y = z.get("labels") if isinstance(z, dict) else None
        return y if y is not None and y.shape == (batch,) and y.dtype.kind in "iu" else None
    if path is None:
        return None
    y = read_arrays(path, "labels file")
    if isinstance(y, dict):
        y = y.get("labels")
    if y is None or np.asarray(y).shape != (batch,) or np.asarray(y).dtype.kind not in "iu":
        raise SimulationError("labels do not match the batch", node=str(path), needed=f"[{batch}] integers",
                              available=None if y is None else f"{np.asarray(y).dtype} {list(np.asarray(y).shape)}")
    return np.asarray(y)


def run_and_record(subject: Any, x: Any, engine: str, record: list[str] | None = None,
                   labels: np.ndarray | None = None, compare: bool = True, progress: bool = True,
                   source: str = "program") -> tuple[Any, dict[str, Any]]:
    """Simulate and build the ``simulation`` entry of report.json: engine, steps, batch, wall_s, spikes, the
    engine statistics, ``accuracy`` (with labels) and ``fidelity`` vs the reference engine (``compare``)."""
    import spikemesh
    from spikemesh.data.demo import accuracy, silent_samples
    from spikemesh.ir.result import fidelity, with_float_fidelity

    t0 = time.perf_counter()
    kw: dict[str, Any] = {"progress": progress} if engine in ("fast", "cycle", "async") else {}
    if source == "config":  # the cycle engine on the mesh configuration alone (docs/config.md)
        if engine != "cycle":
            raise SimulationError("--source config runs on the cycle engine", node="simulate",
                                  needed="--engine cycle", available=engine)
        kw = {"source": "config"}
    if engine in ("async", "crossbar"):
        kw["fidelity"] = False  # compared below (``compare``) or by the caller, against one reference run
    result = spikemesh.simulate(subject, x, engine=engine, record=record or None, **kw)
    wall = time.perf_counter() - t0
    sim: dict[str, Any] = {"engine": engine, "steps": result.steps, "batch": result.batch, "wall_s": wall,
                           "spikes": result.spike_counts(), **result.stats, "summary": result.summary()}
    if labels is not None:
        sim["accuracy"] = accuracy(result, labels)
        sim["silent_samples"] = silent_samples(result)
    if compare and engine != "reference":
        ref = spikemesh.simulate(subject, x, engine="reference")
        fid = fidelity(result.spikes, ref, result_output=result.output)
        fid = with_float_fidelity(fid, subject, x, result.spikes, result.output)
        sim["fidelity"] = fid["layers"]
        sim["summary"] = {**sim["summary"], "fidelity": fid}
        if labels is not None:
            sim["reference_accuracy"] = accuracy(ref, labels)
    return result, sim


def cmd_simulate(args: argparse.Namespace) -> None:
    import spikemesh
    from spikemesh.fileio import atomic_write_json
    from spikemesh.ir.result import headline
    from spikemesh.simulator.io import load_input_file

    src = Path(args.model)
    subject: Any = spikemesh.Program.load(src) if src.is_dir() else spikemesh.load_model(src)
    graph = subject if isinstance(subject, spikemesh.Graph) else subject.graph
    if args.steps is not None and args.steps < 1:
        raise SimulationError("--steps must be positive", node="simulate", needed=">= 1", available=args.steps)
    x = load_input_file(args.input, graph, args.steps, dt=args.dt)
    x = _fit_steps(_load_inputs(args.input), args.steps, args.input) if x is None else x
    from spikemesh.errors import located
    from spikemesh.simulate import check_run

    with located(args.input, "bad input array", SimulationError, hint=None):
        check_run(subject, x, args.record or None)  # errors about the input name the user's file
    x0 = next(iter(x.values())) if isinstance(x, dict) else x
    labels = _labels(args, int(x0.shape[1]))
    result, sim = run_and_record(subject, x, args.engine, args.record, labels, compare=args.fidelity,
                                 progress=not args.quiet, source=args.source)
    h = headline(sim, graph.dt)
    paths: dict[str, str] = {}
    if src.is_dir():
        from spikemesh.report.html import write_build_views

        report = {**subject.report, "simulation": sim}
        atomic_write_json(src / "report.json", report)
        prog = subject.with_report(simulation=sim)
        paths["report_html"] = str(write_build_views(src, prog, sim, result))
        paths["report_json"] = str(src / "report.json")
        if prog.placement is not None:
            paths["placement"] = str(src / "placement.svg")
    if args.out:
        result.save_rasters(args.out)
        paths["rasters"] = str(args.out)
    if args.json:
        _json_out({"headline": h, "spikes": sim["spikes"], "fidelity": sim.get("fidelity"), "files": paths})
        return
    console.print(_headline_table(h, f"{args.engine} engine: {result.steps} steps, batch {h['batch']}, "
                                     f"{sim['wall_s']:.3f} s"))
    counts = result.spike_counts()
    fid = sim.get("fidelity") or {}
    table = Table(title="spikes per population")
    table.add_column("population")
    table.add_column("spikes", justify="right")
    table.add_column("rate / neuron / step", justify="right")
    ffid = ((sim["summary"].get("fidelity") or {}).get("float_model") or {}).get("layers") or {}
    if fid:
        table.add_column("vs reference", justify="right")
    if ffid:
        table.add_column("cells differing vs float model", justify="right")
    for name, arr in result.spikes.items():
        n = arr[0, 0].size * arr.shape[1] * arr.shape[0]
        row = [name, f"{counts[name]:,}", f"{counts[name] / max(n, 1):.4f}"]
        if fid:
            f = fid.get(name)
            row.append("-" if f is None else ("exact" if f["exact"] else f"agreement {f['agreement']:.4f}"))
        if ffid:
            f = ffid.get(name)
            row.append("-" if f is None else f"{f['differing_fraction']:.4f}")
        table.add_row(*row)
    console.print(table)
    for k, v in paths.items():
        console.print(f"{k.replace('_', '.') if k.startswith('report') else k}: {v}")


def cmd_report(args: argparse.Namespace) -> None:
    from spikemesh.errors import located

    p = Path(args.dir) / "report.json"
    if not p.is_file():
        raise FileFormatError("no report.json", node=str(args.dir), hint="run `spikemesh compile` first")
    try:
        report = json.loads(p.read_bytes().decode())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise FileFormatError("report.json is corrupt", node=str(p), hint="compile again") from None
    if not isinstance(report, dict):
        raise FileFormatError("report.json is not a report", node=str(p), needed="a JSON object",
                              available=type(report).__name__, hint="compile again")
    if args.html or args.open:
        html = Path(args.dir) / "report.html"
        if not html.is_file():  # builds written before report.html existed
            from spikemesh.program import Program
            from spikemesh.report.html import write_build_views

            write_build_views(args.dir, Program.load(args.dir))
        if args.open:
            import webbrowser

            webbrowser.open(html.resolve().as_uri())
        if args.json:
            _json_out({"report_html": str(html)})
        else:
            print(html)
        return
    if args.json:
        _json_out(report)
    else:
        with located(str(p), "malformed report.json", hint="compile again"):
            _print_report(report)


def cmd_demo(args: argparse.Namespace) -> None:
    """The digits demo: one model, a mesh target and Speck, the reference and the timed engine on each."""
    import spikemesh
    from spikemesh.ir.result import fidelity, headline, with_float_fidelity
    from spikemesh.options import CompileOptions
    from spikemesh.report.html import write_build_views

    CompileOptions.of({"seed": 0, "time_limit": args.time_limit})  # bad values fail before any work
    for label in ("mesh", "speck"):  # the two builds; --out itself is only their parent
        _check_out(str(Path(args.out) / label), args.force)
    t0 = time.perf_counter()
    from spikemesh.data.digits import load_digits_demo

    graph, x, y = load_digits_demo(args.samples)
    t_load = time.perf_counter() - t0
    out = Path(args.out)
    runs: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    for label, target, engine, opts in (("mesh", args.target, "cycle", {"seed": 0, "time_limit": args.time_limit}),
                                        ("speck", "speck", "async", {})):
        t0 = time.perf_counter()
        program = spikemesh.compile(graph, target, progress=not args.quiet, **opts)
        t_compile = time.perf_counter() - t0
        ref, ref_sim = run_and_record(program, x, "reference", labels=y, compare=False)
        res, sim = run_and_record(program, x, engine, labels=y, compare=False, progress=not args.quiet)
        fid = fidelity(res.spikes, ref, result_output=res.output)
        fid = with_float_fidelity(fid, program, x, res.spikes, res.output)
        sim["fidelity"] = fid["layers"]
        sim["summary"] = {**sim["summary"], "fidelity": fid}
        sim["reference_accuracy"] = ref_sim["accuracy"]
        program = program.with_report(simulation=sim)
        d = program.save(out / label, force=args.force)
        files[f"{label} report"] = str(write_build_views(d, program, sim, res))
        if program.placement is not None:
            files[f"{label} placement map"] = str(d / "placement.svg")
        for s_ in (ref_sim, sim):
            runs.append({"build": label, "target": program.target.name, "compile_s": t_compile,
                         **headline(s_, graph.dt), "wall_s": s_["wall_s"],
                         "exact_vs_reference": all(f["exact"] for f in sim["fidelity"].values())
                         if s_ is sim else True})
    if args.json:
        _json_out({"samples": int(x.shape[1]), "steps": int(x.shape[0]), "runs": runs, "files": files})
        return
    meta = graph.metadata
    table = Table(title=f"spikemesh demo: {meta.get('name', 'model')} on scikit-learn's digits "
                        f"({x.shape[1]} test samples, {x.shape[0]} steps; loaded in {t_load:.2f} s)")
    for col in ("target", "engine", "accuracy", "energy / inference", "power", "latency / sample",
                "spikes = reference", "run time"):
        table.add_column(col, justify="right" if col not in ("target", "engine") else "left")

    def f(v: Any, unit: str, scale: float = 1.0) -> str:
        return "-" if v is None else f"{v * scale:.4g} {unit}"

    for r in runs:
        table.add_row(r["target"], r["engine"], f"{r['accuracy']:.1%}", f(r["energy_per_inference_uj"], "µJ"),
                      f(r["power_mw"], "mW"), f(r["latency_s"], "µs", 1e6),
                      "yes" if r["exact_vs_reference"] else "no (see report)", f"{r['wall_s']:.2f} s")
    console.print(table)
    console.print("energy and latency: reference = functional, no hardware model; cycle = synchronous mesh "
                  "(compute + NoC cycles); async = Speck event-driven cores (output-spike delay)")
    for k, v in files.items():
        console.print(f"{k}: {v}")


def cmd_train(args: argparse.Namespace) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    import spikemesh
    from spikemesh.trainer.report import save_training

    _check_out(args.out, args.force, args.model, args.data, args.eval_data)
    graph = spikemesh.load_model(args.model)
    with Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total} batches"), TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, info: dict[str, float]) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"epoch {info['epoch']:.0f} loss {info['loss']:.4f}")

        result = spikemesh.train(graph, args.data, target=args.target, epochs=args.epochs, lr=args.lr,
                                 batch=args.batch, surrogate=args.surrogate, seed=args.seed, workers=args.workers,
                                 federated=args.federated, eval_data=args.eval_data, progress=progress)
    out = save_training(result, args.out, force=args.force)
    c = result.cost
    table = Table(title=f"training on {args.target}: {args.epochs} epochs")
    table.add_column("item")
    table.add_column("value", justify="right")
    for h in result.history:
        extra = f", eval acc {h['eval_acc']:.1%}" if "eval_acc" in h else ""
        table.add_row(f"epoch {h['epoch']}", f"loss {h['loss']:.4f}, train acc {h['train_acc']:.1%}{extra}")
    table.add_row("cycles (estimated)", f"{c['cycles']:.4g}")
    table.add_row("energy core / DRAM (uJ)", f"{c['energy_core_pj'] / 1e6:.4g} / {c['energy_pj']['dram'] / 1e6:.4g}")
    table.add_row("DRAM traffic (MB)", f"{c['traffic_bytes']['dram'] / 1e6:.4g}")
    table.add_row("GPU-model DRAM traffic (MB)", f"{c['gpu_dram_bytes'] / 1e6:.4g}")
    table.add_row("DRAM reduction vs GPU model", f"{c['dram_reduction_vs_gpu']:.1%}")
    table.add_row("TFLOPS/W (core, dense-equivalent)", f"{c['tflops_per_w_core']:.3g}")
    console.print(table)
    console.print(f"wrote {out}")


def cmd_export(args: argparse.Namespace) -> None:
    from spikemesh.program import Program
    from spikemesh.report.placement_map import export_placement

    program = Program.load(args.dir)
    if program.placement is None or program.partition is None:
        raise FileFormatError("build directory has no placement", node=str(args.dir),
                              hint="compile for a mesh-family target first")
    out = Path(args.out) if args.out else Path(args.dir) / f"placement.{args.format}"
    # the map's link heat: the cycle engine's measured flits when `spikemesh simulate DIR` ran it (Program.load
    # reads the run from report.json), else the compile-time estimate, as Program.save draws it
    sim = (program.report or {}).get("simulation")
    export_placement(program, out, args.format, sim)
    console.print(f"wrote {out}")


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a build's mesh configuration from the configuration alone: one line per problem, exit 2 when any."""
    from spikemesh.backends.mesh.verify import verify_dir

    problems, summary = verify_dir(args.dir)
    for line in problems:
        print(line)
    if problems:
        return 2
    print(f"ok: {summary['cores']} cores, {summary['axons']} axons, {summary['synapse_entries']} synapse entries, "
          f"{summary['conv_blocks']} conv blocks, {summary['table_entries']} table entries in {summary['routers']} "
          f"routers; synapses checked {'against the graph' if summary['graph'] else 'for duplicates (no graph)'}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> None:
    from spikemesh.sweep import sweep
    from spikemesh.sweep.executors import sigterm_interrupts

    with sigterm_interrupts():  # `kill` ends a sweep as Ctrl-C does: workers and Ray stopped, exit 130
        res = sweep(args.spec, args.out, executor=args.executor, address=args.address, workers=args.workers,
                    keep_builds=args.keep_builds, retry_failed=args.retry_failed, points=args.points,
                    progress=True, on_point=_point_line if output.VERBOSE else None)
    files = "results.csv" + (", results.parquet" if res.parquet else "") + ", sweep.html"
    on_ray = " on Ray" if args.executor == "ray" else ""
    console.print(f"{len(res.rows)} points ({res.ran} run{on_ray}, {res.skipped} already done, {res.failed} failed) "
                  f"in {res.wall_s:.1f} s; wrote {files} in {res.out}", soft_wrap=True)
    if not res.parquet:
        console.print("results.parquet not written: pyarrow is not installed (pip install 'spikemesh[sweep]')")


def _point_line(point: Any, m: dict[str, Any], done: int, total: int, failed: int) -> None:
    """-v: one line per finished point: its axis values, then its status and figures or its error."""
    values = " ".join(f"{k}={v}" for k, v in point.values.items())
    if m.get("status") != "ok":
        what = f"failed: {m.get('error')}"
    else:
        seconds = sum(m.get(k) or 0.0 for k in ("compile_s", "simulate_s"))
        energy = m.get("energy_per_inference_pj")
        what = f"ok, {m.get('cores')} cores" + (f", {energy:.4g} pJ/inference" if energy is not None else "") \
            + f", {seconds:.2f} s"
    console.print(f"[{done}/{total}] point {point.index} {values}: {what}", markup=False, highlight=False,
                  soft_wrap=True)


# ----------------------------------------------------------------------------------------------- parser
