"""ppo_jax.core.update: the learning-rate schedule, the optimiser, minibatch shuffling (both
``PPOConfig.shuffle`` modes give permutations, and the sort-free one has the statistics of a
uniform shuffle), and whole-sequence minibatches of recurrent policies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ppo_jax import Hyperparams, PPOConfig, train
from ppo_jax.core.envs import make_env
from ppo_jax.core.spec import make_spec
from ppo_jax.core.types import Batch
from ppo_jax.core.update import (
    learning_rate_at,
    random_permutation,
    shuffle_and_split,
    shuffle_sequences,
    shuffle_share,
)


def spec_of(config, lr_schedule=None):
    env, env_params = make_env(config)
    return make_spec(config, env, env_params, lr_schedule=lr_schedule)


def test_learning_rate_schedule_constant_annealed_and_custom():
    config = PPOConfig(num_envs=4, num_steps=8, total_timesteps=4 * 8 * 5, update_epochs=2,
                       num_minibatches=2, hidden_sizes=(8,))  # fmt: skip
    steps = jnp.arange(config.gradient_steps)  # 5 updates x 4 gradient steps
    hp = Hyperparams(learning_rate=1e-3)
    annealed = np.asarray(learning_rate_at(spec_of(config), hp, steps))
    # Update u (steps 4u .. 4u+3) uses 1e-3 * (1 - u / 5): 1.0, 0.8, 0.6, 0.4, 0.2.
    np.testing.assert_allclose(annealed, 1e-3 * np.repeat([1.0, 0.8, 0.6, 0.4, 0.2], 4), rtol=1e-6)
    constant = learning_rate_at(spec_of(config.replace(anneal_lr=False)), hp, steps)
    np.testing.assert_allclose(constant, 1e-3, rtol=1e-7)
    cosine = optax.cosine_decay_schedule(3e-3, config.gradient_steps)
    custom = learning_rate_at(spec_of(config, cosine), hp, steps)
    np.testing.assert_allclose(custom, np.asarray(cosine(steps)), rtol=1e-6)
    assert float(custom[0]) == pytest.approx(3e-3)  # hp.learning_rate is ignored


@pytest.mark.parametrize("n", [*range(1, 20), 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 3000])
def test_random_permutation_is_a_permutation(n):
    perm = np.asarray(random_permutation(jax.random.PRNGKey(n), n))
    assert perm.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_random_permutation_is_uniform_in_position_and_pairing():
    n, draws = 24, 20_000
    keys = jax.random.split(jax.random.PRNGKey(1), draws)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: random_permutation(k, n)))(keys))
    # Where item i lands: chi-square of the [item, position] counts against draws / n each.
    counts = np.stack([np.bincount(perms[:, i], minlength=n) for i in range(n)])
    expected = draws / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof = (n - 1) ** 2
    assert chi2 < dof + 5 * np.sqrt(2 * dof), chi2  # ~5 sigma; a biased shuffle is far above
    # How often two items share a half (2 minibatches): (n/2 - 1) / (n - 1) for a uniform one.
    half = perms < n // 2
    together = (half[:, :, None] == half[:, None, :]).mean(axis=0)[~np.eye(n, dtype=bool)]
    rate = (n // 2 - 1) / (n - 1)
    sigma = np.sqrt(rate * (1 - rate) / draws)
    assert np.abs(together - rate).max() < 5 * sigma, np.abs(together - rate).max() / sigma
    # Different keys give different permutations, the same key the same one.
    assert len({tuple(p) for p in perms[:100]}) == 100
    np.testing.assert_array_equal(random_permutation(keys[0], n), perms[0])


@pytest.mark.parametrize("shuffle", ["sort", "hash"])
def test_shuffle_and_split_keeps_rows_together(shuffle):
    size = 64
    batch = Batch(
        obs=jnp.arange(size * 4, dtype=jnp.float32).reshape(size, 4),
        action=jnp.arange(size),
        log_prob=jnp.arange(size, dtype=jnp.float32),
        value=-jnp.arange(size, dtype=jnp.float32),
        advantage=jnp.arange(size, dtype=jnp.float32) * 2,
        target=jnp.arange(size, dtype=jnp.float32) + 0.5,
    )
    out = shuffle_and_split(jax.random.PRNGKey(0), batch, 4, shuffle)
    assert out.obs.shape == (4, 16, 4) and out.action.shape == (4, 16)
    rows = np.asarray(out.action).reshape(-1)
    np.testing.assert_array_equal(np.sort(rows), np.arange(size))
    assert not np.array_equal(rows, np.arange(size))
    np.testing.assert_array_equal(np.asarray(out.obs).reshape(-1, 4)[:, 0], rows * 4)
    np.testing.assert_array_equal(np.asarray(out.value).reshape(-1), -rows)
    np.testing.assert_array_equal(np.asarray(out.target).reshape(-1), rows + 0.5)


@pytest.mark.parametrize("shuffle", ["sort", "hash"])
def test_devices_shares_make_up_the_one_device_minibatches(shuffle):
    """``shuffle_share`` on 2 devices (emulated with ``vmap``): device ``d`` holds part ``d``
    of every minibatch ``shuffle_and_split`` makes from the same key."""
    size = 48
    batch = Batch(
        obs=jnp.arange(size * 2, dtype=jnp.float32).reshape(size, 2),
        action=jnp.arange(size),
        log_prob=jnp.zeros(size),
        value=jnp.zeros(size),
        advantage=jnp.zeros(size),
        target=-jnp.arange(size, dtype=jnp.float32),
    )
    key = jax.random.PRNGKey(4)
    whole = shuffle_and_split(key, batch, 3, shuffle)  # [3, 16]
    shares = jax.vmap(lambda _: shuffle_share(key, batch, 3, shuffle, "d"), axis_name="d")(
        jnp.arange(2)
    )  # [2, 3, 8]
    for got, want in zip(jax.tree.leaves(shares), jax.tree.leaves(whole), strict=True):
        halves = np.asarray(want).reshape(3, 2, 8, *want.shape[2:])
        np.testing.assert_array_equal(np.swapaxes(np.asarray(got), 0, 1), halves)
    positions = jnp.array([[5, 0], [47, 20]])
    np.testing.assert_array_equal(
        random_permutation(key, size, positions), random_permutation(key, size)[positions]
    )


def test_hash_shuffle_trains_and_bad_value_is_refused(tiny_config):
    result = train(tiny_config.replace(shuffle="hash"), jax.random.PRNGKey(0))
    assert np.all(np.isfinite(result.metrics["value_loss"]))
    with pytest.raises(ValueError, match="shuffle"):
        PPOConfig(shuffle="random")  # type: ignore[arg-type]


def test_sequences_are_split_by_environment_and_keep_their_start_states():
    t_len, n = 5, 8
    env_index = jnp.tile(jnp.arange(n, dtype=jnp.float32), (t_len, 1))  # [T, N]: env id
    time_index = jnp.tile(jnp.arange(t_len, dtype=jnp.float32)[:, None], (1, n))
    batch = Batch(
        obs=jnp.stack([env_index, time_index], -1),
        action=env_index.astype(jnp.int32),
        log_prob=env_index,
        value=time_index,
        advantage=env_index,
        target=env_index,
        first=time_index == 0,
        policy_state={"h": jnp.arange(n, dtype=jnp.float32)[:, None] * jnp.ones((n, 3))},
    )
    out = shuffle_sequences(jax.random.PRNGKey(0), batch, 4)
    assert out.obs.shape == (4, t_len, 2, 2) and out.policy_state["h"].shape == (4, 2, 3)
    envs = np.asarray(out.obs[..., 0])  # [M, T, N/M]
    # Every minibatch holds whole sequences: one environment per column, all time steps.
    np.testing.assert_array_equal(envs, np.broadcast_to(envs[:, :1], envs.shape))
    np.testing.assert_array_equal(
        np.asarray(out.obs[..., 1])[:, :, 0], np.tile(np.arange(t_len), (4, 1))
    )
    np.testing.assert_array_equal(np.sort(envs[:, 0].reshape(-1)), np.arange(n))
    # The start state travels with its sequence.
    np.testing.assert_array_equal(np.asarray(out.policy_state["h"])[..., 0], envs[:, 0])


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("feed-forward-normalized", marks=pytest.mark.heavy),
        pytest.param("masked", marks=pytest.mark.heavy),
        "gru-masked-dict",
        pytest.param("lstm", marks=pytest.mark.heavy),
        "lru",
        "composite-masked",
        pytest.param("tanh", marks=pytest.mark.heavy),
        pytest.param("beta", marks=pytest.mark.heavy),
        pytest.param("hybrid-state-dependent", marks=pytest.mark.heavy),
        pytest.param("dict-obs-lru", marks=pytest.mark.heavy),
    ],
)
def test_first_epoch_recomputes_the_rollouts_log_probs(variant):
    """Oracle: before any gradient step, the update's recomputed log-probabilities equal the
    rollout's (ratio 1): recurrent sequences replayed from their stored start states, masks
    applied alike, observation statistics held fixed. With a learning rate of 0 no epoch moves
    the policy, so every minibatch of every epoch must report ratio 1 (KL 0, nothing clipped)."""
    from ppo_jax.core.distributions import dist_log_prob
    from ppo_jax.core.loss import policy_and_value
    from ppo_jax.core.rollout import collect_rollout
    from ppo_jax.core.train import init_runner, update_step

    fields, env = _first_epoch_variant(variant)
    config = PPOConfig(**fields, update_epochs=3, num_minibatches=2)
    if env is None:
        env, env_params = make_env(config)
    else:
        env_params = env.default_params
    spec = make_spec(config, env, env_params)
    hp = config.hyperparams()._replace(learning_rate=0.0)
    runner = init_runner(spec, env_params, hp, jax.random.PRNGKey(3))
    step = jax.jit(update_step, static_argnums=0)
    # Warm the policy a little (so its outputs are not uniform), then freeze it.
    runner, _ = step(spec, env_params, config.hyperparams(), runner)
    ts = runner.train_state
    rollout = jax.jit(collect_rollout, static_argnums=0)
    _, traj = rollout(spec, env_params, ts, runner.env, jax.random.PRNGKey(4))
    batch = Batch(
        obs=traj.obs, action=traj.action, log_prob=traj.log_prob, value=traj.value,
        advantage=traj.value, target=traj.value, action_mask=traj.action_mask,
    )  # fmt: skip
    if spec.network.recurrent:
        batch = batch._replace(first=traj.first, policy_state=runner.env.policy_state)
    else:
        batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
    dist, _ = policy_and_value(spec, ts.params, batch, ts.obs_norm)
    new = np.asarray(dist_log_prob(dist, batch.action))
    # float32 rounding of two compilations of the same formula (Beta: log-gamma functions).
    atol = 1e-5 if variant == "beta" else 2e-6
    np.testing.assert_allclose(np.exp(new - np.asarray(batch.log_prob)), 1.0, rtol=0, atol=atol)
    if traj.action_mask is not None:  # no illegal action was taken
        masks, actions = traj.action_mask, traj.action
        if isinstance(actions, tuple):  # one mask per discrete leaf
            masks = spec.network.action.treedef.flatten_up_to(masks)
        else:
            masks, actions = [masks], [actions]
        for mask, action in zip(masks, actions, strict=True):
            taken = np.take_along_axis(np.asarray(mask), np.asarray(action)[..., None], -1)
            assert taken.all()
    _, metrics = step(spec, env_params, hp, runner)
    assert float(metrics.clip_fraction) == 0.0
    assert abs(float(metrics.approx_kl)) < 1e-7


def _first_epoch_variant(variant: str) -> tuple[dict, object]:
    """Config fields and environment (``None``: by name) of a first-epoch oracle variant."""
    from probe_envs import DictMaskEnv, MaskedChoiceEnv

    from ppo_jax.core.envs import wrap_observation_mask

    fields = {"num_envs": 4, "num_steps": 16, "total_timesteps": 64, "hidden_sizes": (8,)}
    env = None
    if "gru" in variant:
        fields.update(recurrent="gru", recurrent_size=6)
    if variant in ("lstm", "lru"):
        fields.update(recurrent=variant, recurrent_size=6)
    if variant == "masked":
        env = MaskedChoiceEnv()
    if variant == "gru-masked-dict":  # Jumanji-style: the mask inside a dict observation
        env = wrap_observation_mask(DictMaskEnv(), DictMaskEnv().default_params)
    if variant == "feed-forward-normalized":
        fields.update(normalize_observations=True)
    spaces = pytest.importorskip("examples.spaces")
    if variant == "composite-masked":  # MultiDiscrete with a mask per component
        env = spaces.MaskedPair()
    if variant in ("tanh", "beta"):
        fields.update(env_name="Pendulum-v1")
        fields.update(continuous_distribution="tanh_gaussian" if variant == "tanh" else "beta")
    if variant == "hybrid-state-dependent":  # dict action: Discrete + tanh-squashed Box
        env = spaces.HybridAction()
        fields.update(continuous_distribution="tanh_gaussian", state_dependent_std=True)
    if variant == "dict-obs-lru":  # image + vector, normalised per leaf, parallel replay
        env = spaces.ImageAndVector()
        fields.update(recurrent="lru", recurrent_size=6, normalize_observations=True)
    return fields, env
