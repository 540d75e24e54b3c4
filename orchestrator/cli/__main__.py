"""``python -m orchestrator.cli`` runs the ``mchair`` command."""

import sys

from . import main

sys.exit(main())
