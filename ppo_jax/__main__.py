"""``python -m ppo_jax``: the command line (see :mod:`ppo_jax.cli`)."""

import sys

from ppo_jax.cli import main

sys.exit(main())
