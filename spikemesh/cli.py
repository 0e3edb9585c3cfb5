"""The ``spikemesh`` command. Any SpikemeshError (and any OS error on a user's path) prints one line on stderr
and exits with status 2; argparse usage errors also exit 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from spikemesh.errors import FileFormatError, SimulationError, SpikemeshError

console = Console()
if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    console = Console(width=160)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return "x".join(map(str, v)) if all(isinstance(i, int) for i in v) else ", ".join(map(str, v))
    return str(v)


# ----------------------------------------------------------------------------------------------- commands
def cmd_targets(args: argparse.Namespace) -> None:
    from spikemesh.target.registry import list_targets, resources_summary

    table = Table(title="targets (presets; add :AxB for a grid of chips, or pass a .toml file)")
    for col in ("name", "family", "chips", "cores", "neurons", "axons/core", "synapse memory", "clock"):
        table.add_column(col)
    for t in list_targets():
        r = resources_summary(t)
        table.add_row(t.name, t.family, r["chips"], str(r["cores"]), f"{r['neurons']:,}",
                      "/".join(map(str, r["axons_per_core"])), f"{r['synapse_bits'] / 8 / 1024:,.0f} KiB",
                      f"{t.clock_hz / 1e6:g} MHz")
    console.print(table)


def cmd_info(args: argparse.Namespace) -> None:
    from spikemesh.pipeline import load_model

    g = load_model(args.model)
    s = g.summary()
    table = Table(title=f"{args.model}: {len(s['layers'])} layers, {s['neurons']:,} neurons, "
                        f"{s['synapses']:,} synapses, dt={s['dt']:g} s")
    for col in ("layer", "neuron", "shape", "neurons", "synapses", "fan-in max", "fan-out max", "from"):
        table.add_column(col)
    for layer in s["layers"]:
        table.add_row(layer["name"], layer["kind"], _fmt(layer["shape"]), f"{layer['neurons']:,}",
                      f"{layer['synapses']:,}", str(layer["fan_in_max"]), str(layer["fan_out_max"]),
                      ", ".join(layer["sources"]))
    console.print(table)


def cmd_compile(args: argparse.Namespace) -> None:
    import spikemesh

    opts: dict[str, Any] = {"seed": args.seed, "time_limit": args.time_limit, "strategy": args.strategy,
                            "placer": args.placer, "routing": args.routing}
    program = spikemesh.compile(args.model, args.target, progress=True, **opts)
    out = program.save(args.out)
    _print_report(program.report)
    console.print(f"wrote {out}")


def _load_inputs(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise FileFormatError("input file not found", node=str(p), hint="give a .npy array [T, B, *input_shape]")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise FileFormatError(f"cannot read input array ({type(e).__name__})", node=str(p),
                              hint="save inputs with numpy.save as [T, B, *input_shape]") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "inputs" not in data.files:
                raise FileFormatError("npz input has no 'inputs' array", node=str(p), available=data.files)
            return data["inputs"]
    return data


def _fit_steps(x: np.ndarray, steps: int | None) -> np.ndarray:
    """Truncate to, or pad with zero steps up to, ``steps`` time steps."""
    if steps is None or steps == x.shape[0]:
        return x
    if steps < 1:
        raise SimulationError("--steps must be positive", node="simulate", needed=">= 1", available=steps)
    if steps < x.shape[0]:
        return x[:steps]
    pad = np.zeros((steps - x.shape[0], *x.shape[1:]), dtype=x.dtype)
    return np.concatenate([x, pad])


def cmd_simulate(args: argparse.Namespace) -> None:
    import spikemesh
    from spikemesh.fileio import atomic_write_json

    src = Path(args.model)
    subject: Any = spikemesh.Program.load(src) if src.is_dir() else spikemesh.load_model(src)
    from spikemesh.simulator.io import load_input_file

    graph = subject if isinstance(subject, spikemesh.Graph) else subject.graph
    x = load_input_file(args.input, graph, args.steps)
    x = _fit_steps(_load_inputs(args.input), args.steps) if x is None else x
    t0 = time.perf_counter()
    kw: dict[str, Any] = {"progress": True} if args.engine in ("fast", "cycle") else {}
    result = spikemesh.simulate(subject, x, engine=args.engine, record=args.record or None, **kw)
    if isinstance(x, dict):
        x = next(iter(x.values()))
    wall = time.perf_counter() - t0
    counts = result.spike_counts()
    table = Table(title=f"{args.engine} engine: {result.steps} steps, batch {x.shape[1]}, {wall:.3f} s")
    table.add_column("population")
    table.add_column("spikes", justify="right")
    table.add_column("rate / neuron / step", justify="right")
    for name, arr in result.spikes.items():
        n = arr[0, 0].size * arr.shape[1] * arr.shape[0]
        table.add_row(name, f"{counts[name]:,}", f"{counts[name] / max(n, 1):.4f}")
    console.print(table)
    sim = {"engine": args.engine, "steps": result.steps, "batch": int(x.shape[1]), "wall_s": wall,
           "spikes": counts, **result.stats}
    if src.is_dir():
        report = {**subject.report, "simulation": sim}
        atomic_write_json(src / "report.json", report)
    if args.out:
        result.save_rasters(args.out)
        console.print(f"wrote {args.out}")


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
    for section, content in report.items():
        if section == "speck" and isinstance(content, dict):
            _print_speck(content)
            continue
        if not isinstance(content, dict):
            console.print(f"[bold]{section}[/]: {content}")
            continue
        table = Table(title=section, show_header=False)
        table.add_column("key")
        table.add_column("value")
        for k, v in content.items():
            if k == "layers" and isinstance(v, list):
                v = ", ".join(f"{layer['name']}({layer['neurons']})" for layer in v)
            elif isinstance(v, dict | list):
                v = json.dumps(v, default=str)
                v = v if len(v) < 160 else v[:157] + "..."
            table.add_row(str(k), _fmt(v))
        console.print(table)


def cmd_report(args: argparse.Namespace) -> None:
    p = Path(args.dir) / "report.json"
    if not p.is_file():
        raise FileFormatError("no report.json", node=str(args.dir), hint="run `spikemesh compile` first")
    try:
        report = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError):
        raise FileFormatError("report.json is corrupt", node=str(p), hint="compile again") from None
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print_report(report)


def cmd_demo(args: argparse.Namespace) -> None:
    import spikemesh
    from spikemesh.data.demo import accuracy, load_demo

    t0 = time.perf_counter()
    graph, inputs, labels = load_demo()
    t_load = time.perf_counter() - t0
    program = spikemesh.compile(graph, args.target, progress=True, seed=0)
    out = program.save(args.out)
    t0 = time.perf_counter()
    result = spikemesh.simulate(program, inputs, engine=args.engine)
    t_sim = time.perf_counter() - t0
    acc = accuracy(result, labels)
    table = Table(title=f"spikemesh demo: {graph.metadata.get('name', 'bundled model')} on {program.target.name}")
    table.add_column("item")
    table.add_column("value", justify="right")
    m = program.report["model"]
    table.add_row("layers / neurons / synapses", f"{len(m['layers'])} / {m['neurons']:,} / {m['synapses']:,}")
    table.add_row("samples, steps", f"{inputs.shape[1]}, {inputs.shape[0]}")
    table.add_row(f"accuracy ({args.engine} engine)", f"{acc:.1%}")
    for name, c in result.spike_counts().items():
        table.add_row(f"spikes {name}", f"{c:,}")
    table.add_row("time load [s]", f"{t_load:.3f}")
    for stage, secs in program.report["time"].items():
        table.add_row(f"time {stage} [s]", f"{secs:.3f}")
    table.add_row("time simulate [s]", f"{t_sim:.3f}")
    console.print(table)
    console.print(f"build directory: {out}")


def cmd_train(args: argparse.Namespace) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    import spikemesh
    from spikemesh.trainer.report import save_training

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
    out = save_training(result, args.out)
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
    Console().print(f"wrote {out}")


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
def build_parser() -> argparse.ArgumentParser:
    from spikemesh import __version__

    p = argparse.ArgumentParser(prog="spikemesh", description="Neuromorphic hardware compiler and simulator.")
    p.add_argument("--version", action="version", version=f"spikemesh {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("targets", help="list target presets and their resources")
    s.set_defaults(func=cmd_targets)

    s = sub.add_parser("info", help="layers, neurons, synapses and per-layer fan-in/fan-out of a model")
    s.add_argument("model", help="model file: spikemesh graph (.smg) or NIR (.nir)")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("compile", help="compile a model for a target into a build directory")
    s.add_argument("model", help="model file: spikemesh graph (.smg) or NIR (.nir)")
    s.add_argument("--target", "-t", default="tianjic", help="preset name, NAME:AxB for AxB chips, or a .toml file")
    s.add_argument("--out", "-o", required=True, help="build directory (replaced as a whole)")
    s.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    s.add_argument("--time-limit", type=float, default=10.0, help="seconds per solver call (default 10)")
    s.add_argument("--strategy", default="groups", choices=["slicing", "tiles", "groups", "hypergraph"],
                   help="partition strategy (default groups: the network-group optimiser)")
    s.add_argument("--placer", default="auto", choices=["auto", "anneal", "cpsat", "rowmajor", "zigzag", "neighbor"],
                   help="placer (default auto: chip assignment by CP-SAT, or chip-level annealing beyond its size, "
                        "then annealing and CP-SAT windows; cpsat: exact up to 30 cores: cut search on meshes of "
                        "<= 20 slots, branch and bound, then CP-SAT)")
    s.add_argument("--routing", default="select",
                   choices=["select", "xy", "yx", "west_first", "north_last", "negative_first", "odd_even"],
                   help="routing (default select: CP-SAT choice among all, least max link load, deadlock-free)")
    s.set_defaults(func=cmd_compile)

    s = sub.add_parser("simulate", help="run a compiled build directory or a model file on an input array")
    s.add_argument("model", help="build directory or model file")
    s.add_argument("--input", "-i", required=True,
                   help=".npy array [T, B, *input_shape], .npz with 'inputs' or an event list x, y, p, t (seconds), "
                        "or a NIR data file (.h5, nir.read_data)")
    s.add_argument("--steps", type=int, default=None, help="time steps (truncates or zero-pads the input)")
    s.add_argument("--engine", "-e", default="reference",
                   choices=["reference", "fast", "cycle", "async", "crossbar", "trainer"],
                   help="reference (default), fast (Numba functional), cycle (NoC timing; a build directory), async "
                        "(Speck event-driven; a speck build), crossbar (memristor arrays), training (FP pass)")
    s.add_argument("--record", nargs="*", default=[], help="populations whose membrane traces to record")
    s.add_argument("--out", help="write spike rasters (npz) here")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("export", help="export an artifact of a build directory (placement map or table)")
    s.add_argument("what", choices=["placement"], help="what to export")
    s.add_argument("dir", help="build directory")
    s.add_argument("--format", "-f", default="png", choices=["png", "svg", "json", "csv"])
    s.add_argument("--out", "-o", help="output file (default DIR/placement.FORMAT)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("report", help="print a build directory's report.json")
    s.add_argument("dir", help="build directory")
    s.add_argument("--json", action="store_true", help="print the raw JSON")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("demo", help="compile and run the bundled trained model on bundled inputs")
    s.add_argument("--target", "-t", default="tianjic", help="target (default tianjic)")
    s.add_argument("--engine", "-e", default="reference", help="simulation engine (default reference)")
    s.add_argument("--out", "-o", default="build/demo", help="build directory (default build/demo)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("sweep", help="compile and simulate the product of a sweep file's axes (resumable)")
    s.add_argument("spec", help="sweep file (.toml): [axes] model, inputs, target, core.*/noc.*/chips overrides, "
                                "seed, strategy, placer, routing, engine; [sweep] points, filter, samples, steps")
    s.add_argument("--out", "-o", required=True, help="results directory (re-running skips finished points)")
    s.add_argument("--executor", default="local", choices=["local", "ray", "serial"],
                   help="local (default: process pool over this machine's cores), ray (a Ray cluster or a local "
                        "Ray instance), serial (this process)")
    s.add_argument("--address", default=None, help="Ray cluster to join (HEAD:6379); default: start a local one")
    s.add_argument("--workers", type=int, default=None, help="processes (local) or CPUs of a local Ray instance "
                                                             "(default: every core)")
    s.add_argument("--points", type=int, default=None, help="run at most this many points (overrides the file)")
    s.add_argument("--keep-builds", action="store_true", help="keep every point's build directory in OUT/builds")
    s.add_argument("--retry-failed", action="store_true", help="run failed points again")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("train", help="train a model with BPTT on the training engine (target family 'trainer')")
    s.add_argument("model", help="model file: spikemesh graph (.smg) or NIR (.nir)")
    s.add_argument("--target", "-t", default="trainer", help="training target preset or .toml (default trainer)")
    s.add_argument("--data", "-d", required=True, help=".npz with 'inputs' [T, N, *input_shape] and 'labels' [N]")
    s.add_argument("--eval-data", default=None, help="held-out .npz (same layout) for the accuracy")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--surrogate", default="fast_sigmoid", help="fast_sigmoid | rectangular | sigmoid")
    s.add_argument("--workers", type=int, default=1, help="data-parallel (or federated) workers")
    s.add_argument("--federated", action="store_true", help="federated averaging instead of gradient all-reduce")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", "-o", default="build/train", help="build directory (default build/train)")
    s.set_defaults(func=cmd_train)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpikemeshError as e:
        print(f"spikemesh: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"spikemesh: error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
