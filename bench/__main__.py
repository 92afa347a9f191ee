"""``python -m bench``: run every benchmark and print one table (see bench/suite.py)."""

import sys

from bench.suite import main

sys.exit(main())
