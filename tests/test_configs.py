"""The tuned-config registry, the CLI's use of it, and learning tests of every tuned config.

Learning is judged by independent oracles where one exists: a greedy policy exported with
``export_policy`` plays gymnasium's own implementation of the environment.
"""

from __future__ import annotations

import numpy as np
import pytest
from gym_oracle import gymnasium_returns

from ppo_jax import PPOConfig, train_seeds
from ppo_jax.cli import build_parser, config_origin, resolve_train_setup
from ppo_jax.configs import TARGETS, get_config, tuned_configs, tuned_env_names
from ppo_jax.summary import final_return


def test_every_target_env_has_a_tuned_config():
    for env_name in TARGETS:
        config = get_config(env_name)
        assert config.env_name == env_name and config is tuned_configs()[env_name]
    assert get_config("CartPole-v1") == PPOConfig()
    assert {
        "Breakout-MinAtar",
        "Asterix-MinAtar",
        "Freeway-MinAtar",
        "SpaceInvaders-MinAtar",
    } <= set(tuned_env_names())


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
    config, seeds, ckpt = resolve_train_setup(args)
    assert config == get_config("Pendulum-v1", num_envs=8) and seeds == [0] and ckpt is None
    assert "ppo_jax.configs 'Pendulum-v1'" in config_origin(config)
    assert "num_envs=8" in config_origin(config)
    toml = tmp_path / "c.toml"
    toml.write_text('env_name = "Acrobot-v1"\ngamma = 0.98\n')
    args = parser.parse_args(["train", "--config", str(toml)])
    config, _, _ = resolve_train_setup(args)
    assert config == get_config("Acrobot-v1", gamma=0.98)
    assert "not tuned" in config_origin(PPOConfig(env_name="Catch-bsuite"))


# ----------------------------------------------------------------------------- learning tests
def _seed_params(result, index: int):
    import jax

    return jax.tree.map(lambda x: x[index], result.params)


CLASSIC = ["Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"]


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("env_name", CLASSIC)
def test_tuned_config_reaches_its_target(env_name):
    config = get_config(env_name)
    result = train_seeds(config, 4)
    final = final_return({k: np.asarray(v) for k, v in result.metrics.items()})
    assert np.all(final >= TARGETS[env_name]), final
    # Independent judge: gymnasium's implementation of the same environment, greedy policy.
    judged = gymnasium_returns(config, _seed_params(result, 0), episodes=5, seed=1000)
    assert np.mean(judged) >= TARGETS[env_name], judged


def _learning_gain(env_name: str, total_timesteps: int) -> tuple[float, float]:
    config = get_config(env_name, total_timesteps=total_timesteps)
    result = train_seeds(config, 1)
    metrics = {k: np.asarray(v)[0] for k, v in result.metrics.items()}
    returns = metrics["episode_return"]
    first = float(np.nanmean(returns[: max(1, len(returns) // 10)]))
    final = float(final_return(metrics))
    return first, final


@pytest.mark.slow
def test_minatar_breakout_learns_on_cpu():
    """A short CPU run of the tuned MinAtar config (CNN torso): the return must rise well above
    the untrained policy's (about 1 per episode)."""
    first, final = _learning_gain("Breakout-MinAtar", 65_536)
    assert final >= 3.0 and final >= 2.0 * first, (first, final)


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.timeout(900)
@pytest.mark.parametrize("env_name", ["Asterix-MinAtar", "SpaceInvaders-MinAtar"])
def test_other_minatar_configs_learn_on_cpu(env_name):
    first, final = _learning_gain(env_name, 262_144)
    assert final >= 1.5 * first, (first, final)
