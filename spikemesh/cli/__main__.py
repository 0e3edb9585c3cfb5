"""``python -m spikemesh.cli``."""

import sys

from spikemesh.cli.app import main

sys.exit(main())
