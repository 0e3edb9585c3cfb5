"""The argument parser (one subparser per command, defaults and choices in every help) and ``main``."""


from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from spikemesh.cli import output
from spikemesh.cli.commands import (
    cmd_compile,
    cmd_demo,
    cmd_export,
    cmd_info,
    cmd_report,
    cmd_simulate,
    cmd_sweep,
    cmd_target,
    cmd_targets,
    cmd_train,
    cmd_verify,
)
from spikemesh.cli.output import DEFAULT_TARGET, console
from spikemesh.errors import SpikemeshError, interrupted


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
        self.exit(2, f"{self.prog}: error: {message}{self._did_you_mean(message)} (see {self.prog} --help)\n")

    def _did_you_mean(self, message: str) -> str:
        """"; did you mean --time-limit?" for a misspelt option or a misspelt choice (difflib's close match)."""
        import difflib
        import re

        words: list[str] = []
        known: list[str] = []
        if m := re.match(r"unrecognized arguments: (.*)", message):
            words = [w.split("=")[0] for w in m.group(1).split() if w.startswith("-")]
            # options of this parser and of its sub-commands (parse_args reports them from the top parser)
            subs = [p for a in self._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
            known = sorted({o for p in (self, *subs) for a in p._actions for o in a.option_strings})
        elif m := re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message):
            words, known = [m.group(1)], re.findall(r"'([^']*)'", m.group(2))
        hits = [h for w in words for h in difflib.get_close_matches(w, known, n=1)]
        return f"; did you mean {', '.join(hits)}?" if hits else ""


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
    s.add_argument("--out", "-o", required=True,
                   help="results directory: new, empty or a sweep's (re-running skips finished points)")
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

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (2), --help / --version (0)
        return int(e.code or 0) if isinstance(e.code, int) or e.code is None else 2
    output.VERBOSE = bool(getattr(args, "verbose", False))
    console.quiet = bool(getattr(args, "quiet", False))
    for name in ("quiet", "verbose"):
        if not hasattr(args, name):
            setattr(args, name, False)
    try:
        rc = args.func(args)
    except SpikemeshError as e:
        print(f"spikemesh: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`spikemesh ... | head`): not an error of the command
        sys.stderr.close()
        return 0
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
        if interrupted(e):  # Ctrl-C that came back wrapped (a Numba kernel's call)
            print("spikemesh: interrupted", file=sys.stderr)
            return 130
        if output.VERBOSE or os.environ.get("SPIKEMESH_DEBUG"):
            raise
        print(f"spikemesh: internal error: {_one_line(f'{type(e).__name__}: {e}')[:300]}; hint: this is a bug, "
              "please report it (--verbose shows the traceback)", file=sys.stderr)
        return 1
    finally:
        console.quiet = False
    return int(rc or 0)
