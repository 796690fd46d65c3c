"""What a list of seeds must be, wherever it comes from (``--seeds``, ``seeds =`` in TOML,
``train_seeds(config, seeds)``): one check, one wording of each refusal."""

from __future__ import annotations

import collections

import numpy as np

SEED_LIMIT = 2**32
"""Seeds are ints in ``[0, SEED_LIMIT)`` (``jax.random.PRNGKey`` takes 32 bits)."""
MAX_SEEDS = 2**20
"""Most seeds one call or spec may name."""


def check_seed_values(seeds: list[int], what: str) -> list[int]:
    """``seeds`` (a non-empty list of ints) when it holds at most ``MAX_SEEDS``, each in
    ``[0, 2**32)`` and none twice; else one ``ValueError`` naming ``what``. No per-seed Python
    work beyond ``min``/``max``: duplicates are found by one NumPy sort."""
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"{what}: at most {MAX_SEEDS} seeds, got {len(seeds)}")
    if min(seeds) < 0 or max(seeds) >= SEED_LIMIT:
        bad = next(s for s in seeds if not 0 <= s < SEED_LIMIT)
        raise ValueError(f"{what}: seeds must be in [0, 2**32), got {str(bad)[:30]}")
    ordered = np.sort(np.asarray(seeds, np.int64))  # np.unique is far slower here
    if np.any(ordered[1:] == ordered[:-1]):
        counts = collections.Counter(seeds)
        dupes = sorted(s for s, n in counts.items() if n > 1)
        raise ValueError(
            f"{what} names seed(s) more than once: duplicates {dupes[:10]} (each would run twice)"
        )
    return seeds
