"""``python -m supporthub.cli``: the ``supporthub`` command."""

import sys

from supporthub.cli import main

sys.exit(main())
