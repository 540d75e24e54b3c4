"""``python -m worker.agent --name pi1 --cluster cluster.yaml``: run this device's agent."""

import sys

from ._main import main

sys.exit(main())
