"""What the commands print: tables, JSON, the headline figures, the report sections."""


from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
    console = Console(width=160)

#: -v/--verbose of the running command (reports untruncated); set by ``main``
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
