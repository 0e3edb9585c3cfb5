"""A rich progress bar that appears only when a run lasts longer than a second."""

from __future__ import annotations

import sys
import time
from types import TracebackType

#: seconds after which the bar appears
DELAY_S = 1.0


class StepProgress:
    """Context manager counting ``total`` units (steps x batch). ``enabled``: True always shows the bar once the
    run passes ``DELAY_S``, False never, None only when stderr is a terminal."""

    def __init__(self, total: int, description: str, enabled: bool | None = None) -> None:
        self.total = total
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.done = 0
        self._t0 = 0.0
        self._bar = None
        self._task = None

    def __enter__(self) -> StepProgress:
        self._t0 = time.perf_counter()
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is None and time.perf_counter() - self._t0 > DELAY_S and self.done < self.total:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                                 "{task.total} steps"), TimeRemainingColumn(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, completed=self.done)
        elif self._bar is not None:
            self._bar.update(self._task, completed=self.done)

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
