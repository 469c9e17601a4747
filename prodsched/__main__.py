"""``python -m prodsched`` = the ``prodsched`` command."""

import sys

from prodsched.cli import main

sys.exit(main())
