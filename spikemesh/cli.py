"""The ``spikemesh`` command.

Conventions: every command that writes takes ``-o/--out``; ``--json`` prints machine-readable output on stdout
(``targets``, ``info``, ``compile``, ``simulate``, ``report``, ``demo``); ``-q/--quiet`` prints nothing but
errors (and ``--json`` output), ``-v/--verbose`` prints reports untruncated; every option's help shows its default
and choices. Any error -- a SpikemeshError, an OS error on a user's path, or a usage error -- prints one line on
stderr and exits with status 2. Progress (stage name and elapsed time) is shown only on a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from rich.console import Console
from rich.table import Table

from spikemesh.errors import FileFormatError, SimulationError, SpikemeshError

console = Console()
if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    console = Console(width=160)

#: -v/--verbose of the running command (reports untruncated)
VERBOSE = False
DEFAULT_TARGET = "tianjic"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return "x".join(map(str, v)) if all(isinstance(i, int) for i in v) else ", ".join(map(str, v))
    return str(v)


def _json_out(obj: Any) -> None:
    """Machine-readable output: always printed, also under --quiet."""
    from spikemesh.fileio import json_default

    print(json.dumps(obj, indent=1, default=json_default))


def _headline_table(h: Mapping[str, Any], title: str) -> Table:
    from spikemesh.ir.result import format_headline

    table = Table(title=title, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in format_headline(h):
        table.add_row(k, v)
    if h.get("power_mw") is not None and h.get("power_basis"):
        table.add_row("power basis", str(h["power_basis"]))
    return table


# ----------------------------------------------------------------------------------------------- commands
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


def _print_energy(t: Any) -> None:
    """A target's energy table: value, unit, status (published / assumed / n/a) and source per field; crossbar
    targets add their array actions."""
    table = Table(title=f"{t.name}: energy table")
    for col in ("action", "value", "status", "source"):
        table.add_column(col)
    for f, v, src, status in t.energy.rows():
        unit = "mW" if f.endswith("_mw") else "pJ"
        table.add_row(f, "-" if v is None else f"{v:g} {unit}", status, src)
    if t.family == "crossbar":
        from spikemesh.backends.crossbar.target import crossbar_config

        cfg = crossbar_config(t)
        e = cfg.energy
        for k in ("row_drive_pj", "cell_read_pj", "adc_pj", "shift_add_pj", "digital_accumulate_pj",
                  "neuron_update_pj"):
            v = e.adc(cfg.adc_bits or 8) if k == "adc_pj" else getattr(e, k)
            src = e.sources.get(k, "")
            table.add_row(f"crossbar {k}" + (f" ({cfg.adc_bits or 8} b)" if k == "adc_pj" else ""), f"{v:g} pJ",
                          "assumed" if not src or src.startswith("assumed") else "published",
                          src or "assumed: no source given")
    console.print(table)


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
    from spikemesh.data.demo import accuracy
    from spikemesh.ir.result import fidelity

    t0 = time.perf_counter()
    kw: dict[str, Any] = {"progress": progress} if engine in ("fast", "cycle", "async") else {}
    if source == "config":  # the cycle engine on the mesh configuration alone (docs/config.md)
        if engine != "cycle":
            raise SimulationError("--source config runs on the cycle engine", node="simulate",
                                  needed="--engine cycle", available=engine)
        kw = {"source": "config"}
    if compare and engine in ("async", "crossbar"):
        kw["fidelity"] = False  # compared once below, against the same reference run
    result = spikemesh.simulate(subject, x, engine=engine, record=record or None, **kw)
    wall = time.perf_counter() - t0
    sim: dict[str, Any] = {"engine": engine, "steps": result.steps, "batch": result.batch, "wall_s": wall,
                           "spikes": result.spike_counts(), **result.stats, "summary": result.summary()}
    if labels is not None:
        sim["accuracy"] = accuracy(result, labels)
    if compare and engine != "reference":
        ref = spikemesh.simulate(subject, x, engine="reference")
        fid = fidelity(result.spikes, ref, result_output=result.output)
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
        prog = spikemesh.Program(graph=subject.graph, target=subject.target, sections=subject.sections,
                                 report=report, options=subject.options)
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
    if fid:
        table.add_column("vs reference", justify="right")
    for name, arr in result.spikes.items():
        n = arr[0, 0].size * arr.shape[1] * arr.shape[0]
        row = [name, f"{counts[name]:,}", f"{counts[name] / max(n, 1):.4f}"]
        if fid:
            f = fid.get(name)
            row.append("-" if f is None else ("exact" if f["exact"] else f"agreement {f['agreement']:.4f}"))
        table.add_row(*row)
    console.print(table)
    for k, v in paths.items():
        console.print(f"{k.replace('_', '.') if k.startswith('report') else k}: {v}")


def _print_speck(content: dict[str, Any]) -> None:
    """The per-core memory table of a speck-family build (entries used / available)."""
    table = Table(title="speck cores (memory entries used / available)")
    for col in ("core", "layer", "kernel", "neuron", "bias", "layer shape"):
        table.add_column(col)
    for row in content.get("memory", []):
        table.add_row(str(row["core"]), str(row["layer"] or "-"),
                      *(f"{row[f'{k}_used']:,} / {row[f'{k}_available']:,}" for k in ("kernel", "neuron", "bias")),
                      row.get("describe", ""))
    console.print(table)


def _print_report(report: dict[str, Any]) -> None:
    from spikemesh.ir.result import headline

    for section, content in report.items():
        if section == "speck" and isinstance(content, dict):
            _print_speck(content)
            continue
        if section == "simulation" and isinstance(content, dict):
            dt = (report.get("model") or {}).get("dt")
            console.print(_headline_table(headline(content, dt), f"simulation ({content.get('engine')} engine, "
                                          f"{content.get('steps')} steps, batch {content.get('batch')})"))
        if not isinstance(content, dict):
            console.print(f"[bold]{section}[/]: {content}")
            continue
        table = Table(title=section, show_header=False)
        table.add_column("key")
        table.add_column("value", overflow="fold")
        for k, v in content.items():
            if k == "layers" and isinstance(v, list):
                v = ", ".join(f"{layer['name']}({layer['neurons']})" for layer in v)
            elif isinstance(v, dict | list):
                v = json.dumps(v, default=str)
                if len(v) > 160 and not VERBOSE:
                    v = v[:150] + f"... ({len(v):,} chars; -v for all)"
            table.add_row(str(k), _fmt(v))
        console.print(table)


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
    from spikemesh.ir.result import fidelity, headline
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
    export_placement(program, out, args.format)
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

    res = sweep(args.spec, args.out, executor=args.executor, address=args.address, workers=args.workers,
                keep_builds=args.keep_builds, retry_failed=args.retry_failed, points=args.points, progress=True)
    files = "results.csv" + (", results.parquet" if res.parquet else "") + ", sweep.html"
    console.print(f"{len(res.rows)} points ({res.ran} run, {res.skipped} already done, {res.failed} failed) in "
                  f"{res.wall_s:.1f} s; wrote {files} in {res.out}", soft_wrap=True)
    if not res.parquet:
        console.print("results.parquet not written: pyarrow is not installed (pip install 'spikemesh[sweep]')")


# ----------------------------------------------------------------------------------------------- parser
class _Help(argparse.HelpFormatter):
    """Help that shows every option's default and choices."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction) \
                and "choices" not in text:
            text += " (choices: " + ", ".join(map(str, action.choices)) + ")"
        default = action.default
        shows = action.option_strings and not action.required and "default" not in text
        if shows and default is not argparse.SUPPRESS \
                and not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            shown = "none" if default is None or default == [] else \
                ("on" if default is True else "off" if default is False else str(default))
            text += f" (default: {shown})"
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, exit status 2, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    d = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors (and --json output)",
                   **({"default": False} if top else d))
    p.add_argument("-v", "--verbose", action="store_true", help="print reports untruncated",
                   **({"default": False} if top else d))


def build_parser() -> argparse.ArgumentParser:
    from spikemesh import __version__

    p = _Parser(prog="spikemesh", description="Neuromorphic hardware compiler and simulator.", formatter_class=_Help)
    p.add_argument("--version", action="version", version=f"spikemesh {__version__}")
    _common(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help, description=help, formatter_class=_Help)
        _common(s)
        return s

    s = command("targets", "list target presets and their resources")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--energy", action="store_true", help="also print each preset's energy table with sources")
    s.set_defaults(func=cmd_targets)

    s = command("target", "show one target: resources, features and energy table with sources")
    s.add_argument("action", choices=["show"], help="what to do")
    s.add_argument("name", help="preset name, NAME:AxB, or a .toml file")
    s.set_defaults(func=cmd_target)

    s = command("info", "layers, neurons, synapses and per-layer fan-in/fan-out of a model")
    s.add_argument("model", help="model file: spikemesh graph (.smg) or NIR (.nir)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_info)

    s = command("compile", "compile a model for a target into a build directory")
    s.add_argument("model", help="model file: spikemesh graph (.smg) or NIR (.nir)")
    s.add_argument("--target", "-t", default=None,
                   help=f"preset name, NAME:AxB for AxB chips, or a .toml file (default: {DEFAULT_TARGET})")
    s.add_argument("--out", "-o", required=True,
                   help="build directory: a new path, an empty directory or an earlier build (replaced as a whole)")
    s.add_argument("--force", action="store_true", help="replace --out even if it is not a spikemesh build")
    s.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    s.add_argument("--time-limit", type=float, default=8.0,
                   help="seconds for all solver calls of the compile together")
    s.add_argument("--strategy", default="groups", choices=["slicing", "tiles", "groups", "hypergraph"],
                   help="partition strategy (groups: the network-group optimiser)")
    s.add_argument("--placer", default="auto", choices=["auto", "anneal", "cpsat", "rowmajor", "zigzag", "neighbor"],
                   help="placer (auto: chip assignment by CP-SAT, or chip-level annealing beyond its size, then "
                        "annealing and CP-SAT windows; cpsat: exact up to 30 cores: cut search on meshes of <= 20 "
                        "slots, branch and bound, then CP-SAT)")
    s.add_argument("--routing", default="select",
                   choices=["select", "xy", "yx", "west_first", "north_last", "negative_first", "odd_even"],
                   help="routing (select: CP-SAT choice among all, least max link load, deadlock-free)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=cmd_compile)

    s = command("simulate", "run a compiled build directory or a model file on inputs")
    s.add_argument("model", help="build directory or model file")
    s.add_argument("--input", "-i", required=True,
                   help=".npy array [T, B, *input_shape]; .npz with 'inputs' (and optional 'labels'); an event "
                        "stream: .npy structured x, y, t, p or (N, 4) x, y, t, p array (t in microseconds, tonic's "
                        "layout), .npz with x, y, p, t (seconds); or a NIR data file (.h5, nir.read_data)")
    s.add_argument("--dt", type=float, default=None,
                   help="event streams: bin width in seconds (default: the model's dt)")
    s.add_argument("--steps", type=int, default=None, help="time steps (truncates or zero-pads the input)")
    s.add_argument("--engine", "-e", default="reference",
                   choices=["reference", "fast", "cycle", "async", "crossbar", "trainer"],
                   help="reference (golden), fast (Numba functional), cycle (NoC timing; a build directory), async "
                        "(Speck event-driven; a speck build), crossbar (memristor arrays), trainer (training chip "
                        "FP pass)")
    s.add_argument("--record", nargs="*", default=[], metavar="POP", help="populations whose membrane traces to record")
    s.add_argument("--source", default="program", choices=["program", "config"],
                   help="cycle engine: run the Program's sections or its mesh configuration alone")
    s.add_argument("--labels", default=None, help=".npy labels [B]: prints the accuracy (argmax of output counts)")
    s.add_argument("--fidelity", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the reference engine and compare spikes per population")
    s.add_argument("--out", "-o", default=None, help="write spike rasters and traces (npz) here")
    s.add_argument("--json", action="store_true", help="print the headline figures, spikes and file paths as JSON")
    s.set_defaults(func=cmd_simulate)

    s = command("export", "export an artifact of a build directory (placement map or table)")
    s.add_argument("what", choices=["placement"], help="what to export")
    s.add_argument("dir", help="build directory")
    s.add_argument("--format", "-f", default="png", choices=["png", "svg", "json", "csv"], help="file format")
    s.add_argument("--out", "-o", default=None, help="output file (default: DIR/placement.FORMAT)")
    s.set_defaults(func=cmd_export)

    s = command("verify", "check a build's mesh configuration from the configuration alone (limits, "
                          "routing tables, every synapse once); one line per problem, exit 2 if any")
    s.add_argument("dir", help="build directory (mesh_config.json and weights.npz)")
    s.set_defaults(func=cmd_verify)

    s = command("report", "print a build directory's report, or the path of its report.html")
    s.add_argument("dir", help="build directory")
    s.add_argument("--json", action="store_true", help="print the raw JSON")
    s.add_argument("--html", action="store_true", help="print the path of report.html (written if missing)")
    s.add_argument("--open", action="store_true", help="open report.html in the web browser")
    s.set_defaults(func=cmd_report)

    s = command("demo", "the digits demo: compile a trained conv SNN for a mesh target and Speck, run the "
                        "reference and the timed engines, write report.html")
    s.add_argument("--target", "-t", default=DEFAULT_TARGET, help="mesh-family target for the first build")
    s.add_argument("--samples", type=int, default=None,
                   help="test samples to run (default: all 360 of the held-out split)")
    s.add_argument("--time-limit", type=float, default=2.0, help="seconds for all solver calls of the mesh compile")
    s.add_argument("--out", "-o", default="build/demo", help="directory for the two builds (mesh/, speck/)")
    s.add_argument("--force", action="store_true", help="replace --out/mesh and --out/speck even if they are not "
                   "spikemesh builds")
    s.add_argument("--json", action="store_true", help="print the figures and paths as JSON")
    s.set_defaults(func=cmd_demo)

    s = command("sweep", "compile and simulate the product of a sweep file's axes (resumable)")
    s.add_argument("spec", help="sweep file (.toml): [axes] model, inputs, target, core.*/noc.*/chips overrides, "
                                "seed, strategy, placer, routing, engine; [sweep] points, filter, samples, steps")
    s.add_argument("--out", "-o", required=True, help="results directory (re-running skips finished points)")
    s.add_argument("--executor", default="local", choices=["local", "ray", "serial"],
                   help="local (process pool over this machine's cores), ray (a Ray cluster or a local "
                        "Ray instance), serial (this process)")
    s.add_argument("--address", default=None, help="Ray cluster to join (HEAD:6379); default: start a local one")
    s.add_argument("--workers", type=int, default=None, help="processes (local) or CPUs of a local Ray instance "
                                                             "(default: every core)")
    s.add_argument("--points", type=int, default=None, help="run at most this many points (overrides the file)")
    s.add_argument("--keep-builds", action="store_true", help="keep every point's build directory in OUT/builds")
    s.add_argument("--retry-failed", action="store_true", help="run failed points again")
    s.set_defaults(func=cmd_sweep)

    s = command("train", "train a model with BPTT on the training engine (target family 'trainer')")
    s.add_argument("model", help="model file: spikemesh graph (.smg) or NIR (.nir)")
    s.add_argument("--target", "-t", default="trainer", help="training target preset or .toml")
    s.add_argument("--data", "-d", required=True, help=".npz with 'inputs' [T, N, *input_shape] and 'labels' [N]")
    s.add_argument("--eval-data", default=None, help="held-out .npz (same layout) for the accuracy")
    s.add_argument("--epochs", type=int, default=1, help="epochs")
    s.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    s.add_argument("--batch", type=int, default=32, help="mini-batch size")
    s.add_argument("--surrogate", default="fast_sigmoid", choices=["fast_sigmoid", "rectangular", "sigmoid"],
                   help="surrogate gradient")
    s.add_argument("--workers", type=int, default=1, help="data-parallel (or federated) workers")
    s.add_argument("--federated", action="store_true", help="federated averaging instead of gradient all-reduce")
    s.add_argument("--seed", type=int, default=0, help="seed")
    s.add_argument("--out", "-o", default="build/train", help="build directory")
    s.add_argument("--force", action="store_true", help="replace --out even if it is not a spikemesh build")
    s.set_defaults(func=cmd_train)
    return p


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A user error (SpikemeshError, an OS error on a user's path, too little memory) prints one
    line on stderr and returns 2; an internal error (a bug) prints one line and returns 1 (the traceback with
    --verbose or SPIKEMESH_DEBUG=1); Ctrl-C returns 130. Writers leave no partial files in any of these cases."""
    import os

    global VERBOSE
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (2), --help / --version (0)
        return int(e.code or 0) if isinstance(e.code, int) or e.code is None else 2
    VERBOSE = bool(getattr(args, "verbose", False))
    console.quiet = bool(getattr(args, "quiet", False))
    for name in ("quiet", "verbose"):
        if not hasattr(args, name):
            setattr(args, name, False)
    try:
        rc = args.func(args)
    except SpikemeshError as e:
        print(f"spikemesh: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"spikemesh: error: {_one_line(where + (e.strerror or str(e)))}", file=sys.stderr)
        return 2
    except MemoryError:
        print("spikemesh: error: out of memory; hint: use a smaller model, fewer steps or a smaller batch",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spikemesh: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if VERBOSE or os.environ.get("SPIKEMESH_DEBUG"):
            raise
        print(f"spikemesh: internal error: {_one_line(f'{type(e).__name__}: {e}')[:300]}; hint: this is a bug, "
              "please report it (--verbose shows the traceback)", file=sys.stderr)
        return 1
    finally:
        console.quiet = False
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
