"""``python -m noc.cli``: the same as the ``noc`` command."""

import sys

from noc.cli import main

sys.exit(main())
