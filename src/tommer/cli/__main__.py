"""``python -m tommer.cli``: the same as the ``tommer`` command."""

import sys

from .main import main

sys.exit(main())
