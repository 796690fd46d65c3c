"""ppo_jax.core.config: derived values, validation errors naming the field (hand-picked cases
and hypothesis properties), numpy scalars, float32 range, int32 bounds, the static part,
immutability, hashing, environment names."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppo_jax import Hyperparams, PPOConfig
from ppo_jax.core.config import (
    TRACED_FIELDS,
    StaticConfig,
    config_field_names,
    env_name_kind,
    field_docs,
    static_field_names,
)


def test_derived_values():
    c = PPOConfig(num_envs=8, num_steps=16, num_minibatches=4, total_timesteps=1000)
    assert c.batch_size == 128
    assert c.minibatch_size == 32
    assert c.num_updates == 7
    assert c.env_steps == 896


def test_frozen_and_hashable():
    c = PPOConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.num_envs = 3  # type: ignore[misc]
    assert hash(c) == hash(PPOConfig())
    assert c == PPOConfig()
    assert c.replace(num_envs=64) != c
    assert c.num_envs == PPOConfig().num_envs  # replace did not mutate


def test_hyperparams_mirror_config():
    c = PPOConfig(learning_rate=1e-3, gamma=0.9)
    hp = c.hyperparams()
    assert isinstance(hp, Hyperparams)
    assert hp.learning_rate == 1e-3
    assert hp.gamma == 0.9
    assert set(hp._fields) <= {f.name for f in dataclasses.fields(PPOConfig)}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_steps": -1}, "num_steps"),
        ({"update_epochs": 0}, "update_epochs"),
        ({"num_minibatches": 0}, "num_minibatches"),
        ({"num_envs": 3, "num_steps": 5, "num_minibatches": 4}, "num_minibatches"),
        ({"total_timesteps": 10}, "total_timesteps"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": math.nan}, "learning_rate"),
        ({"learning_rate": math.inf}, "learning_rate"),
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": -0.1}, "gamma"),
        ({"gamma": math.nan}, "gamma"),
        ({"gae_lambda": 2.0}, "gae_lambda"),
        ({"clip_eps": 0.0}, "clip_eps"),
        ({"ent_coef": -0.1}, "ent_coef"),
        ({"vf_coef": math.nan}, "vf_coef"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"vf_clip_eps": -1.0}, "vf_clip_eps"),
        ({"adam_eps": 0.0}, "adam_eps"),
        ({"value_target": "td"}, "value_target"),
        ({"activation": "sigmoid"}, "activation"),
        ({"hidden_sizes": (64, 0)}, "hidden_sizes"),
        ({"env_name": "CartPole-v9"}, "env_name"),
        ({"log_std_init": 6.0}, "log_std_init"),
        ({"norm_clip": 0.0}, "norm_clip"),
        ({"cnn_kernel": 0}, "cnn_kernel"),
        ({"torso": "resnet"}, "torso"),
    ],
)
def test_invalid_values_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        PPOConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_envs": 4.0}, "num_envs"),
        ({"num_envs": True}, "num_envs"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"anneal_lr": 1}, "anneal_lr"),
        ({"hidden_sizes": [64, 64]}, "hidden_sizes"),
        ({"hidden_sizes": ()}, "hidden_sizes"),
        ({"env_name": 3}, "env_name"),
        ({"env_kwargs": {"a": 1}}, "env_kwargs"),
        ({"normalize_observations": "yes"}, "normalize_observations"),
        ({"normalize_rewards": 1}, "normalize_rewards"),
        ({"cnn_channels": (16, 0)}, "cnn_channels"),
        ({"cnn_channels": ()}, "cnn_channels"),
        ({"log_std_init": "wide"}, "log_std_init"),
    ],
)
def test_wrong_types_name_the_field(changes, field):
    with pytest.raises(TypeError, match=field):
        PPOConfig(**changes)


def test_unknown_env_lists_available():
    with pytest.raises(ValueError, match="Acrobot-v1"):
        PPOConfig(env_name="NoSuchEnv")


def test_replace_rejects_unknown_field():
    with pytest.raises(TypeError, match="num_env"):
        PPOConfig().replace(num_env=3)


def test_to_dict_roundtrip():
    c = PPOConfig(hidden_sizes=(8, 4), vf_clip_eps=0.2)
    d = c.to_dict()
    d["hidden_sizes"] = tuple(d["hidden_sizes"])
    d["cnn_channels"] = tuple(d["cnn_channels"])
    d["env_kwargs"] = tuple(d["env_kwargs"].items())
    assert PPOConfig(**d) == c
    assert PPOConfig.from_dict(c.to_dict()) == c


# Fast, pure validation tests.
VALIDATION = settings(max_examples=100, deadline=None, derandomize=True, database=None)
# Each distinct config compiles a whole training run (~5-8 s on a small CPU).

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


FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _real_in(low: float, high: float, *, low_open: bool) -> st.SearchStrategy[Any]:
    ints = st.integers(math.ceil(low) + (1 if low_open else 0), min(int(high), 10**6))
    floats = st.floats(low, high, exclude_min=low_open, allow_nan=False, allow_infinity=False)
    # Values the compiled float32 program can hold: 0 or at least float32's smallest normal.
    return st.one_of(floats.filter(lambda v: v == 0 or abs(v) >= FLOAT32_TINY), ints)


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


# --------------------------------------------------------------------------- bounds and forms
def test_numpy_scalars_are_accepted_and_hash_like_python_ones():
    a = PPOConfig(num_envs=np.int64(8), learning_rate=np.float32(1e-3), hidden_sizes=(np.int64(8),))
    b = PPOConfig(num_envs=8, learning_rate=float(np.float32(1e-3)), hidden_sizes=(8,))
    assert a == b and hash(a) == hash(b)
    assert type(a.num_envs) is int and type(a.learning_rate) is float


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"learning_rate": 1e-50}, "float32"),
        ({"vf_coef": 1e39}, "float32"),
        ({"update_epochs": 10**29}, "update_epochs"),
        ({"num_envs": 2**31}, "num_envs"),
        ({"num_envs": 2**16, "num_steps": 2**16, "num_minibatches": 1}, "int32"),
        (
            {
                "update_epochs": 2**20,
                "num_minibatches": 2**10,
                "num_envs": 2**10,
                "num_steps": 1,
                "total_timesteps": 2**12,
            },
            "gradient steps",
        ),
        ({"cnn_kernel": 10**9}, "cnn_kernel"),
        ({"hidden_sizes": (2**40,)}, "hidden_sizes"),
        ({"recurrent": "transformer"}, "recurrent"),
        (
            {"recurrent": "gru", "num_envs": 4, "num_minibatches": 8},
            "num_minibatches=8 must divide num_envs",
        ),
        ({"env_name": "brax:"}, "names no environment"),
        ({"env_name": "not a:module"}, "module:attribute"),
    ],
)
def test_out_of_range_values_name_the_field(changes, needle):
    with pytest.raises(ValueError, match=needle):
        PPOConfig(**changes)


def test_env_name_forms():
    assert env_name_kind("CartPole-v1") == "gymnax"
    assert env_name_kind("brax:ant") == "suite"
    assert env_name_kind("my_pkg.envs:make_env") == "module"
    with pytest.raises(ValueError, match="is not a gymnax environment"):
        env_name_kind("CartPole")


def test_static_part_drops_the_traced_fields():
    """``static()`` is a StaticConfig: equal for configs that differ only in traced fields, the
    same static values, and no traced field to read (an AttributeError, not a placeholder)."""
    c = PPOConfig(learning_rate=1e-4, gamma=0.9, num_envs=8)
    static = c.static()
    assert type(static) is StaticConfig
    assert static == PPOConfig(num_envs=8).static() and hash(static) == hash(
        PPOConfig(num_envs=8).static()
    )
    assert static != PPOConfig(num_envs=16).static()
    assert {f: getattr(static, f) for f in static_field_names()} == {
        f: getattr(c, f) for f in static_field_names()
    }
    assert static.batch_size == c.batch_size and static.num_updates == c.num_updates
    for name in TRACED_FIELDS:
        assert name not in static_field_names()
        with pytest.raises(AttributeError):
            getattr(static, name)
    assert set(static_field_names()) | set(TRACED_FIELDS) == set(config_field_names())
    assert Hyperparams() == PPOConfig().hyperparams()


def test_a_spec_holds_the_static_config_only(tiny_config):
    """What a compiled program closes over has no traced value to read: the TrainSpec refuses
    a PPOConfig, and ``spec.config.clip_eps`` raises."""
    import dataclasses

    from ppo_jax.core.envs import make_env
    from ppo_jax.core.spec import Problem, make_spec

    env, params = make_env(tiny_config)
    spec = make_spec(tiny_config.replace(clip_eps=0.3), Problem(env=env, env_params=params))
    assert type(spec.config) is StaticConfig
    with pytest.raises(AttributeError):
        _ = spec.config.clip_eps  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="StaticConfig"):
        dataclasses.replace(spec, config=tiny_config)


def test_from_dict_names_unknown_keys_and_clips_long_ones():
    with pytest.raises(TypeError, match="unknown PPOConfig field"):
        PPOConfig.from_dict({"num_env": 3})
    long = "x" * 10_000_000
    with pytest.raises(TypeError) as info:
        PPOConfig.from_dict({long: 1})
    assert len(str(info.value)) < 2000
    with pytest.raises(TypeError, match="dict"):
        PPOConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_every_field_is_documented():
    docs = field_docs()
    assert set(docs) == set(config_field_names())
    assert all(len(doc) > 10 for doc in docs.values())


def test_env_origin_travels_with_the_config_but_is_no_field() -> None:
    """A config read from a run folder stays marked through ``replace``; equality, hashing,
    ``to_dict`` and the field list ignore the mark, and ``with_env_origin(None)`` clears it."""
    config = PPOConfig(env_name="probe_envs:CONSTANT")
    assert config.env_origin is None
    marked = config.with_env_origin("run folder 'x'")
    assert marked.env_origin == "run folder 'x'" and config.env_origin is None
    assert marked == config and hash(marked) == hash(config)
    assert marked.to_dict() == config.to_dict()
    assert "env_origin" not in config_field_names()
    assert marked.replace(num_envs=8).env_origin == "run folder 'x'"
    assert marked.with_env_origin(None).env_origin is None
    with pytest.raises(TypeError, match="env_origin"):
        config.with_env_origin(3)  # type: ignore[arg-type]
