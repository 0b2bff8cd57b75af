"""``python -m mmdl_lib.cli …``: the ``mmdl`` command."""

import sys

from . import main

sys.exit(main())
