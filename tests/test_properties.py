"""Property-based tests (hypothesis) of PPOConfig validation and of training on small configs.

* Every numeric field rejects every invalid value (wrong type, out of range, NaN, +-inf) with a
  ``ValueError`` / ``TypeError`` whose message names ``PPOConfig.<field>``, both on top of the
  defaults and on top of an arbitrary valid config.
* Every valid config constructs, and its derived sizes are consistent.
* Every valid *small* config trains without error and yields finite losses and parameters.

All tests are derandomized (deterministic in CI) and use no example database.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ppo_jax
from ppo_jax import PPOConfig

# Fast, pure validation tests.
VALIDATION = settings(max_examples=200, deadline=None, derandomize=True, database=None)
# Each distinct config compiles a whole training run (~5-8 s on a small CPU).
TRAINING = settings(max_examples=6, deadline=None, derandomize=True, database=None)

# Largest integer magnitude that converts to a float. Larger ints are refused as unrepresentable
# (test_huge_ints_for_real_fields_name_the_field); the range properties below stay inside float
# range so that they test the range rules.
FLOAT_SAFE_INT = 2**1023

NAN = math.nan
INF = math.inf

INT_FIELDS = ("num_envs", "num_steps", "total_timesteps", "update_epochs", "num_minibatches")

# Real-valued fields: (low, high, low_open), exactly as `_validate` passes them to
# `_require_real`. vf_clip_eps follows the same rule when it is not None.
REAL_RULES: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.0, INF, True),
    "gamma": (0.0, 1.0, False),
    "gae_lambda": (0.0, 1.0, False),
    "clip_eps": (0.0, INF, True),
    "ent_coef": (0.0, INF, False),
    "vf_coef": (0.0, INF, False),
    "max_grad_norm": (0.0, INF, True),
    "adam_eps": (0.0, INF, True),
    "vf_clip_eps": (0.0, INF, True),
    "norm_clip": (0.0, INF, True),
}
NUMERIC_FIELDS = (*INT_FIELDS, *REAL_RULES, "hidden_sizes")


# --------------------------------------------------------------------------- invalid values
def _other_objects() -> st.SearchStrategy[Any]:
    """Values that are neither ints nor floats (nor None)."""
    return st.one_of(
        st.text(max_size=8),
        st.complex_numbers(allow_nan=False, max_magnitude=10),
        st.lists(st.integers(1, 8), max_size=3),
        st.tuples(st.integers(1, 8)),
        st.just(b"1"),
    )


def _bad_type_int(field: str) -> st.SearchStrategy[Any]:
    """Wrong types for an int field: every float (integral ones too), bools, None, others."""
    del field
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([4.0, 1.0, NAN, INF, -INF]),
        st.booleans(),
        st.none(),
        _other_objects(),
    )


def _bad_value_int(field: str) -> st.SearchStrategy[Any]:
    """Ints below the minimum of 1 (unbounded: int comparisons cannot overflow)."""
    del field
    return st.integers(max_value=0)


def _bad_type_real(field: str) -> st.SearchStrategy[Any]:
    """Wrong types for a real field: bools, strings, None (unless allowed), others."""
    strategies = [st.booleans(), _other_objects()]
    if field != "vf_clip_eps":  # None disables value clipping; it is valid there.
        strategies.append(st.none())
    return st.one_of(*strategies)


def _bad_value_real(field: str) -> st.SearchStrategy[Any]:
    """Floats and ints outside the field's range, NaN and +-inf."""
    low, high, low_open = REAL_RULES[field]
    assert low == 0.0
    below: list[st.SearchStrategy[Any]] = [
        st.floats(max_value=low, exclude_max=not low_open, allow_nan=False),
        st.integers(min_value=-FLOAT_SAFE_INT, max_value=0 if low_open else -1),
    ]
    if low_open:
        below.append(st.just(-0.0))
    above: list[st.SearchStrategy[Any]] = []
    if math.isfinite(high):
        above = [
            st.floats(min_value=high, exclude_min=True, allow_nan=False),
            st.integers(min_value=int(high) + 1, max_value=FLOAT_SAFE_INT),
        ]
    return st.one_of(*below, *above, st.sampled_from([NAN, -NAN, INF, -INF]))


def _bad_hidden_sizes(kind: str) -> st.SearchStrategy[Any]:
    """Tuples holding at least one invalid width, and containers that are not tuples / empty."""
    if kind == "value":
        bad_entry: st.SearchStrategy[Any] = st.integers(max_value=0)
    else:
        bad_entry = st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
            st.none(),
            st.text(max_size=4),
        )
    good = st.lists(st.integers(1, 256), max_size=3)

    @st.composite
    def with_bad_entry(draw: st.DrawFn) -> tuple[Any, ...]:
        widths: list[Any] = draw(good)
        widths.insert(draw(st.integers(0, len(widths))), draw(bad_entry))
        return tuple(widths)

    if kind == "value":
        return with_bad_entry()
    return st.one_of(
        with_bad_entry(),
        st.just(()),
        st.lists(st.integers(1, 64), min_size=1, max_size=3),  # a list, not a tuple
        st.integers(1, 64),
        st.none(),
        st.text(max_size=4),
    )


def invalid_values(field: str, kind: str) -> st.SearchStrategy[Any]:
    """Invalid values of ``field`` regardless of the other fields. ``kind``: "type" (expect
    TypeError), "value" (expect ValueError)."""
    if field == "hidden_sizes":
        return _bad_hidden_sizes(kind)
    if field in INT_FIELDS:
        return _bad_type_int(field) if kind == "type" else _bad_value_int(field)
    return _bad_type_real(field) if kind == "type" else _bad_value_real(field)


def _expected_errors(field: str, kind: str) -> tuple[type[Exception], ...]:
    if field == "hidden_sizes" and kind == "type":
        # A wrong container is a TypeError; a wrong-typed width inside a tuple is a ValueError.
        return (TypeError, ValueError)
    return (TypeError,) if kind == "type" else (ValueError,)


# --------------------------------------------------------------------------- valid configs
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _real_in(low: float, high: float, *, low_open: bool) -> st.SearchStrategy[Any]:
    ints = st.integers(math.ceil(low) + (1 if low_open else 0), min(int(high), 10**6))
    return st.one_of(
        st.floats(low, high, exclude_min=low_open, allow_nan=False, allow_infinity=False),
        ints,
    )


@st.composite
def valid_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments of an arbitrary valid PPOConfig (every field drawn)."""
    num_envs = draw(st.integers(1, 64))
    num_steps = draw(st.integers(1, 128))
    batch = num_envs * num_steps
    kwargs: dict[str, Any] = {
        "num_envs": num_envs,
        "num_steps": num_steps,
        "num_minibatches": draw(st.sampled_from(_divisors(batch))),
        "total_timesteps": draw(st.integers(batch, batch * 1000 + batch - 1)),
        "update_epochs": draw(st.integers(1, 16)),
        "anneal_lr": draw(st.booleans()),
        "normalize_advantages": draw(st.booleans()),
        "value_target": draw(st.sampled_from(["lambda_return", "reward_to_go"])),
        "activation": draw(st.sampled_from(["tanh", "relu", "gelu", "silu"])),
        "hidden_sizes": tuple(draw(st.lists(st.integers(1, 512), min_size=1, max_size=4))),
        "env_name": draw(st.sampled_from(["CartPole-v1", "Acrobot-v1", "Pendulum-v1"])),
        "normalize_observations": draw(st.booleans()),
        "normalize_rewards": draw(st.booleans()),
    }
    for name, (low, high, low_open) in REAL_RULES.items():
        kwargs[name] = draw(_real_in(low, min(high, 1e6), low_open=low_open))
    if draw(st.booleans()):
        kwargs["vf_clip_eps"] = None
    return kwargs


# --------------------------------------------------------------------------- 1. invalid values
def _assert_rejected(kwargs: dict[str, Any], field: str, errors: tuple[type[Exception], ...]):
    with pytest.raises(errors) as info:
        PPOConfig(**kwargs)
    assert f"PPOConfig.{field}" in str(info.value), (kwargs[field], str(info.value))


@pytest.mark.parametrize("kind", ["type", "value"])
@pytest.mark.parametrize("field", NUMERIC_FIELDS)
@VALIDATION
@given(data=st.data())
def test_invalid_value_names_the_field(field: str, kind: str, data: st.DataObject):
    """An invalid value of one field, on top of the defaults and on top of any valid config, is
    rejected with TypeError (wrong type) or ValueError (out of range), naming the field."""
    value = data.draw(invalid_values(field, kind), label=field)
    errors = _expected_errors(field, kind)
    _assert_rejected({field: value}, field, errors)
    base = data.draw(valid_kwargs(), label="base")
    _assert_rejected({**base, field: value}, field, errors)


@VALIDATION
@given(base=valid_kwargs(), data=st.data())
def test_num_minibatches_must_divide_batch(base: dict[str, Any], data: st.DataObject):
    batch = base["num_envs"] * base["num_steps"]
    n = data.draw(st.integers(2, 4 * batch + 8).filter(lambda k: batch % k != 0))
    _assert_rejected({**base, "num_minibatches": n}, "num_minibatches", (ValueError,))


@VALIDATION
@given(base=valid_kwargs(), data=st.data())
def test_total_timesteps_must_cover_one_batch(base: dict[str, Any], data: st.DataObject):
    batch = base["num_envs"] * base["num_steps"]
    if batch == 1:
        base = {**base, "num_envs": 2, "num_minibatches": 1}
        batch = 2 * base["num_steps"]
    total = data.draw(st.integers(1, batch - 1))
    _assert_rejected({**base, "total_timesteps": total}, "total_timesteps", (ValueError,))


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(
    field=st.sampled_from(sorted(REAL_RULES)),
    magnitude=st.integers(min_value=2**1024, max_value=10**1000),
    sign=st.sampled_from([1, -1]),
)
def test_huge_ints_for_real_fields_name_the_field(field: str, magnitude: int, sign: int):
    # Not representable as a float (even learning_rate=10**400, in range on paper): the traced
    # hyperparameters are floats, so such a value is refused with a ValueError naming the field.
    _assert_rejected({field: sign * magnitude}, field, (ValueError,))


# --------------------------------------------------------------------------- 2. valid configs
@VALIDATION
@given(kwargs=valid_kwargs())
def test_valid_configs_construct_with_consistent_derived_values(kwargs: dict[str, Any]):
    c = PPOConfig(**kwargs)
    for name, value in kwargs.items():
        assert getattr(c, name) == value
    assert c.batch_size == kwargs["num_envs"] * kwargs["num_steps"]
    assert c.minibatch_size * c.num_minibatches == c.batch_size
    assert c.minibatch_size >= 1
    assert c.num_updates >= 1
    assert c.env_steps == c.num_updates * c.batch_size
    assert c.env_steps <= c.total_timesteps < c.env_steps + c.batch_size
    hp = c.hyperparams()
    for name, value in hp._asdict().items():
        assert isinstance(value, float)
        assert value == float(kwargs[name])
    # Frozen dataclass semantics: rebuilding it gives an equal config with the same hash.
    again = PPOConfig(**kwargs)
    assert again == c
    assert hash(again) == hash(c)
    assert c.replace() == c


# --------------------------------------------------------------------------- 3. small runs train
@st.composite
def small_configs(draw: st.DrawFn) -> PPOConfig:
    num_envs = draw(st.integers(1, 4))
    num_steps = draw(st.integers(1, 8))
    batch = num_envs * num_steps
    return PPOConfig(
        num_envs=num_envs,
        num_steps=num_steps,
        num_minibatches=draw(st.sampled_from(_divisors(batch))),
        update_epochs=draw(st.integers(1, 2)),
        total_timesteps=draw(st.integers(batch, 3 * batch)),
        hidden_sizes=tuple(draw(st.lists(st.integers(1, 8), min_size=1, max_size=2))),
        learning_rate=10.0 ** draw(st.floats(-5.0, -1.0)),
        gamma=draw(st.floats(0.0, 1.0)),
        gae_lambda=draw(st.floats(0.0, 1.0)),
        clip_eps=draw(st.floats(0.0, 1.0, exclude_min=True)),
        ent_coef=draw(st.floats(0.0, 1.0)),
        vf_coef=draw(st.floats(0.0, 1.0)),
        max_grad_norm=draw(st.floats(0.0, 10.0, exclude_min=True)),
        value_target=draw(st.sampled_from(["lambda_return", "reward_to_go"])),
        normalize_advantages=draw(st.booleans()),
        anneal_lr=draw(st.booleans()),
        vf_clip_eps=draw(st.none() | st.floats(0.0, 1.0, exclude_min=True)),
    )


@pytest.mark.timeout(900)
@TRAINING
@given(config=small_configs())
# Edge case pinned explicitly: one-transition minibatches with advantage normalisation (std 0),
# value clipping, two layers, annealing, two epochs and gamma = gae_lambda = 1.
@example(
    config=PPOConfig(
        num_envs=2,
        num_steps=2,
        num_minibatches=4,
        update_epochs=2,
        total_timesteps=12,
        hidden_sizes=(8, 1),
        gamma=1.0,
        gae_lambda=1.0,
        normalize_advantages=True,
        anneal_lr=True,
        vf_clip_eps=1.0,
        value_target="reward_to_go",
    )
)
def test_every_valid_small_config_trains(config: PPOConfig):
    result = ppo_jax.train(config, jax.random.PRNGKey(0))
    n = config.num_updates
    assert result.metrics, "no metrics returned"
    for name, values in result.metrics.items():
        assert np.shape(values) == (n,), (name, np.shape(values))
    for name in ("policy_loss", "value_loss", "entropy"):
        values = np.asarray(result.metrics[name])
        assert np.all(np.isfinite(values)), (name, values)
    assert np.all(np.asarray(result.metrics["value_loss"]) >= 0)
    assert np.all(np.asarray(result.metrics["entropy"]) >= 0)
    assert int(np.asarray(result.metrics["env_steps"])[-1]) == config.env_steps
    leaves = jax.tree.leaves(result.params)
    assert leaves, "no parameters returned"
    for leaf in leaves:
        assert np.all(np.isfinite(np.asarray(leaf))), "non-finite parameters"
