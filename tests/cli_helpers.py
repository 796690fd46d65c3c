"""Helpers shared by the command-line and session tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ppo_jax.cli import main

TINY = [
    "--num-envs", "4", "--num-steps", "8", "--total-timesteps", "96",
    "--num-minibatches", "2", "--update-epochs", "1", "--hidden-sizes", "8",
]  # fmt: skip
"""Flags of a run that compiles and trains in seconds (3 updates)."""


def exit_code(argv: list[str]) -> int:
    """``main``'s exit status, including argparse's own exits for unparsable flags."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def read_tensorboard(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """The oracle: TensorBoard's own reader, ``tag -> [(step, value)]``."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
