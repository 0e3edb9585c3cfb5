"""The compile's time limit as one budget shared by the stages (spikemesh.budget)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.budget import Budget, StageBudget
from spikemesh.errors import SpikemeshError
from spikemesh.ir import IF, AvgPool2d, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection


def test_grants_by_hand() -> None:
    b = Budget(8.0, {"partition": 0.6, "place": 0.3, "route": 0.1})
    assert b.grant("lower") == 0.0
    assert b.grant("partition") == pytest.approx(4.8)
    b.record("partition", 4.8, {"granted": 4.8, "spent": 7.5, "status": "limit", "calls": []})
    assert b.grant("place") == pytest.approx(0.5)  # never more than what is left of 8
    free = Budget(3.0, {})  # no weights: a stage gets what earlier stages left
    free.record("a", 3.0, {"granted": 3.0, "spent": 1.0, "status": "optimal", "calls": []})
    assert free.grant("b") == pytest.approx(2.0)


def test_stage_status() -> None:
    s = StageBudget(2.0)
    assert s.status == "none"
    s.charge("x", 0.5, "optimal")
    assert s.status == "optimal" and s.left == pytest.approx(1.5) and s.share(0.5) == pytest.approx(0.75)
    s.charge("y", 1.0, "limit")
    assert s.status == "limit" and s.report()["spent"] == pytest.approx(1.5)


def _pool_net() -> Graph:
    rng = np.random.default_rng(1)
    return Graph(inputs=(Input("in", (2, 16, 16)),),
                 populations=(Population("c1", (8, 16, 16), IF()), Population("c2", (16, 8, 8), IF()),
                              Population("fc", (10,), IF())),
                 projections=(Projection("a", "in", "c1", (Conv2d(rng.normal(size=(8, 2, 3, 3)), padding=1),)),
                              Projection("b", "c1", "c2", (AvgPool2d(2), Conv2d(rng.normal(size=(16, 8, 3, 3)),
                                                                                 padding=1))),
                              Projection("c", "c2", "fc", (AvgPool2d(2), Flatten(),
                                                           Dense(rng.normal(size=(10, 256)))))),
                 outputs=(Output("out", "fc"),))


def test_time_limit_bounds_the_solvers_and_results_are_reproducible() -> None:
    a = spikemesh.compile(_pool_net(), "tianjic:2x1", seed=2, time_limit=1.5)
    b = spikemesh.compile(_pool_net(), "tianjic:2x1", seed=2, time_limit=1.5)
    rep = a.report["budget"]
    assert rep["time_limit"] == 1.5 and rep["spent"] <= 1.5 + 1e-9
    assert set(rep["stages"]) == {"lower", "partition", "place", "route", "config"}
    for st in ("partition", "place", "route"):
        assert rep["stages"][st]["status"] in ("optimal", "limit", "none")
        assert rep["stages"][st]["spent"] <= rep["stages"][st]["granted"] + 1e-9
    assert a.report["placement"]["budget"]["status"] == "limit"  # annealing stops at its move budget
    assert np.array_equal(a.placement.coords, b.placement.coords)
    assert np.array_equal(a.routes.flat.links, b.routes.flat.links)
    assert a.report["budget"] == b.report["budget"]


def test_a_smaller_limit_gives_smaller_grants() -> None:
    small = spikemesh.compile(_pool_net(), "tianjic:2x1", time_limit=0.5).report["budget"]["stages"]
    assert small["place"]["granted"] == pytest.approx(0.15) and small["route"]["granted"] == pytest.approx(0.05)


@pytest.mark.parametrize("bad", [0, -1.0, "10"])
def test_bad_time_limit_is_a_clear_error(bad: object) -> None:
    with pytest.raises(SpikemeshError, match="time limit") as e:
        spikemesh.compile(_pool_net(), "tianjic", time_limit=bad)
    assert "needed > 0" in str(e.value)


ROOT = Path(__file__).resolve().parents[1]

CPSAT_THEN_SIGINT = """
import os, signal, time
from ortools.sat.python import cp_model
from spikemesh.budget import cpsat_solver

m = cp_model.CpModel()
x = m.NewIntVar(0, 3, "x")
m.Maximize(x)
assert cpsat_solver(0).Solve(m) == cp_model.OPTIMAL
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_ctrl_c_after_a_cpsat_solve_is_still_a_keyboard_interrupt() -> None:
    """A CP-SAT solve (budget.cpsat_solver) leaves SIGINT to Python: Ctrl-C afterwards raises KeyboardInterrupt
    (the CLI's one line and exit 130) rather than killing the process (CP-SAT's own handler, on by default, resets
    SIGINT to the default action)."""
    r = subprocess.run([sys.executable, "-c", CPSAT_THEN_SIGINT], cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "KeyboardInterrupt", (r.returncode, r.stderr)


CPSAT_INTERRUPTED = """
import sys, time
from ortools.sat.python import cp_model
from spikemesh.budget import cpsat_solver, solve

m = cp_model.CpModel()  # no proof within a minute: 60 values, neighbours differ, 50 all different, weighted max
xs = [m.new_int_var(0, 100, f"x{i}") for i in range(60)]
for a, b in zip(xs, xs[1:]):
    m.add(a != b)
m.add_all_different(xs[:50])
m.maximize(sum(x * (i % 7 + 1) for i, x in enumerate(xs)))
s = cpsat_solver(0)
s.parameters.max_time_in_seconds = 60.0
print("solving", flush=True)
t0 = time.monotonic()
try:
    solve(s, m)
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - t0:.1f} s", flush=True)
    sys.exit(130)
print("solve ended on its own", flush=True)
"""


def test_ctrl_c_interrupts_a_cpsat_solve_at_once() -> None:
    """Ctrl-C during a CP-SAT solve in the main thread (a compile, or a sweep's own points) raises
    KeyboardInterrupt within a second rather than when the solve reaches its time limit (60 s here)."""
    p = subprocess.Popen([sys.executable, "-c", CPSAT_INTERRUPTED], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "solving"
        time.sleep(1.0)  # well inside the solve
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        p.kill()
    assert p.returncode == 130 and out.startswith("interrupted after"), (p.returncode, out)
    assert took < 5.0, took
