"""The error hierarchy. Every error a user can cause is a SpikemeshError.

A message names the node (or file / module / layer), the rule or resource, the value needed and the
value available, and a hint. The CLI prints ``str(err)`` on one line and exits with status 2.
"""

from __future__ import annotations


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
        self.node = node
        self.needed = needed
        self.available = available
        self.hint = hint
        parts = []
        if node is not None:
            parts.append(f"{node}: ")
        parts.append(message)
        if needed is not None or available is not None:
            parts.append(f" (needed {needed}, available {available})")
        if hint:
            parts.append(f"; hint: {hint}")
        super().__init__("".join(parts).replace("\n", " "))


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


class SimulationError(SpikemeshError):
    """Bad simulator input, or a detected deadlock / stall."""
