"""report.html: written by Program.save, rewritten by `spikemesh simulate DIR`, self-contained, deterministic; and
rendered in headless Chromium with no console errors and every figure of non-zero size."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spikemesh.cli import main
from spikemesh.report.html import render_report, write_build_views
from spikemesh.report.plots import sim_entry

EXTERNAL = re.compile(r"""(<script|<link|<iframe|<img|@import|(src|href)\s*=\s*["'](https?:)?//"""
                      r"""|url\(\s*["']?(https?:)?//)""", re.I)


def _self_contained(page: str) -> None:
    assert not EXTERNAL.search(page), EXTERNAL.search(page)


def test_save_writes_report_html(build: Path) -> None:
    page = (build / "report.html").read_text()
    _self_contained(page)
    for part in ("id='summary'", "id='layers'", "id='placement'", "id='routing'", "deadlock-free",
                 "id='quantization'", "spikemesh simulate DIR"):
        assert part in page, part
    assert page.count("<title>core ") == len(json.loads((build / "placement.json").read_text())["cores"])


def test_report_is_deterministic(mesh_program: Any, cycle_result: Any) -> None:
    sim = {**sim_entry(cycle_result), "wall_s": 1.0}
    a = render_report(mesh_program, sim, cycle_result)
    b = render_report(mesh_program, {**sim, "wall_s": 2.0}, cycle_result)  # wall time is not shown
    assert a == b
    _self_contained(a)


def test_simulate_rewrites_report_html(build: Path, digits: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, x, y = digits
    np.savez(build.parent / "in.npz", inputs=x[:, :4], labels=y[:4])
    before = (build / "report.html").read_text()
    assert "id='activity'" not in before
    capsys.readouterr()
    assert main(["simulate", str(build), "-i", str(build.parent / "in.npz"), "-e", "cycle", "--record", "fc",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    h = out["headline"]
    assert h["accuracy"] is not None and h["energy_per_inference_uj"] > 0 and h["latency_s"] > 0
    assert all(f["exact"] for f in out["fidelity"].values())
    page = (build / "report.html").read_text()
    for part in ("id='activity'", "fig-raster-conv1", "fig-trace-fc", "id='latency'", "fig-energy-layer",
                 "simulated flits per step"):
        assert part in page, part
    assert out["files"]["report_html"] == str(build / "report.html")
    assert re.search(r"<title>core 0 [^<]*energy", (build / "placement.svg").read_text())
    _self_contained(page)
    capsys.readouterr()
    assert main(["report", str(build), "--html"]) == 0
    assert capsys.readouterr().out.strip() == str(build / "report.html")


def test_simulate_prints_headline_above_spikes(build: Path, digits: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, x, y = digits
    np.save(build.parent / "x.npy", x[:, :3])
    np.save(build.parent / "y.npy", y[:3])
    capsys.readouterr()
    assert main(["simulate", str(build), "-i", str(build.parent / "x.npy"), "--labels", str(build.parent / "y.npy"),
                 "-e", "fast"]) == 0
    text = capsys.readouterr().out
    for word in ("accuracy", "energy per inference", "power", "SynOps per inference"):
        assert text.index(word) < text.index("spikes per population"), word


# ------------------------------------------------------------------------------------------------ browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
window.__errs = [];
for (const k of ["error", "warn"]) { const o = console[k];
  console[k] = (...a) => { window.__errs.push(k + ": " + a.join(" ")); o.apply(console, a); }; }
window.addEventListener("error", e => window.__errs.push("error event: " + (e.message ||
  (e.target && (e.target.src || e.target.href)) || "?")), true);
window.addEventListener("load", () => {
  const figs = [...document.querySelectorAll("figure.fig")].map(f => { const s = f.querySelector("svg");
    const r = (s || f).getBoundingClientRect(); return {id: f.id, w: r.width, h: r.height, svg: !!s}; });
  const res = performance.getEntriesByType("resource").map(r => r.name);
  document.documentElement.setAttribute("data-probe", JSON.stringify({errs: window.__errs, figs, res}));
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian package `chromium`; .ci/run installs it)")
def test_report_renders_in_chromium(tmp_path: Path, mesh_program: Any, cycle_result: Any) -> None:
    d = write_build_views(tmp_path, mesh_program, sim_entry(cycle_result), cycle_result).parent
    page = (d / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,900",
           "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert m, r.stderr[-2000:]
    data = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert data["errs"] == [] and console == [], (data["errs"], console)
    assert data["res"] == []  # nothing fetched: the page is self-contained
    ids = {f["id"] for f in data["figs"]}
    assert {"fig-placement", "fig-energy-layer", "fig-energy-action", "fig-energy-core", "fig-latency",
            "fig-raster-conv1", "fig-trace-fc"} <= ids
    assert all(f["svg"] and f["w"] > 50 and f["h"] > 50 for f in data["figs"]), data["figs"]
