"""``python -m trainer.monitor``."""

import sys

from trainer.monitor.cli import main

sys.exit(main())
