"""The compile's time limit as one budget shared by every solver call (``CompileOptions.time_limit``).

``compile`` grants each stage a share (``Budget.grant``): with the family's ``BUDGET`` weights, weight / Σ weights
of the time limit (what a stage leaves unused is not passed on: a later stage that could always use more, like route
selection, would otherwise take it all); without weights, whatever earlier stages left. The stage splits its grant
between its solver calls and reports what it spent and why each call stopped (``StageBudget``). Spending is counted
in each solver's *deterministic* work, converted to seconds at a fixed rate measured on this project's 2-core
machine under load (the constants below), never by reading the clock: the same inputs and seed give the same result
on a busy or an idle machine, and the sum of the grants bounds the solvers' work, so the compile takes about
``time_limit`` seconds of solver time plus the stages' own (non-solver) work.

A CP-SAT call is charged its whole grant (the deterministic time it reports varies in the last digits between
runs, and the report must not); annealing and search calls are charged the work they did.

A call's status is ``"optimal"`` (it finished: an optimum, a proof, or a search that ran to the end), ``"limit"``
(it stopped at its share; more time might improve the result) or ``"skipped"``; a stage's status is ``"limit"``
when any of its calls stopped at its limit, ``"optimal"`` when all finished, ``"none"`` when it ran no solver.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: CP-SAT deterministic seconds granted per budget second: CP-SAT with one worker took 2.5-3 wall seconds per
#: deterministic second on the route-selection and chip-assignment models at load ~5 on 2 cores
CPSAT_DET_PER_SECOND = 0.35
#: simulated-annealing moves per budget second (placement.anneal / chips.anneal_chips: 3-4 M moves/s measured
#: on the 185-core snn2conv placement at load ~2-3.5)
ANNEAL_MOVES_PER_SECOND = 3_000_000


@dataclass
class StageBudget:
    """One stage's grant (seconds) and the calls charged to it."""

    seconds: float
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def spent(self) -> float:
        return float(sum(c["seconds"] for c in self.calls))

    @property
    def left(self) -> float:
        return max(0.0, self.seconds - self.spent)

    def share(self, fraction: float) -> float:
        """``fraction`` of what is left, in seconds."""
        return self.left * min(1.0, max(0.0, fraction))

    def charge(self, call: str, seconds: float, status: str, **info: Any) -> None:
        """Record a solver call: the budget seconds its deterministic work is worth and why it stopped."""
        self.calls.append({"call": call, "seconds": round(float(seconds), 4), "status": status, **info})

    @property
    def status(self) -> str:
        st = {c["status"] for c in self.calls} - {"skipped"}
        if not st:
            return "none"
        return "limit" if "limit" in st else "optimal"

    def report(self) -> dict[str, Any]:
        return {"granted": round(self.seconds, 4), "spent": round(self.spent, 4), "status": self.status,
                "calls": self.calls}


def cpsat_solver(seed: int, workers: int = 1) -> Any:
    """A new seeded CP-SAT solver with ``workers`` workers that leaves Ctrl-C to Python: CP-SAT's own SIGINT
    handler (``catch_sigint_signal``, on by default; OR-Tools sat_parameters.proto) resets SIGINT to its default
    action, killing the process, when a solve ends. Callers set the time limits."""
    from ortools.sat.python import cp_model

    s = cp_model.CpSolver()
    s.parameters.random_seed = int(seed)
    s.parameters.num_workers = int(workers)
    s.parameters.catch_sigint_signal = False
    return s


def solve(solver: Any, model: Any) -> Any:
    """``solver.solve(model)`` that Ctrl-C interrupts at once. Python handles a signal in the main thread between
    bytecodes, so during a CP-SAT solve in that thread a Ctrl-C (or the CLI's SIGTERM) took effect only when the
    solve ended, up to its time limit later. In the main thread the solve therefore runs in a helper thread (CP-SAT
    releases the interpreter lock) while this one waits; an exception in the wait (KeyboardInterrupt) stops the
    search (``stop_search``) and is re-raised. Elsewhere a plain solve. The result is the same either way."""
    if threading.current_thread() is not threading.main_thread():
        return solver.solve(model)
    done: list[Any] = []
    failed: list[BaseException] = []
    ended = threading.Event()  # not Thread.join: a join that KeyboardInterrupt cuts short can mark the thread
    # ended while it still runs (Python < 3.13), and the interpreter's exit then aborts in CP-SAT's C++ thread

    def run() -> None:
        try:
            done.append(solver.solve(model))
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread below
            failed.append(e)
        finally:
            ended.set()

    threading.Thread(target=run, name="spikemesh-cpsat", daemon=True).start()
    try:
        ended.wait()
    except BaseException:
        solver.stop_search()
        ended.wait()
        raise
    if failed:
        raise failed[0]
    return done[0]


def cpsat_seconds(budget_seconds: float) -> float:
    """CP-SAT deterministic seconds for ``budget_seconds`` of the budget."""
    return max(0.0, budget_seconds) * CPSAT_DET_PER_SECOND


def cpsat_charge(deterministic_time: float) -> float:
    """Budget seconds worth ``deterministic_time`` CP-SAT deterministic seconds."""
    return float(deterministic_time) / CPSAT_DET_PER_SECOND


@dataclass
class Budget:
    """The compile's ``time_limit`` (seconds) and what each stage was granted and spent."""

    total: float
    weights: dict[str, float]
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def spent(self) -> float:
        return float(sum(s["spent"] for s in self.stages.values()))

    def grant(self, stage: str) -> float:
        """Seconds for ``stage`` (module docstring); never more than what is left."""
        left = max(0.0, self.total - self.spent)
        if not self.weights:
            return left
        return min(left, self.total * self.weights.get(stage, 0.0) / sum(self.weights.values()))

    def record(self, stage: str, granted: float, entry: dict[str, Any] | None) -> None:
        """Record a stage's own report of its budget (``StageBudget.report``); a stage without one ran no solver."""
        self.stages[stage] = entry if entry is not None else {"granted": round(granted, 4), "spent": 0.0,
                                                              "status": "none", "calls": []}

    def report(self) -> dict[str, Any]:
        """``report["budget"]``: time limit, spent, and per stage granted / spent / status."""
        return {"time_limit": self.total, "spent": round(self.spent, 4),
                "stages": {k: {kk: v[kk] for kk in ("granted", "spent", "status")} for k, v in self.stages.items()}}
