"""ppo_jax.core.envs: environments from every kind of name, checks, legal-action masks (a method,
or a pytree observation holding them), and the vmapped step's episode bookkeeping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, CounterParams, DictMaskEnv, MaskedChoiceEnv

from ppo_jax import PPOConfig, make_env
from ppo_jax.core.envs import (
    ObservationMask,
    action_masks,
    action_spec,
    check_env_trusted,
    draw_env,
    env_spec,
    gymnax_base_step,
    reset_envs,
    step_envs,
    to_env_action,
    trusted,
)


def test_gymnax_names():
    env, params = make_env(PPOConfig(env_name="Acrobot-v1"))
    assert env_spec(env, params)[0] == (6,)
    assert action_spec(env, params).size == 3
    with pytest.raises(ValueError, match="env_kwargs"):
        make_env(PPOConfig(env_kwargs=(("no_such_argument", 1),)))


def test_module_attribute_names():
    env, params = make_env(PPOConfig(env_name="probe_envs:CONSTANT"))
    assert isinstance(env, ConstantRewardEnv) and params == env.default_params
    env, params = make_env(PPOConfig(env_name="probe_envs:make_constant"))
    assert params.max_steps_in_episode == 5
    cfg = PPOConfig(env_name="probe_envs:make_constant", env_kwargs=(("max_steps", 9),))
    assert make_env(cfg)[1].max_steps_in_episode == 9
    env, _ = make_env(PPOConfig(env_name="probe_envs:make_match_bit"))
    assert action_spec(env, env.default_params).size == 2


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("no_such_module_xyz:Env", "cannot import module 'no_such_module_xyz'"),
        ("probe_envs:Nope", "has no attribute 'Nope'"),
        ("probe_envs:NOT_AN_ENV", "not a gymnax Environment or a factory"),
        ("probe_envs:constant_obs_value", "the factory failed"),
        ("navix:", "names no environment after navix:"),
    ],
)
def test_bad_names_are_refused_naming_env_name(name, needle):
    with pytest.raises(ValueError, match=needle) as info:
        make_env(PPOConfig(env_name=name))
    assert "env_name" in str(info.value)


def test_masks_from_a_method_and_from_pytree_observations(key):
    env = MaskedChoiceEnv()
    carry = reset_envs(env, env.default_params, key, 6)
    masks = np.asarray(action_masks(env, env.default_params, carry.env_state))
    assert masks.shape == (6, 4) and not masks[:, 3].any() and masks[:, :2].all()
    np.testing.assert_array_equal(masks[:, 2], np.asarray(carry.obs)[:, 0] == 1.0)
    assert action_masks(ConstantRewardEnv(), None, carry.env_state) is None

    wrapped, params = make_env_from(DictMaskEnv())
    assert isinstance(wrapped, ObservationMask)
    assert env_spec(wrapped, params)[0] == (1,)
    carry = reset_envs(wrapped, params, key, 6)
    masks = np.asarray(action_masks(wrapped, params, carry.env_state))
    np.testing.assert_array_equal(masks[:, 2], np.asarray(carry.obs)[:, 0] == 1.0)
    carry, out = step_envs(wrapped, params, key, carry, jnp.zeros(6, jnp.int32))
    assert out["final_obs"].shape == (6, 1)


def make_env_from(env):
    from ppo_jax.core.envs import wrap_observation_mask

    return wrap_observation_mask(env, env.default_params), env.default_params


def test_step_bookkeeping(key):
    env, params = ConstantRewardEnv(), CounterParams(max_steps_in_episode=3)
    carry = reset_envs(env, params, key, 2)
    assert np.all(np.asarray(carry.first))
    completed, firsts = [], []
    for t in range(7):
        carry, out = step_envs(
            env, params, jax.random.fold_in(key, t), carry, jnp.zeros(2, jnp.int32)
        )
        completed.append(np.asarray(out["completed_return"])[0])
        firsts.append(bool(carry.first[0]))
    assert completed == [0, 0, 3, 0, 0, 3, 0]
    assert firsts == [False, False, True, False, False, True, False]


@pytest.mark.parametrize(
    "name, gymnax_step",
    [
        ("CartPole-v1", True),
        ("Pendulum-v1", True),
        ("Breakout-MinAtar", True),
        ("DeepSea-bsuite", False),  # overrides step: its keys are drawn ahead, not its resets
        ("probe_envs:CONSTANT", True),
    ],
)
def test_draws_ahead_step_exactly_as_gymnax_step(key, name, gymnax_step):
    """``step_envs`` with the step's random numbers drawn ahead (``draw_env``: gymnax's key
    split and same-step reset computed before the step) equals ``vmap(env.step)`` with
    ``split(key, N)`` over steps where episodes end (short time limits): the same episodes,
    ends and resets, floats equal up to XLA's rounding of differently fused programs."""

    def same(a, b):
        if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)

    env, params = make_env(PPOConfig(env_name=name))
    if hasattr(params, "max_steps_in_episode"):
        params = params.replace(max_steps_in_episode=7)
    assert gymnax_base_step(env) is gymnax_step
    n = 5
    space = env.action_space(params)
    carry = reset_envs(env, params, key, n)
    state = carry.env_state
    ahead = jax.jit(lambda c, k, a: step_envs(env, params, k, c, a, draw_env(env, params, k, n)))
    plain = jax.jit(
        lambda s, k, a: jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(k, n), s, a, params
        )
    )
    ended = 0
    for t in range(20):
        k = jax.random.fold_in(key, t)
        actions = jax.vmap(space.sample)(jax.random.split(jax.random.fold_in(k, 1), n))
        draws = draw_env(env, params, k, n)
        assert (draws.reset is not None) is gymnax_step
        carry, out = ahead(carry, k, actions)
        obs, state, reward, terminated, truncated, info = plain(state, k, actions)
        for a, b in zip(jax.tree.leaves(carry.env_state), jax.tree.leaves(state), strict=True):
            same(a, b)
        same(carry.obs, obs)
        same(out["final_obs"], info["final_observation"])
        same(out["reward"], jnp.asarray(reward, jnp.float32))
        np.testing.assert_array_equal(out["terminated"], terminated)
        np.testing.assert_array_equal(out["truncated"] | out["terminated"], truncated | terminated)
        ended += int((terminated | truncated).sum())
    assert ended > 0


@pytest.mark.parametrize("name", ["CartPole-v1", "brax:ant", "navix:Navix-Empty-5x5-v0"])
def test_ids_that_name_no_code_of_the_file_need_no_trust(name):
    check_env_trusted(PPOConfig(env_name=name).with_env_origin("run folder 'x'"))


def test_a_module_name_read_from_a_folder_is_refused_naming_what_would_run(monkeypatch):
    """One line naming the module, the attribute and the kwargs; nothing imported."""
    imported: list[str] = []
    monkeypatch.setattr("importlib.import_module", lambda name, *a: imported.append(name))
    config = PPOConfig(
        env_name="subprocess:run", env_kwargs=(("args", "touch x"), ("shell", True))
    ).with_env_origin("run folder 'r'")
    for call in (check_env_trusted, make_env):
        with pytest.raises(ValueError) as info:
            call(config)
        message = str(info.value)
        assert "\n" not in message and message.startswith("run folder 'r' names env_name")
        assert "module 'subprocess'" in message and "attribute 'run'" in message
        assert "{'args': 'touch x', 'shell': True}" in message
        assert "--trust-env-module" in message and "env=" in message
    assert imported == []
    assert trusted(config, True).env_origin is None
    assert trusted(config, False) is config
    with pytest.raises(TypeError, match="trust_env_module"):
        trusted(config, "yes")  # type: ignore[arg-type]
    monkeypatch.undo()
    make_env(PPOConfig(env_name="probe_envs:CONSTANT"))  # made here: no origin, trusted


def test_env_kwargs_set_constructor_arguments_and_env_params_fields():
    config = PPOConfig(
        env_name="MemoryChain-bsuite", env_kwargs=(("memory_length", 30), ("num_bits", 2))
    )
    env, env_params = make_env(config)
    assert env.num_bits == 2 and env_params.memory_length == 30
    for bad, needle in (((("bogus", 1),), "EnvParams fields"), ((("memory_length", "x"),), "int")):
        with pytest.raises(ValueError, match=needle):
            make_env(config.replace(env_kwargs=bad))


# ------------------------------------------------------ composite actions, pytree observations
def test_nested_tuple_and_dict_action_spaces_become_a_composite_spec():
    from gymnax.environments import spaces

    from ppo_jax.core.types import ActionSpec, CompositeAction

    class Nested(ConstantRewardEnv):
        def action_space(self, params=None):
            return spaces.Dict(
                {
                    "say": spaces.Tuple([spaces.Discrete(3), spaces.Discrete(2)]),
                    "move": spaces.Box(jnp.array([-1.0, 0.0]), jnp.array([1.0, 5.0]), (2,)),
                }
            )

        def step_env(self, key, state, action, params):
            return super().step_env(key, state, action["say"][0], params)

    env = Nested()
    spec = action_spec(env, env.default_params)
    assert isinstance(spec, CompositeAction)
    assert spec.leaves == (
        ActionSpec(True, 2, (-1.0, 0.0), (1.0, 5.0)),  # "move" sorts before "say"
        ActionSpec(False, 3),
        ActionSpec(False, 2),
    )
    assert spec.size == 7 and spec.continuous
    action = spec.treedef.unflatten([jnp.array([-3.0, 9.0]), jnp.int32(2), jnp.int32(1)])
    clipped = to_env_action(env, env.default_params, action)
    np.testing.assert_array_equal(clipped["move"], [-1.0, 5.0])
    assert clipped["say"] == (2, 1)
    env_spec(env, env.default_params)  # and a step with a composite action traces


def test_unsupported_action_leaves_are_named():
    from gymnax.environments import spaces

    class Matrix(ConstantRewardEnv):
        def action_space(self, params=None):
            return spaces.Tuple([spaces.Discrete(2), spaces.Box(0.0, 1.0, (2, 2))])

    with pytest.raises(ValueError, match=r"action_space\[1\] Box"):
        action_spec(Matrix(), CounterParams())


def test_pytree_observations_are_described_by_their_leaves():
    from ppo_jax.core.envs import obs_spec
    from ppo_jax.core.types import ObsTree

    spec = obs_spec({"image": jnp.zeros((4, 4, 3)), "state": (jnp.zeros(2), jnp.zeros(()))})
    assert isinstance(spec, ObsTree)
    assert spec.paths == ("image", "state/0", "state/1")
    assert spec.shapes == ((4, 4, 3), (2,), ())
    assert obs_spec(jnp.zeros((3, 2))) == (3, 2)
    with pytest.raises(ValueError, match="empty"):
        obs_spec({})


def test_an_environment_is_traced_abstractly_once():
    """``inspect_env`` traces ``reset`` and ``step`` once per environment (its signature is
    cached); building a spec on it traces nothing more, and lowering a training program
    traces the environment's step once (the rollout's) and its reset at most twice (the
    runs' first reset and the same-step resets drawn ahead): no abstract trace for shapes."""
    import collections

    from gymnax.environments.classic_control.cartpole import CartPole

    from ppo_jax.core.envs import inspect_env
    from ppo_jax.core.spec import Problem, make_spec
    from ppo_jax.core.train import train_function

    counts: collections.Counter[str] = collections.Counter()

    class Counting(CartPole):  # gymnax's own step: the "gymnax_resets_ahead" strategy
        def reset_env(self, key, params):
            counts["reset_env"] += 1
            return super().reset_env(key, params)

        def step_env(self, key, state, action, params):
            counts["step_env"] += 1
            return super().step_env(key, state, action, params)

    env = Counting()
    params = env.default_params
    signature = inspect_env(env, params)
    assert signature.obs == (4,) and signature.reset_bytes > 0
    assert counts["step_env"] == 1
    traced = dict(counts)
    assert inspect_env(env, params) is signature and dict(counts) == traced
    config = PPOConfig(num_envs=4, num_steps=8, total_timesteps=96, num_minibatches=2)
    spec = make_spec(config, Problem(env=env, env_params=params))
    assert spec.signature == signature and dict(counts) == traced
    jax.jit(train_function(spec)).lower(jax.random.PRNGKey(0), config.hyperparams(), params)
    assert counts["step_env"] - traced["step_env"] == 1
    assert counts["reset_env"] - traced["reset_env"] <= 2


def test_the_step_strategy_is_chosen_by_name():
    """One function steps a batch; how is named once (``step_strategy``): gymnax's own step
    with its resets drawn ahead, plain ``vmap(env.step)`` for other environments or draws
    without resets, pooled resets for an expensive reset (Craftax-like ``reset_ratio``)."""
    from ppo_jax.core.envs import STEP_STRATEGIES, EnvDraws, step_strategy

    gymnax_env, _ = make_env(PPOConfig())
    assert step_strategy(gymnax_env, 8) == "gymnax_resets_ahead"
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    assert step_strategy(gymnax_env, 8, EnvDraws(key=None, env_keys=keys)) == "vmap"

    class OwnStep(ConstantRewardEnv):  # a step of its own: gymnax's cannot be reproduced
        def step(self, key, state, action, params=None):
            return super().step(key, state, action, params)

    assert step_strategy(OwnStep(), 8) == "vmap"
    assert set(STEP_STRATEGIES) == {"vmap", "gymnax_resets_ahead", "pooled_resets", "batched"}


# ------------------------------------------------------------------ non-finite action bounds
class _BoxEnv(ConstantRewardEnv):
    """A probe whose action space is ``space`` (a Box, or a Dict/Tuple holding one)."""

    def __init__(self, space):
        super().__init__()
        self._space = space

    def action_space(self, params=None):
        return self._space


def test_nan_bounds_are_refused_with_the_path_and_the_values():
    from gymnax.environments import spaces

    nan = float("nan")
    with pytest.raises(ValueError, match=r"action_space has a Box with NaN bounds \(low=\[nan\]"):
        action_spec(_BoxEnv(spaces.Box(nan, nan, (1,))), CounterParams())
    nested = spaces.Tuple(
        [spaces.Discrete(2), spaces.Dict({"amount": spaces.Box(jnp.array([0.0, nan]), 1.0, (2,))})]
    )
    with pytest.raises(ValueError, match=r"action_space\[1\]\['amount'\].*low=\[0.0, nan\]"):
        action_spec(_BoxEnv(nested), CounterParams())
    with pytest.raises(ValueError, match=r"low > high \(low=\[2.0\], high=\[1.0\]\)"):
        action_spec(_BoxEnv(spaces.Box(2.0, 1.0, (1,))), CounterParams())


def test_bounded_policies_refuse_infinite_or_empty_ranges_by_path():
    from gymnax.environments import spaces

    from ppo_jax.core.envs import action_paths, check_action_bounds

    inf = float("inf")
    nested = spaces.Tuple(
        [spaces.Discrete(2), spaces.Dict({"amount": spaces.Box(jnp.array([0.0, -inf]), 1.0, (2,))})]
    )
    action = action_spec(_BoxEnv(nested), CounterParams())
    assert action_paths(action) == ("action_space[0]", "action_space[1]['amount']")
    for distribution in ("tanh_gaussian", "beta"):
        with pytest.raises(
            ValueError, match=r"action_space\[1\]\['amount'\] has low=\[0.0, -inf\]"
        ):
            check_action_bounds(action, distribution)
    check_action_bounds(action, "gaussian")  # the Gaussian clips: no bound is needed
    flat = action_spec(_BoxEnv(spaces.Box(1.0, 1.0, (1,))), CounterParams())
    with pytest.raises(ValueError, match=r"low < high; action_space has low=\[1.0\], high=\[1.0\]"):
        check_action_bounds(flat, "beta")


def test_a_nan_box_environment_is_refused_before_training():
    """The case that trained with NaN losses without a word: now one ValueError."""
    from gymnax.environments import spaces

    from ppo_jax import train_seeds

    env = _BoxEnv(spaces.Box(float("nan"), float("nan"), (1,)))
    with pytest.raises(ValueError, match="NaN bounds"):
        train_seeds(PPOConfig(num_envs=2, num_steps=4, total_timesteps=8), 1, env=env)
