"""ppo_jax.io.tuned: the registry of tuned configs, its ONE table of targets, and the command
line starting from it (learning tests of every tuned config: tests/learning)."""

from __future__ import annotations

import pytest

from ppo_jax import PPOConfig, get_config
from ppo_jax.cli.main import build_parser, config_origin, resolve_config
from ppo_jax.io.stats import solved_threshold
from ppo_jax.io.tuned import LEGACY, TARGETS, target, tuned_configs, tuned_env_names


def test_every_target_env_has_a_tuned_config():
    for env_name in TARGETS:
        config = get_config(env_name)
        assert config.env_name == env_name and config is tuned_configs()[env_name]
    assert get_config("CartPole-v1").env_name == PPOConfig().env_name  # the default env
    assert {
        "Breakout-MinAtar",
        "Asterix-MinAtar",
        "Freeway-MinAtar",
        "SpaceInvaders-MinAtar",
    } <= set(tuned_env_names())


def test_replaced_configs_are_kept_only_under_their_legacy_name():
    assert LEGACY["CartPole-v1"] == PPOConfig()
    old, new = LEGACY["Pendulum-v1"], get_config("Pendulum-v1")
    assert not old.state_dependent_std and new == old.replace(state_dependent_std=True)
    for env_name, config in LEGACY.items():
        assert config.env_name == env_name and get_config(env_name) != config


def test_one_table_of_targets():
    for env_name, value in TARGETS.items():
        assert target(env_name) == value == solved_threshold(env_name)
    assert target("Catch-bsuite") is None


def test_get_config_overrides_and_fallbacks():
    tuned = get_config("Pendulum-v1")
    assert tuned.normalize_observations
    changed = get_config("Pendulum-v1", learning_rate=1e-4)
    assert changed.learning_rate == 1e-4 and changed.gamma == tuned.gamma
    assert get_config("Catch-bsuite") == PPOConfig(env_name="Catch-bsuite")  # untuned: defaults
    with pytest.raises(ValueError, match="env_name"):
        get_config("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="learning_rate"):
        get_config("Acrobot-v1", learning_rate=-1.0)


def test_cli_env_flag_starts_from_the_tuned_config(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["train", "--env", "Pendulum-v1", "--num-envs", "8"])
    config, seeds = resolve_config(args)
    assert config == get_config("Pendulum-v1", num_envs=8) and seeds is None
    assert "get_config('Pendulum-v1')" in config_origin(config)
    assert "num_envs=8" in config_origin(config)
    toml = tmp_path / "c.toml"
    toml.write_text('env_name = "Acrobot-v1"\ngamma = 0.98\n')
    args = parser.parse_args(["train", "--config", str(toml)])
    config, _ = resolve_config(args)
    assert config == get_config("Acrobot-v1", gamma=0.98)
    assert "not tuned" in config_origin(PPOConfig(env_name="Catch-bsuite"))
