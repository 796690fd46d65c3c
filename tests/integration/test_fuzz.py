"""Fuzzing the command line's input (hypothesis): argument vectors, TOML documents and seed
specs. Every outcome is exit 0, or exit 2 with one line on stderr and nothing written. Training
itself is replaced by a stub here (the other tests train): what is fuzzed is every check that
runs before it — flags, config validation, environments, layouts, memory and disk estimates,
folders. Also fuzzed: the ``env_kwargs`` a run folder may give a suite (the trust gate) and the
bounds of a custom environment's action space. Damaged checkpoints are fuzzed in
test_untrusted_folders.py; the list of what was tried is docs/reliability.md."""

from __future__ import annotations

import collections
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppo_jax import PPOConfig
from ppo_jax.cli import main
from ppo_jax.core.config import config_field_names
from ppo_jax.core.envkwargs import NATIVE_KWARGS, SUITE_KWARGS, is_plain, suite_of
from ppo_jax.core.envs import action_spec, check_action_bounds, check_env_trusted
from ppo_jax.io.rundir import RunResult
from ppo_jax.run import experiment

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FLAGS = [
    *("--" + n.replace("_", "-") for n in sorted(config_field_names()) if n != "env_kwargs"),
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
    def stub(run, out, ckpt, *args):  # the pipeline's loop: everything before it is checked
        seeds = [row[-1] for row in run.rows]
        return RunResult(
            config=run.config, seeds=seeds, params=None, metrics={}, completed=False, out_dir=out
        )

    monkeypatch.setattr(experiment, "_session", stub)


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
    st.sampled_from(["CartPole-v1", "0:4", "0,1", "tanh", "gru", "0:1:2", "3:"]),
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


# --------------------------------------------------------------------------- seeds
SEED_SPECS = st.one_of(
    st.text("0123456789:,- ", max_size=14),
    st.sampled_from(["0:1:2", "1048576", "1048577", "0:1048576", "4294967295", "3:", ":3", "1.5"]),
    st.integers(-3, 2**33).map(str),
)


def test_seed_specs(tmp_path_factory, capsys):
    """Every ``--seeds`` value is a working run or one line; a spec that is not a count, a
    list or a range names ``--seeds`` and its three forms (``0:1:2`` used to answer "too many
    values to unpack")."""
    head = ["train", "--num-envs", "4", "--num-steps", "8"]
    outcomes: collections.Counter[int] = collections.Counter()

    @settings(FUZZ, max_examples=40)
    @given(spec=SEED_SPECS)
    def one(spec):
        out = tmp_path_factory.mktemp("seeds") / "run"
        code = check_outcome([*head, "--seeds", spec, "--out", str(out)], out, capsys)
        outcomes[code] += 1

    one()
    capsys.readouterr()
    assert exit_code_of(["train", *["--seeds", "0:1:2"]]) == 2
    line = capsys.readouterr().err.strip()
    assert "--seeds takes a count (8), a list (0,5,9) or a range (3:7)" in line
    print(f"seed specs: {dict(outcomes)}")
    assert outcomes[0] >= 3 and outcomes[2] >= 15, outcomes


def exit_code_of(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.timeout(60)
def test_the_largest_seed_count_is_refused_by_the_memory_check(tmp_path, capsys):
    """``--seeds 1048576`` (the documented maximum) of the default config is refused by the
    memory check in one line, nothing written: the keys are built in one vectorised call and
    no per-seed work comes before the check (it took ~90 s and ~4 GB before; the measured
    figures are in docs/reliability.md)."""
    out = tmp_path / "run"
    assert exit_code_of(["train", "--seeds", "1048576", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GiB per device" in err and "seeds" in err
    assert not out.exists()


# --------------------------------------------------------------------------- folder env_kwargs
SUITE_IDS = st.sampled_from(
    [
        "CartPole-v1",
        "MemoryChain-bsuite",
        "brax:ant",
        "navix:Navix-Empty-5x5-v0",
        "jumanji:Snake-v1",
        "craftax:Craftax-Classic-Symbolic-v1",
        "xminigrid:MiniGrid-Empty-5x5",
        "envpool:Pong-v5",
        "envpool:HalfCheetah-v4",
    ]
)
KWARG_NAMES = st.sampled_from(
    sorted(
        {k for table in SUITE_KWARGS.values() for k in table}
        | {k for table in NATIVE_KWARGS.values() for k in table}
        | {"ctrl_cost_weight", "memory_length", "healthy_z_range", "generator", "day_length"}
    )
)
KWARG_VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["/tmp", "../../etc/passwd", "mjx", "rgb_array", "/bin/sh"]),
    st.lists(st.floats(allow_nan=True), max_size=3).map(tuple),
    st.lists(st.lists(st.integers(), max_size=2).map(tuple), max_size=2).map(tuple),
)


def test_folder_env_kwargs(capsys):
    """``env_kwargs`` a run folder gives a gymnax or suite id: the gate
    (``check_env_trusted``, run before anything is imported) passes only plain, in-range
    values of kwargs that steer nothing native, and refuses everything else in one line
    naming the kwarg; trusted, only the documented types and ranges are checked."""
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(FUZZ, max_examples=300)
    @given(env_name=SUITE_IDS, kwargs=st.dictionaries(KWARG_NAMES, KWARG_VALUES, max_size=3))
    def one(env_name, kwargs):
        config = PPOConfig(env_name=env_name, env_kwargs=tuple(kwargs.items()))
        folder = config.with_env_origin("run folder 'x'")
        try:
            check_env_trusted(folder)
        except ValueError as err:
            text = str(err)
            assert "\n" not in text and any(f"env_kwargs {k}=" in text for k in kwargs)
            outcomes["refused"] += 1
        else:
            suite = suite_of(env_name) or ""
            for key, value in kwargs.items():
                assert key not in NATIVE_KWARGS.get(suite, {})
                assert key in SUITE_KWARGS.get(suite, {}) or (
                    suite != "envpool" and is_plain(value)
                )
            outcomes["passed"] += 1
        try:
            check_env_trusted(config)  # typed by the user: types and ranges only
        except ValueError as err:
            key = str(err).split("env_kwargs ", 1)[1].split("=", 1)[0]
            assert key in SUITE_KWARGS.get(suite_of(env_name) or "", {})

    one()
    print(f"folder env_kwargs: {dict(outcomes)}")
    assert outcomes["refused"] >= 50 and outcomes["passed"] >= 20, outcomes


# --------------------------------------------------------------------------- action bounds
BOUNDS = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0])),
    min_size=1,
    max_size=3,
)


def test_action_bounds():
    """Box bounds drawn from every float (NaN and infinities included), in a nested space:
    NaN is refused for every policy, an infinite or empty range for the bounded ones, each
    naming the space's path; what passes is what each policy can use."""
    from gymnax.environments import spaces

    @settings(FUZZ, max_examples=200)
    @given(
        low=BOUNDS, high=BOUNDS, distribution=st.sampled_from(["gaussian", "tanh_gaussian", "beta"])
    )
    def one(low, high, distribution):
        n = min(len(low), len(high))
        with np.errstate(over="ignore"):  # 1e300 becomes inf in float32, as in a Box
            lo, hi = np.asarray(low[:n], np.float32), np.asarray(high[:n], np.float32)
        space = spaces.Dict({"move": spaces.Box(lo, hi, (n,)), "say": spaces.Discrete(2)})
        env = BoundsEnv(space)
        try:
            check_action_bounds(action_spec(env, None), distribution)
        except ValueError as err:
            assert "action_space['move']" in str(err) and "\n" not in str(err)
            bad = np.isnan(lo).any() or np.isnan(hi).any() or (lo > hi).any()
            if distribution != "gaussian":
                bad = bad or not (
                    np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()
                )
            assert bad, (lo, hi, distribution)
        else:
            assert not (np.isnan(lo).any() or np.isnan(hi).any()) and (lo <= hi).all()
            if distribution != "gaussian":
                assert np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()

    one()


class BoundsEnv:
    """Only what ``action_spec`` reads: the five gymnax methods and an action space."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def action_space(self, params: Any = None) -> Any:
        return self.space

    reset = step = observation_space = default_params = None
