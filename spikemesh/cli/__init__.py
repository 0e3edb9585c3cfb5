"""The ``spikemesh`` command.

Conventions: every command that writes takes ``-o/--out``; ``--json`` prints machine-readable output on stdout
(``targets``, ``info``, ``compile``, ``simulate``, ``report``, ``demo``); ``-q/--quiet`` prints nothing but
errors (and ``--json`` output), ``-v/--verbose`` prints reports untruncated; every option's help shows its default
and choices. Any error -- a SpikemeshError, an OS error on a user's path, or a usage error -- prints one line on
stderr and exits with status 2. Progress (stage name and elapsed time) is shown only on a terminal."""

from spikemesh.cli.app import build_parser, main
from spikemesh.cli.commands import run_and_record

__all__ = ["build_parser", "main", "run_and_record"]
