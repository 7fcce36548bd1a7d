"""``python -m ledger.cli``: the ``ledgerline`` command."""

import sys

from ledger.cli import main

sys.exit(main())
