"""``ppo_jax.core.episodes``: evaluation inside the training program. Judged by
``ppo_jax.evaluate`` (the after-training evaluation) on the same parameters and keys, by the
NaN convention, by training being unchanged, and by the early stop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

import ppo_jax
from ppo_jax import PPOConfig
from ppo_jax.core.envs import make_env
from ppo_jax.core.episodes import EVAL_STREAM, eval_steps, evaluation_due
from ppo_jax.core.spec import make_spec
from ppo_jax.core.train import init_runner, scan_updates
from ppo_jax.core.types import EVAL_METRIC_NAMES

CONFIG = PPOConfig(**{**TINY, "total_timesteps": 4 * 8 * 5}, eval_every=2, eval_episodes=3)


def _run(config: PPOConfig, length: int):
    env, env_params = make_env(config)
    spec = make_spec(config, env, env_params)
    hp = config.hyperparams()
    runner = init_runner(spec, env_params, hp, jax.random.PRNGKey(3))
    return spec, env_params, *scan_updates(spec, env_params, hp, runner, jnp.int32(0), length)


def test_evaluations_are_ppo_jax_evaluate_on_the_same_parameters_and_keys():
    for greedy in (True, False):
        config = CONFIG.replace(eval_greedy=greedy, normalize_observations=True)
        spec, _, runner, metrics = _run(config, 2)  # update 1 ends with an evaluation
        ts = runner.train_state
        oracle = ppo_jax.evaluate(
            config,
            ts.params,
            jax.random.fold_in(runner.key, EVAL_STREAM),
            config.eval_episodes,
            greedy=greedy,
            obs_norm=ts.obs_norm,
            max_steps=eval_steps(spec),
        )
        got = metrics.evaluation
        np.testing.assert_allclose(got["eval_return"][1], np.mean(oracle.returns), rtol=1e-6)
        np.testing.assert_allclose(got["eval_length"][1], np.mean(oracle.lengths), rtol=1e-6)
        assert float(got["eval_truncated"][1]) == 0.0


def test_metrics_are_finite_exactly_at_evaluation_updates():
    spec, _, _, metrics = _run(CONFIG, CONFIG.num_updates)
    due = np.asarray([bool(evaluation_due(spec, jnp.int32(u))) for u in range(5)])
    assert due.tolist() == [False, True, False, True, True]  # every 2nd, and the last
    for name in EVAL_METRIC_NAMES:
        values = np.asarray(metrics.evaluation[name])
        assert (np.isfinite(values) == due).all(), name


def test_evaluating_changes_nothing_training_does():
    with_eval = ppo_jax.train_seeds(CONFIG, 2)
    without = ppo_jax.train_seeds(CONFIG.replace(eval_every=0), 2)
    assert set(with_eval.metrics) == set(without.metrics) | set(EVAL_METRIC_NAMES)
    for name, values in without.metrics.items():
        np.testing.assert_array_equal(values, with_eval.metrics[name])
    for a, b in zip(
        jax.tree.leaves(without.train_state), jax.tree.leaves(with_eval.train_state), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_the_step_budget_cuts_and_counts_episodes():
    _, _, _, metrics = _run(CONFIG.replace(eval_max_steps=4), 2)
    assert float(metrics.evaluation["eval_truncated"][1]) == 3.0  # CartPole outlives 4 steps
    assert float(metrics.evaluation["eval_length"][1]) == 4.0


def test_a_run_stops_at_its_target_and_keeps_its_state():
    """A target every evaluation reaches: the run stops after update 2 (its first
    evaluation); later updates are skipped (NaN metrics; env steps stay at the count it
    stopped at, never 0) and the state stays as it was."""
    config = CONFIG.replace(stop_at_return=-1.0)
    _, _, stopped, metrics = _run(config, config.num_updates)
    _, _, at_two, _ = _run(config, 2)
    steps = np.asarray(metrics.env_steps)
    assert steps.tolist() == [32, 64, 64, 64, 64]
    assert np.isnan(np.asarray(metrics.policy_loss)[2:]).all()
    assert bool(stopped.evaluation.stopped)
    for a, b in zip(jax.tree.leaves(stopped), jax.tree.leaves(at_two), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_best_parameters_are_those_of_the_best_evaluation():
    _, _, runner, metrics = _run(CONFIG, CONFIG.num_updates)
    returns = np.asarray(metrics.evaluation["eval_return"])
    best = int(np.nanargmax(returns))
    assert int(runner.evaluation.best_update) == best
    assert float(runner.evaluation.best_return) == returns[best]
    if best == CONFIG.num_updates - 1:
        for a, b in zip(
            jax.tree.leaves(runner.evaluation.best_params),
            jax.tree.leaves(runner.train_state.params),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"stop_at_return": 400.0}, "needs eval_every"),
        ({"eval_every": -1}, "eval_every"),
        ({"eval_every": 2, "eval_episodes": 0}, "eval_episodes"),
        ({"eval_every": 2, "eval_greedy": 1}, "eval_greedy"),
        ({"eval_every": 2, "stop_at_return": float("nan")}, "stop_at_return"),
        ({"eval_every": 2, "eval_max_steps": -3}, "eval_max_steps"),
    ],
)
def test_bad_evaluation_settings_are_named(fields, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        PPOConfig(**fields)


@pytest.mark.heavy  # a sweep and a recurrent run
def test_sweeps_and_recurrent_policies_evaluate_too():
    """A sweep row evaluates like train_seeds of its setting; an LRU policy evaluates with
    its state carried through each episode."""
    swept = ppo_jax.sweep(CONFIG, {"learning_rate": [1e-3, 3e-3]}, 1)
    direct = ppo_jax.train_seeds(CONFIG.replace(learning_rate=3e-3), 1)
    np.testing.assert_allclose(
        swept.row(1).metrics["eval_return"], direct.metrics["eval_return"], rtol=1e-5
    )
    recurrent = CONFIG.replace(recurrent="lru", recurrent_size=4, num_minibatches=2)
    metrics = ppo_jax.train_seeds(recurrent, 2).metrics
    assert np.isfinite(metrics["eval_return"][:, [1, 3, 4]]).all()
    assert np.isnan(metrics["eval_return"][:, [0, 2]]).all()
