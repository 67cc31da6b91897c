"""`python -m jax_purity_lint.runtime confirm PATH...`: the confirm subcommand on its own."""

import sys

from .cli import main

sys.exit(main())
