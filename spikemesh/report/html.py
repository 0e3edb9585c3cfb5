"""``report.html``: one self-contained page per build directory (inline CSS and SVG figures, no scripts, no
network fetches), rewritten by ``Program.save`` and after every ``spikemesh simulate DIR``.

Sections: summary card (model, target, chips, cores used, energy per inference, power, latency per sample,
accuracy, compile time per stage), per-layer table (neurons, synapses, cores, spikes, energy, fidelity vs the
reference), placement map (simulated link heat when the cycle engine ran, chip borders, host entry, per-core
tooltips), energy by action / layer / core, spike rasters and membrane traces (when the run's arrays are given),
latency per step (cycle engine), routing (deadlock certificate, routing-table sizes), quantisation, Speck cores.

Inputs are duck-typed: ``program`` has ``graph``, ``target``, ``report`` and the sections; ``sim`` is the
``simulation`` entry of report.json (``headline`` in spikemesh.ir.result reads the figures); ``result`` a SimResult
for rasters and traces. The same inputs give the same bytes (fixed SVG ids; only measured times differ).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spikemesh.errors import SpikemeshError
from spikemesh.fileio import atomic_open
from spikemesh.ir.result import format_headline, headline
from spikemesh.report import plots
from spikemesh.report.placement_map import figure_bytes, placement_rows, placement_svg

REPORT_FILE = "report.html"
MAX_RASTERS = 6

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;
color:#1d2127}
main{max-width:1100px;margin:0 auto;padding:1.2rem}
h1{font-size:1.45rem;margin:.3rem 0 1rem}h2{font-size:1.15rem;margin:0 0 .6rem}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:1rem 1.2rem;margin:0 0 1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.6rem}
.card{border:1px solid #e3e6ea;border-radius:6px;padding:.5rem .7rem;background:#fafbfc}
.card .k{font-size:.75rem;color:#5c6670;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:1.15rem;font-weight:600;margin-top:.15rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{padding:.28rem .5rem;border-bottom:1px solid #eceef1;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.4rem 0 1rem}figure svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.8rem;color:#5c6670;margin-top:.2rem}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:.8rem}
.note{font-size:.82rem;color:#5c6670}.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
code{font-size:.85em}
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, fmt: str = "{:,}") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return fmt.format(v) if isinstance(v, int) else str(v)


def _inline_svg(svg: str, prefix: str) -> str:
    """A matplotlib SVG made safe to inline next to others: no XML prolog/doctype, every id prefixed."""
    svg = re.sub(r"^.*?(<svg\b)", r"\1", svg, count=1, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    if ids:
        svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
        svg = re.sub(r'(url\(#|href="#)([^)"]+)', lambda m: m.group(1) + (f"{prefix}-{m.group(2)}"
                                                                          if m.group(2) in ids else m.group(2)), svg)
    return svg


def _figure(fig: Any, prefix: str, caption: str = "") -> str:
    svg = figure_bytes(fig, "svg").decode()
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure class="fig" id="{prefix}">{_inline_svg(svg, prefix)}{cap}</figure>'


def _table(head: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    th = "".join(f'<th class="{"n" if i in numeric else ""}">{_e(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{c if isinstance(c, _Raw) else _e(c)}'
                                     "</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Trusted HTML inside a table cell."""


def _cards(items: list[tuple[str, str]]) -> str:
    cards = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
                    for k, v in items)
    return f'<div class="cards">{cards}</div>'


def _summary(program: Any, sim: Mapping[str, Any] | None) -> str:
    rep = program.report or {}
    t, m = rep.get("target", {}), rep.get("model", {})
    name = program.graph.metadata.get("name", "model") if getattr(program.graph, "metadata", None) else "model"
    cores = _cores_used(program)
    items = [("model", name), ("target", f"{t.get('name', program.target.name)} ({t.get('family', '')})"),
             ("chips", str(t.get("chips", "1x1"))), ("cores used", f"{cores} of {t.get('cores', '?')}"),
             ("neurons / synapses", f"{m.get('neurons', 0):,} / {m.get('synapses', 0):,}")]
    note = ""
    if sim:
        h = headline(sim, m.get("dt"))
        items.append(("engine", f"{h['engine']}: {h['steps']} steps x {h['batch']} samples"))
        items += [(k, v) for k, v in format_headline(h)]
        bases = [b for b in (h.get("power_basis"), h.get("latency_basis")) if b]
        note = f'<p class="note">power: {_e(h["power_basis"])}' if h.get("power_basis") else '<p class="note">'
        note += f"; latency: {_e(h['latency_basis'])}" if h.get("latency_basis") else ""
        note += "</p>" if bases else "</p>"
    else:
        note = ('<p class="note">No simulation yet: run <code>spikemesh simulate DIR -i INPUTS -e cycle</code> to '
                "add energy, power, latency and the simulated link heat.</p>")
    times = rep.get("time") or {}
    t_rows = [[k, f"{float(v):.3f}"] for k, v in times.items()]
    t_rows.append(["total", f"{sum(float(v) for v in times.values()):.3f}"])
    return (f"<section id='summary'><h2>Summary</h2>{_cards(items)}{note}"
            f"<h3 style='font-size:1rem'>Compile time per stage (s)</h3>{_table(['stage', 'seconds'], t_rows, {1})}"
            "</section>")


def _cores_used(program: Any) -> int:
    part = getattr(program, "partition", None)
    if part is not None:
        return len(part.cores)
    speck = (program.report or {}).get("speck") or {}
    if speck.get("layer2core"):
        return len(set(speck["layer2core"].values()))
    return 0


def _layer_cores(program: Any) -> dict[str, Any]:
    rep = program.report or {}
    per = (rep.get("partition") or {}).get("cores_per_layer")
    if per:
        return dict(per)
    l2c = (rep.get("speck") or {}).get("layer2core") or {}
    return {k: f"core {v}" for k, v in l2c.items()}


def _layers(program: Any, sim: Mapping[str, Any] | None) -> str:
    rep = program.report or {}
    layers = (rep.get("model") or {}).get("layers") or []
    cores = _layer_cores(program)
    sim = sim or {}
    batch = max(1, int(sim.get("batch") or 1))
    steps = max(1, int(sim.get("steps") or 1))
    spikes = sim.get("spikes") or {}
    e_layer = (sim.get("energy") or {}).get("by_layer_pj") or {}
    fid = sim.get("fidelity") or {}
    ffid = (((sim.get("summary") or {}).get("fidelity") or {}).get("float_model") or {}).get("layers") or {}
    rows = []
    for L in layers:
        n = L["name"]
        s = spikes.get(n)
        rate = f"{s / (L['neurons'] * steps * batch):.4f}" if s is not None and L["neurons"] else "–"
        f = fid.get(n)
        if isinstance(f, Mapping):
            ok = f.get("exact")
            fcell = _Raw(f'<span class="{"ok" if ok else "bad"}">{"exact" if ok else "differs"}</span> '
                         f"(agreement {f.get('agreement', 0):.4f})")
        else:
            fcell = "–"
        rows.append([n, L.get("kind", ""), "x".join(map(str, L.get("shape", []))), f"{L['neurons']:,}",
                     f"{L['synapses']:,}", _num(cores.get(n)), _num(s), rate,
                     f"{e_layer[n] / batch / 1e6:.4g}" if n in e_layer else "–", fcell])
        if ffid:
            rows[-1].append(f"{ffid[n]['differing_fraction']:.4f}" if n in ffid else "–")
    note = ("<p class='note'>spikes: total over the run; energy: dynamic µJ per inference (synaptic events charged "
            "to the receiving layer); fidelity: spikes compared with the reference engine on the same inputs "
            "(agreement = matching spikes / spikes in either)"
            + ("; vs float model: fraction of (step, sample, neuron) cells whose spike count differs from the "
               "float model's reference run (the quantization error)" if ffid else "") + ".</p>")
    head = ["layer", "neuron", "shape", "neurons", "synapses", "cores", "spikes", "rate / neuron / step",
            "energy (µJ / inf.)", "fidelity vs reference"] + (["vs float model"] if ffid else [])
    return ("<section id='layers'><h2>Layers</h2>"
            + _table(head, rows, {3, 4, 5, 6, 7, 8} | ({10} if ffid else set())) + note + "</section>")


def _placement(program: Any, sim: Mapping[str, Any] | None) -> str:
    if getattr(program, "placement", None) is None or getattr(program, "partition", None) is None:
        return ""
    svg = placement_svg(program, sim)
    heat = "simulated flits per step (cycle engine)" if ((sim or {}).get("noc") or {}).get("link_flits") is not None \
        else "compile-time estimate of spike copies per step"
    fig = f'<figure class="fig" id="fig-placement">{_inline_svg(svg, "fig-placement")}<figcaption>Link heat: ' \
          f"{_e(heat)}. Hover a core for its id, layer, role, neurons, utilisation and energy.</figcaption></figure>"
    energy_pj = ((sim or {}).get("energy") or {}).get("by_core_pj")
    rows = [[r["core"], f"({r['chip'][0]},{r['chip'][1]})", f"({r['x']},{r['y']})", ", ".join(r["layers"]),
             r["role"], r["neuron_count"], f"{r['utilisation']:.0%}",
             f"{r['energy_pj'] / max(1, int((sim or {}).get('batch') or 1)) / 1e6:.4g}" if "energy_pj" in r else "–"]
            for r in placement_rows(program, energy_pj)]
    table = _table(["core", "chip", "slot", "layers", "role", "neurons", "utilisation", "energy (µJ / inf.)"], rows,
                   {5, 6, 7})
    return (f"<section id='placement'><h2>Placement</h2>{fig}<details><summary>per-core table ({len(rows)} cores)"
            f"</summary>{table}</details></section>")


def _energy(sim: Mapping[str, Any] | None) -> str:
    if not sim or not sim.get("energy"):
        return ""
    figs = []
    for by in plots.ENERGY_BY:
        try:
            figs.append(_figure(plots.energy(sim, by=by), f"fig-energy-{by}"))
        except SpikemeshError as e:  # an engine without this breakdown: say so instead of a figure
            figs.append(f"<p class='note'>{_e(e)}</p>")
    return f"<section id='energy'><h2>Energy</h2><div class='grid2'>{''.join(figs)}</div></section>"


def _activity(result: Any) -> str:
    if result is None or not getattr(result, "spikes", None):
        return ""
    parts = []
    for name in list(result.spikes)[:MAX_RASTERS]:
        parts.append(_figure(plots.raster(result, name), f"fig-raster-{_slug(name)}"))
    traces = [_figure(plots.trace(result, name), f"fig-trace-{_slug(name)}") for name in list(result.v)[:MAX_RASTERS]
              if name in result.spikes]
    note = "" if traces else ("<p class='note'>No membrane traces: record layers with <code>--record NAME</code> "
                              "(or <code>record=[...]</code>).</p>")
    return (f"<section id='activity'><h2>Spike rasters and membrane traces</h2><div class='grid2'>{''.join(parts)}"
            f"{''.join(traces)}</div>{note}</section>")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


def _latency(sim: Mapping[str, Any] | None) -> str:
    if not sim or not ((sim.get("noc") or {}).get("per_step")):
        return ""
    noc = sim["noc"]
    rows = [[k, _num(noc.get(k))] for k in ("latency_cycles_per_step_max", "latency_cycles_per_step_mean",
                                            "packets", "stalls", "link_load_max", "forwarding_phases")]
    return (f"<section id='latency'><h2>Latency per step (cycle engine)</h2>"
            f"{_figure(plots.latency(sim), 'fig-latency')}{_table(['figure', 'value'], rows, {1})}</section>")


def _routing(program: Any) -> str:
    r = (program.report or {}).get("routing")
    if not r:
        return ""
    free = r.get("deadlock_free")
    cert = (f"<p>Deadlock certificate: <span class='{'ok' if free else 'bad'}'>"
            f"{'deadlock-free' if free else 'NOT certified'}</span> — channel-dependency graph of "
            f"{_num(r.get('channels'))} channels and {_num(r.get('dependencies'))} dependencies is acyclic"
            f" ({_e(r.get('forwarding', ''))} forwarding, {_num(r.get('forwarding_phases'))} phase(s)).</p>"
            if free is not None else "")
    rows = [["algorithm", r.get("algorithm")], ["routes", _num(r.get("routes"))], ["links used", _num(r.get("links"))],
            ["max link load (copies / step, estimate)", _num(r.get("max_link_load"))],
            ["inter-chip link traffic", _num(r.get("interchip_link_traffic"))],
            ["routing-table entries, largest table", _num(r.get("max_table_entries"))],
            ["routing-table entries, largest table (key/mask compressed)", _num(r.get("max_table_entries_compressed"))],
            ["routes per algorithm", ", ".join(f"{k}: {v}" for k, v in (r.get("by_algorithm") or {}).items())]]
    tables = getattr(program, "tables", None)
    extra = ""
    if tables is not None and len(getattr(tables, "entries", [])):
        order = sorted(range(len(tables.entries)), key=lambda i: (-int(tables.entries[i]), i))[:8]
        t_rows = [[f"({int(tables.routers[i][0])},{int(tables.routers[i][1])})", int(tables.entries[i]),
                   int(tables.compressed[i])] for i in order]
        extra = (f"<p class='note'>{len(tables.entries)} routers hold table entries; the largest:</p>"
                 + _table(["router (global x,y)", "entries", "compressed (key/mask)"], t_rows, {1, 2}))
    return f"<section id='routing'><h2>Routing</h2>{cert}{_table(['item', 'value'], rows)}{extra}</section>"


def _quantization(program: Any) -> str:
    rep = program.report or {}
    q = rep.get("quantization") or rep.get("speck_quantization")
    if not q:
        return ""
    layers = q.get("layers") or {}
    rows = []
    for name, L in layers.items():
        th = L.get("threshold")
        rows.append([name, L.get("source", ""), _num(L.get("scale")), _num(L.get("weight_bits", q.get("weight_bits"))),
                     _num(L.get("state_bits", q.get("state_bits"))),
                     "–" if th is None else (" .. ".join(_num(v) for v in th) if isinstance(th, list) else _num(th)),
                     _num(L.get("clipped")), "; ".join(L.get("warnings") or [])])
    head = ", ".join(f"{k} {v}" for k, v in q.items() if k != "layers" and not isinstance(v, dict | list))
    return (f"<section id='quantization'><h2>Quantisation</h2><p class='note'>{_e(head)}</p>"
            + _table(["layer", "scale source", "scale", "weight bits", "state bits", "threshold", "clipped",
                      "warnings"], rows, {2, 3, 4, 6}) + "</section>")


def _speck(program: Any) -> str:
    sp = (program.report or {}).get("speck")
    if not sp:
        return ""
    rows = [[r["core"], r.get("layer") or "–",
             *(f"{r[f'{k}_used']:,} / {r[f'{k}_available']:,}" for k in ("kernel", "neuron", "bias")),
             r.get("describe", "")] for r in sp.get("memory", [])]
    return ("<section id='speck'><h2>Speck cores (memory entries used / available)</h2>"
            + _table(["core", "layer", "kernel", "neuron", "bias", "layer shape"], rows) + "</section>")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spikemesh")
    except PackageNotFoundError:
        return "(not installed)"


def program_summary(program: Any) -> dict[str, Any]:
    """Short facts of a Program for its repr: model name, target, family, chips, layers, neurons, cores,
    sections present, compile seconds."""
    rep = program.report or {}
    m, t = rep.get("model") or {}, rep.get("target") or {}
    meta = getattr(program.graph, "metadata", None) or {}
    return {"model": meta.get("name", "model"), "target": t.get("name", program.target.name),
            "family": t.get("family", getattr(program.target, "family", "")), "chips": t.get("chips", "1x1"),
            "layers": len(m.get("layers") or []), "neurons": int(m.get("neurons") or 0),
            "synapses": int(m.get("synapses") or 0), "cores": _cores_used(program),
            "sections": [k for k, v in (program.sections or {}).items() if v is not None],
            "compile_s": float(sum(float(v) for v in (rep.get("time") or {}).values())),
            "simulated": "simulation" in rep}


def program_html(program: Any) -> str:
    """The summary and the per-layer table (no figures): a Program's ``_repr_html_``."""
    sim = (program.report or {}).get("simulation")
    return f"<div><style>{CSS}</style>{_summary(program, sim)}{_layers(program, sim)}</div>"


def render_report(program: Any, sim: Mapping[str, Any] | None = None, result: Any = None) -> str:
    """The page as a string (see the module docstring)."""
    sim = dict(sim) if sim else (program.report or {}).get("simulation")
    t = (program.report or {}).get("target", {})
    name = program.graph.metadata.get("name", "model") if getattr(program.graph, "metadata", None) else "model"
    title = f"spikemesh report: {name} on {t.get('name', program.target.name)}"
    body = "".join([_summary(program, sim), _layers(program, sim), _placement(program, sim), _speck(program),
                    _energy(sim), _activity(result), _latency(sim), _routing(program), _quantization(program)])
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main><h1>{_e(title)}</h1>{body}"
            f"<p class='note'>Written by spikemesh {_e(_version())}. Self-contained: no scripts, no network. "
            "Numbers from report.json (schema in docs/report.md).</p></main></body></html>\n")


def write_build_views(directory: str | Path, program: Any, sim: Mapping[str, Any] | None = None,
                      result: Any = None) -> Path:
    """Everything a build directory shows: placement.json/.png/.svg (link heat from ``sim`` when given) and
    report.html. ``Program.save`` and ``spikemesh simulate DIR`` call it; returns the report.html path."""
    from spikemesh.report.placement_map import write_placement_files

    d = Path(directory)
    sim = dict(sim) if sim else (program.report or {}).get("simulation")
    if getattr(program, "placement", None) is not None:
        write_placement_files(d, program, sim)
    return write_report(d, program, sim, result)


def write_report(directory: str | Path, program: Any, sim: Mapping[str, Any] | None = None, result: Any = None
                 ) -> Path:
    """Write ``directory/report.html`` atomically; returns its path."""
    path = Path(directory) / REPORT_FILE
    text = render_report(program, sim, result)
    with atomic_open(path, "wb") as fh:
        fh.write(text.encode())
    return path
