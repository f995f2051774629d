"""``python -m edge.demo`` (``make demo``)."""

import sys

from edge.demo.runner import main

sys.exit(main())
