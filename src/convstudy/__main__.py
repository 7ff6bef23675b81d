"""``python -m convstudy``: the same command line as the ``convstudy`` script."""

import sys

from .cli import main

sys.exit(main())
