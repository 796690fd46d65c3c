"""ppo_jax.core.envkwargs: which ``env_kwargs`` reach a suite's constructor. Documented kwargs
are checked by type and range for every config; from a run folder, kwargs that steer native
loading, EnvPool kwargs ppo_jax does not check, and values that are not plain need trust.
Every refusal is one ValueError naming the kwarg, raised before the suite is imported."""

from __future__ import annotations

import sys

import pytest

from ppo_jax import PPOConfig, make_env
from ppo_jax.core.envkwargs import (
    NATIVE_KWARGS,
    SUITE_KWARGS,
    check_env_kwargs,
    check_params_fields,
    needs_trust,
)
from ppo_jax.core.envs import check_env_trusted, trusted

FOLDER = "run folder 'shared/run'"


@pytest.mark.parametrize(
    ("env_name", "key", "value", "needle"),
    [
        ("craftax:Craftax-Classic-Symbolic-v1", "max_timesteps", 10**12, r"\[1, 2147483647\]"),
        ("craftax:Craftax-Symbolic-v1", "reset_ratio", 0, r"\[1, 10000000\]"),
        ("MemoryChain-bsuite", "max_steps_in_episode", 2**31, r"\[1, 2147483647\]"),
        ("brax:ant", "backend", "warp", "one of 'generalized'"),
        ("brax:ant", "episode_length", 1.5, "an int"),
        ("envpool:Pong-v5", "repeat_action_probability", float("nan"), r"\[0, 1\]"),
        ("envpool:Pong-v5", "episodic_life", 1, "a bool"),
        ("envpool:Pong-v5", "stack_num", 10**6, r"\[1, 64\]"),
        ("navix:Navix-Empty-5x5-v0", "max_steps", True, "an int"),
    ],
)
def test_documented_kwargs_are_checked_for_every_config(env_name, key, value, needle):
    for origin in (None, FOLDER):
        with pytest.raises(ValueError, match=needle) as info:
            check_env_kwargs(env_name, ((key, value),), origin)
        assert f"env_kwargs {key}=" in str(info.value) and "\n" not in str(info.value)


def test_documented_values_pass_from_a_folder():
    ok = {
        "envpool:Pong-v5": (("episodic_life", True), ("repeat_action_probability", 0.25)),
        "brax:ant": (("backend", "mjx"), ("episode_length", 500), ("ctrl_cost_weight", 0.1)),
        "brax:humanoid": (("healthy_z_range", (1.0, 2.0)),),
        "craftax:Craftax-Classic-Symbolic-v1": (("max_timesteps", 1000), ("god_mode", False)),
        "MemoryChain-bsuite": (("memory_length", 30),),
        "xminigrid:MiniGrid-Empty-5x5": (("max_steps", 40),),
    }
    for env_name, kwargs in ok.items():
        check_env_kwargs(env_name, kwargs, FOLDER)
        assert not needs_trust(env_name, kwargs)


@pytest.mark.parametrize(
    ("env_name", "key", "value", "needle"),
    [
        ("envpool:Pong-v5", "base_path", "/tmp", "the folder EnvPool loads its ROMs"),
        ("envpool:Pong-v5", "task", "../../x", "Atari ROM file"),
        ("envpool:Basic-v1", "vzd_path", "/bin/sh", "VizDoom executable"),
        ("envpool:Pong-v5", "num_threads", 10**6, "threads"),
        ("envpool:HalfCheetah-v4", "ctrl_cost_weight", 0.1, "does not check"),
        ("brax:ant", "xml_path", "/etc/passwd", "not a plain value"),
        ("jumanji:Snake-v1", "generator", "x", "not a plain value"),
        ("craftax:Craftax-Symbolic-v1", "fractal_noise_angles", ((1,),), "not a plain value"),
        ("MemoryChain-bsuite", "memory_length", 2**40, "not a plain value"),
        ("navix:Navix-Empty-5x5-v0", "observation_fn", None, "not a plain value"),
    ],
)
def test_a_folder_needs_trust_for_what_steers_loading(env_name, key, value, needle):
    kwargs = ((key, value),)
    with pytest.raises(ValueError, match=needle) as info:
        check_env_kwargs(env_name, kwargs, FOLDER)
    text = str(info.value)
    assert text.startswith(f"{FOLDER} gives env_kwargs {key}=") and "\n" not in text
    assert "--trust-env-module" in text and "trust_env_module=True" in text
    assert needs_trust(env_name, kwargs)
    check_env_kwargs(env_name, kwargs, None)  # typed by the user: the user's choice


def test_the_gate_runs_before_the_suite_is_imported(monkeypatch):
    """A folder config naming a native path is refused by ``make_env`` without importing
    EnvPool (the import itself is suite code, but nothing it would load is reached); trusted,
    the same config goes on to EnvPool."""
    config = PPOConfig(env_name="envpool:Pong-v5", env_kwargs=(("base_path", "/nonexistent"),))
    folder = config.with_env_origin(FOLDER)
    monkeypatch.setitem(sys.modules, "envpool", None)  # importing it would now fail
    with pytest.raises(ValueError, match="--trust-env-module"):
        make_env(folder)
    with pytest.raises(ValueError, match="--trust-env-module"):
        check_env_trusted(folder)
    check_env_trusted(trusted(folder, True))  # trusted: nothing refused here
    check_env_trusted(config)


def test_tables_name_each_kwarg_once():
    for suite, native in NATIVE_KWARGS.items():
        assert not set(native) & set(SUITE_KWARGS.get(suite, {}))
    assert "base_path" in NATIVE_KWARGS["envpool"]


def test_parameter_fields_keep_their_type_and_dtype():
    from gymnax.environments.classic_control.cartpole import EnvParams

    params = EnvParams()
    check_params_fields("CartPole-v1", params, {"gravity": 10, "max_steps_in_episode": 200})
    for key, value, needle in (
        ("max_steps_in_episode", 10**12, r"int in \[-2147483648, 2147483647\]"),
        ("max_steps_in_episode", 2.5, "need an int"),
        ("gravity", float("inf"), "finite float"),
        ("gravity", True, "finite float"),
    ):
        with pytest.raises(ValueError, match=needle) as info:
            check_params_fields("CartPole-v1", params, {key: value})
        assert f"EnvParams.{key} is" in str(info.value)


def test_a_failure_while_building_is_one_line_naming_the_kwargs():
    """``probe_envs:make_constant(max_steps=10**12)`` builds parameters that overflow int32
    when traced (JAX's OverflowError): one ValueError naming the kwarg, not a traceback."""
    config = PPOConfig(env_name="probe_envs:make_constant", env_kwargs=(("max_steps", 10**12),))
    with pytest.raises(ValueError) as info:
        make_env(config)
    text = str(info.value)
    assert "max_steps" in text and "OverflowError" in text and "\n" not in text
    make_env(config.replace(env_kwargs=(("max_steps", 7),)))
