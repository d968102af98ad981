"""``python -m surrogate.cli`` (e.g. under ``torchrun``) is the ``surrogate`` command."""

import sys

from . import main

sys.exit(main())
