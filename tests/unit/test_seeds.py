"""The one check of a seed list (``ppo_jax.core.seeds``), shared by ``--seeds``, ``seeds =``
in TOML and ``train_seeds``: the edges of the range and of the count, and each refusal
naming the field it was given."""

from __future__ import annotations

import pytest

from ppo_jax.core.seeds import MAX_SEEDS, SEED_LIMIT, check_seed_values
from ppo_jax.io.configfile import parse_seeds
from ppo_jax.run.plan import seed_list


def test_the_edges_of_the_range_are_kept():
    assert check_seed_values([0, SEED_LIMIT - 1], "seeds") == [0, SEED_LIMIT - 1]


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ([-1, 3], r"--seeds: seeds must be in \[0, 2\*\*32\), got -1"),
        ([3, SEED_LIMIT], r"--seeds: seeds must be in \[0, 2\*\*32\), got 4294967296"),
        ([5, 2, 5, 2, 9], r"--seeds names seed\(s\) more than once: duplicates \[2, 5\]"),
        (list(range(MAX_SEEDS + 1)), rf"--seeds: at most {MAX_SEEDS} seeds, got {MAX_SEEDS + 1}"),
    ],
)
def test_each_refusal_is_one_line_naming_the_field(seeds, message):
    with pytest.raises(ValueError, match=message):
        check_seed_values(seeds, "--seeds")


def test_the_command_line_and_python_refuse_alike():
    """The same bad list answers the same line from a seed spec and from ``train_seeds``."""
    answers = []
    for check in (lambda: parse_seeds("4,1,4", "seeds"), lambda: seed_list([4, 1, 4])):
        with pytest.raises(ValueError) as err:
            check()
        answers.append(str(err.value))
    assert (
        answers[0]
        == answers[1]
        == ("seeds names seed(s) more than once: duplicates [4] (each would run twice)")
    )
