"""The error hierarchy. Every error a user can cause is a SpikemeshError.

A message names the node (or file / module / layer), the rule or resource, the value needed and the
value available, and a hint. The CLI prints ``str(err)`` on one line and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class SpikemeshError(Exception):
    """Base class. ``node`` names the offending node, file or layer when there is one."""

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        needed: object = None,
        available: object = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.node = node
        self.needed = needed
        self.available = available
        self.hint = hint
        parts = []
        if node is not None:
            parts.append(f"{node}: ")
        parts.append(message)
        shown = [f"{label} {_short(value)}" for label, value in (("needed", needed), ("available", available))
                 if value is not None]
        if shown:
            parts.append(f" ({', '.join(shown)})")
        if hint:
            parts.append(f"; hint: {hint}")
        super().__init__(" ".join("".join(parts).split()))

    def at(self, where: str) -> SpikemeshError:
        """The same error located in ``where`` (a file or node): ``where`` becomes the node, or prefixes it."""
        if self.node is not None and where in self.node:
            return self
        node = where if self.node is None else f"{where}: {self.node}"
        err = type(self).__new__(type(self))
        SpikemeshError.__init__(err, self.message, node=node, needed=self.needed, available=self.available,
                                hint=self.hint)
        return err


def _short(value: object, limit: int = 200) -> str:
    """``value`` as text of at most ``limit`` characters (a huge array or list is cut, not printed whole)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class GraphError(SpikemeshError):
    """The IR graph is malformed: shapes, names, cycles without delay, bad parameters."""


class FileFormatError(SpikemeshError):
    """A file is missing, empty, truncated, corrupt, or written by a newer format version."""


class FrontendError(SpikemeshError):
    """A source model (torch module, NIR node) cannot be represented."""


class TargetError(SpikemeshError):
    """A target description is unknown or malformed."""


class PartitionError(SpikemeshError):
    """The graph does not fit the target's cores."""


class PlacementError(SpikemeshError):
    """Placement or routing failed (capacity, routing-table size, deadlock)."""


class OutputError(SpikemeshError):
    """An output path may not be written or replaced (not a spikemesh build, a file where a directory goes...)."""


class SimulationError(SpikemeshError):
    """Bad simulator input, or a detected deadlock / stall."""


def interrupted(e: BaseException) -> bool:
    """Whether ``e`` comes from Ctrl-C: a KeyboardInterrupt among its causes and contexts. A Ctrl-C inside a
    Numba kernel's call comes back as ``SystemError: CPUDispatcher(...) returned a result with an exception set``,
    with the KeyboardInterrupt as its cause."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


@contextmanager
def located(where: str, what: str = "malformed content", cls: type[SpikemeshError] = FileFormatError,
            hint: str | None = "re-create the file") -> Iterator[None]:
    """Interpret a file's content: a SpikemeshError raised inside is located in ``where`` (the user's path);
    a Python error on malformed content (a missing key, a wrong type...) becomes ``cls`` naming ``where``."""
    try:
        yield
    except SpikemeshError as e:
        raise e.at(where) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as e:
        detail = f"missing key {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        raise cls(f"{what} ({detail})", node=where, hint=hint) from None
    except MemoryError:
        raise cls(f"{what}: too large to hold in memory", node=where, hint=hint) from None
