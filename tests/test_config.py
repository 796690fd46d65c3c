"""PPOConfig: derived values, validation errors naming the field, immutability, hashing."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ppo_jax import Hyperparams, PPOConfig


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
