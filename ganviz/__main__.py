"""`python -m ganviz` runs the same entry point as the `ganviz` command."""

import sys

from ganviz.cli import main

sys.exit(main())
