"""Fuzzing the command line's input (hypothesis): argument vectors and TOML documents. Every
outcome is exit 0, or exit 2 with one line on stderr and nothing written. Training itself is
replaced by a stub here (the other tests train): what is fuzzed is every check that runs before
it — flags, config validation, environments, layouts, memory and disk estimates, folders."""

from __future__ import annotations

import collections
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppo_jax.cli import main
from ppo_jax.core.config import config_field_names
from ppo_jax.io.rundir import RunResult
from ppo_jax.run import session_loop

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FLAGS = [
    *("--" + n.replace("_", "-") for n in config_field_names() if n not in ("env_kwargs",)),
    "--env", "--env-kwarg", "--seeds", "--checkpoint-every", "--stop-after", "--progress",
    "--tensorboard", "--split-envs", "--shard-seeds", "--quiet", "--learning-rat", "--",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "2",
            "4",
            "8",
            "1e6",
            "1e29",
            "4294967296",
            "0.5",
            "nan",
            "inf",
            "-inf",
            "1e-50",
            "none",
            "true",
            "false",
            "tanh",
            "gru",
            "sort",
            "CartPole-v1",
            "Pendulum-v1",
            "probe_envs:CONSTANT",
            "nope:x",
            "brax:ant",
            "0,1",
            "0,0",
            "3:7",
            "8,8",
            "",
            "x=1",
            "a" * 300,
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(string.printable, max_size=12),
)


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    def stub(setup, out, ckpt, *args):
        config = setup.config
        return RunResult(
            config=config, seeds=setup.seeds, params=None, metrics={}, completed=False, out_dir=out
        )

    monkeypatch.setattr(session_loop, "run_session", stub)


def check_outcome(argv: list[str], out: Path, capsys) -> int:
    """Run ``argv``; assert the outcome is a clean one; return the exit status."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    if code == 3:  # the stub trains no update: the CLI reports exactly that
        assert "no update completed" in err
        return 0
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) <= 2 and "Traceback" not in err, (argv, err)  # usage + one error line
        assert lines[-1].startswith("ppo-jax"), (argv, err)
        assert not out.exists(), (argv, err)
    return code


SWITCHES = ("--split-envs", "--shard-seeds", "--quiet")
"""Flags that take no value."""


def fuzz_command(
    head: list[str], flags: list[str], values: Any, tmp_path_factory: Any, capsys: Any
) -> collections.Counter[int]:
    """Run ``head --out DIR`` plus up to four random ``flag value`` pairs, many times; every
    outcome must be clean (:func:`check_outcome`). Returns how often each exit status came."""
    outcomes: collections.Counter[int] = collections.Counter()

    @FUZZ
    @given(pairs=st.lists(st.tuples(st.sampled_from(flags), values), max_size=4))
    def one(pairs):
        out = tmp_path_factory.mktemp("fuzz") / "run"
        argv = [*head, "--out", str(out)]
        for flag, value in pairs:
            argv += [flag] if flag in SWITCHES else [flag, value]
        outcomes[check_outcome(argv, out, capsys)] += 1

    one()
    return outcomes


def test_argument_vectors(tmp_path_factory, capsys):
    head = ["train", "--num-envs", "4", "--num-steps", "8"]
    outcomes = fuzz_command(head, FLAGS, VALUES, tmp_path_factory, capsys)
    print(f"argument vectors: {dict(outcomes)}")
    assert outcomes[0] >= 5 and outcomes[2] >= 100, outcomes  # both kinds were tried


TOML_VALUES = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(string.printable, max_size=10),
    st.lists(st.integers(-3, 2**40), max_size=3),
    st.sampled_from(["CartPole-v1", "0:4", "0,1", "tanh", "gru"]),
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


KEYS = st.sampled_from([*config_field_names(), "seeds", "seed", "num_env"])
GARBAGE = st.sampled_from(["", "", "", "x = [\n", "[section]\na = 1\n", "\x00"])


def test_toml_documents(tmp_path_factory, capsys):
    outcomes: collections.Counter[int] = collections.Counter()

    @FUZZ
    @given(entries=st.dictionaries(KEYS, TOML_VALUES, max_size=4), garbage=GARBAGE)
    def one(entries, garbage):
        folder = tmp_path_factory.mktemp("toml")
        doc = "".join(f"{k} = {toml_value(v)}\n" for k, v in entries.items()) + garbage
        (folder / "c.toml").write_text(doc)
        out = folder / "run"
        argv = ["train", "--config", str(folder / "c.toml"), "--out", str(out)]
        outcomes[check_outcome(argv, out, capsys)] += 1

    one()
    print(f"TOML documents: {dict(outcomes)}")
    assert outcomes[0] >= 5 and outcomes[2] >= 100, outcomes


PBT_FLAGS = [
    "--space", "--population", "--interval", "--fraction", "--perturb", "--resample-probability",
    "--seed", "--checkpoint-every", "--stop-after", "--total-timesteps", "--num-envs", "--resume",
]  # fmt: skip
PBT_VALUES = st.one_of(
    VALUES,
    st.sampled_from(
        [
            "learning_rate=log:1e-4:1e-2",
            "learning_rate=log:0:1",
            "gamma=uniform:0.9:0.99",
            "gamma=uniform:0.9:1.5",
            "ent_coef=0,0.01",
            "num_envs=4,8",
            "0.8,1.25",
            "0.8,-1",
            "0.25",
            "0.75",
        ]
    ),
)


def test_pbt_argument_vectors(tmp_path_factory, capsys):
    """``ppo-jax pbt``: the same promise for the population-based training command."""
    head = ["pbt", "--num-steps", "8", "--interval", "2", "--space", "learning_rate=log:1e-4:1e-2"]
    outcomes = fuzz_command(head, PBT_FLAGS, PBT_VALUES, tmp_path_factory, capsys)
    print(f"pbt argument vectors: {dict(outcomes)}")
    assert outcomes[0] >= 5 and outcomes[2] >= 100, outcomes
