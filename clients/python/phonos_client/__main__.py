"""`python -m phonos_client ...`: the `phonos` command."""

import sys

from phonos_client.cli import main

sys.exit(main())
