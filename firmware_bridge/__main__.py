"""``python -m firmware_bridge`` is ``helio-bridge``."""

import sys

from firmware_bridge.cli import main

sys.exit(main())
