"""Population-based training: ppo_jax.core.exploit (exploit copies state bit for bit, explored
values stay in bounds, ranking) and ppo_jax.run.pbt (one compiled program, lineage and
hyperparameter trajectories that agree, bad input refused, experiments that resume bit for
bit). The PBT folder records (space JSON) are written by ppo_jax.io.rundir and read by
ppo_jax.io.runload."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_programs import CompileCounter

from ppo_jax import LogUniform, PPOConfig, Uniform, load_run, pbt
from ppo_jax.core.config import TRACED_FIELDS, Hyperparams
from ppo_jax.core.exploit import (
    PBTSettings,
    SearchDim,
    choose_parents,
    exploit_explore,
    interval_score,
    rank_members,
)
from ppo_jax.core.types import RunnerState
from ppo_jax.io.rundir import space_to_json
from ppo_jax.io.runload import space_from_json
from ppo_jax.run.pbt import run_pbt_experiment

P = 8
DIMS = (
    SearchDim("learning_rate", "log", 1e-4, 1e-2),
    SearchDim("gamma", "linear", 0.9, 0.999),
    SearchDim("ent_coef", "choice", 0.0, 0.1, (0.0, 0.01, 0.1)),
)


def _population(key: jax.Array) -> tuple[RunnerState, Hyperparams]:
    """A fake population whose every leaf differs per member."""
    k1, k2, k3 = jax.random.split(key, 3)
    train_state = {
        "params": jax.random.normal(k1, (P, 5, 3)),
        "opt": (jax.random.normal(k2, (P, 4)), jnp.arange(P, dtype=jnp.int32)),
    }
    runner = RunnerState(
        train_state=train_state,
        env={"obs": jax.random.normal(k3, (P, 6))},
        key=jax.random.split(key, P),
        reward_norm={"var": jnp.arange(P, dtype=jnp.float32) + 1.0},
    )
    hp = Hyperparams(
        learning_rate=jnp.geomspace(1e-4, 1e-2, P).astype(jnp.float32),
        gamma=jnp.linspace(0.9, 0.999, P).astype(jnp.float32),
        gae_lambda=jnp.full(P, 0.95, jnp.float32),
        clip_eps=jnp.full(P, 0.2, jnp.float32),
        ent_coef=jnp.asarray([0.0, 0.01, 0.1, 0.0, 0.01, 0.1, 0.0, 0.01], jnp.float32),
        vf_coef=jnp.full(P, 0.5, jnp.float32),
        max_grad_norm=jnp.full(P, 0.5, jnp.float32),
    )
    return runner, hp


def test_ranking_puts_nan_last_and_parents_come_from_the_top():
    score = jnp.asarray([3.0, jnp.nan, 7.0, 1.0, 5.0, 2.0, 8.0, 0.0])
    order = np.asarray(rank_members(score))
    assert order[0] == 6 and order[-1] == 1  # best 8.0; NaN (no episode ended) worst
    for seed in range(20):
        parents = np.asarray(choose_parents(score, 2, jax.random.PRNGKey(seed)))
        kept = [i for i in range(P) if i not in (1, 7)]
        assert (parents[kept] == kept).all()  # only the bottom 2 (NaN and 0.0) are replaced
        assert set(parents[[1, 7]]) <= {6, 2}  # by one of the top 2
    assert (np.asarray(choose_parents(score, 0, jax.random.PRNGKey(0))) == np.arange(P)).all()


@pytest.mark.parametrize("resample", [0.0, 0.5, 1.0])
def test_exploit_copies_state_bit_for_bit_and_explore_stays_in_bounds(key, resample):
    runner, hp = _population(key)
    settings = PBTSettings(DIMS, 2, (0.8, 1.25), resample)
    score = jnp.arange(P, dtype=jnp.float32)  # member 7 best, 0 and 1 worst
    for seed in range(10):
        new, new_hp, parents = exploit_explore(
            settings, runner, hp, score, jax.random.PRNGKey(seed)
        )
        parents = np.asarray(parents)
        assert set(parents[[0, 1]]) <= {6, 7}
        assert (parents[2:] == np.arange(2, P)).all()
        for i, j in enumerate(parents):
            for a, b in zip(
                jax.tree.leaves((new.train_state, new.reward_norm)),
                jax.tree.leaves((runner.train_state, runner.reward_norm)),
                strict=True,
            ):
                np.testing.assert_array_equal(np.asarray(a)[i], np.asarray(b)[j])
        # Environments and keys are never copied: copies diverge from the next rollout on.
        np.testing.assert_array_equal(new.env["obs"], runner.env["obs"])
        np.testing.assert_array_equal(new.key, runner.key)
        for name in TRACED_FIELDS:
            got, old = np.asarray(getattr(new_hp, name)), np.asarray(getattr(hp, name))
            np.testing.assert_array_equal(got[2:], old[2:])  # kept members keep theirs
            dim = next((d for d in DIMS if d.name == name), None)
            if dim is None:  # not searched: the parent's value, untouched
                np.testing.assert_array_equal(got, old[parents])
                continue
            assert (got >= np.float32(dim.low)).all() and (got <= np.float32(dim.high)).all()
            if dim.kind == "choice":
                assert set(got.tolist()) <= set(np.float32(dim.choices).tolist())
            elif resample == 0.0:  # perturbed: parent's value times a factor, clipped
                for i in (0, 1):
                    parent = old[parents[i]]
                    options = np.clip(parent * np.float32([0.8, 1.25]), dim.low, dim.high)
                    assert np.isclose(got[i], options, rtol=1e-6).any()


def test_interval_score_ignores_updates_without_finished_episodes():
    returns = jnp.asarray([[1.0, jnp.nan, 3.0], [jnp.nan, jnp.nan, jnp.nan]])
    score = np.asarray(interval_score(returns))
    assert score[0] == 2.0 and np.isnan(score[1])


# --------------------------------------------------------------------------- ppo_jax.pbt
TINY_PBT = PPOConfig(
    num_envs=4,
    num_steps=8,
    total_timesteps=4 * 8 * 10,
    hidden_sizes=(8,),
    update_epochs=1,
    num_minibatches=1,
)
SPACE = {"learning_rate": LogUniform(1e-4, 1e-2), "ent_coef": [0.0, 0.01, 0.1]}


@pytest.fixture(scope="module")
def result():
    # interval 4 over 10 updates: two exploit steps, then a shorter last interval.
    return pbt(TINY_PBT, SPACE, 4, seed=3, interval=4, fraction=0.25)


def test_result_shapes_lineage_and_trajectories_agree(result):
    assert result.lineage.shape == (4, 3)
    assert (result.lineage[:, -1] == np.arange(4)).all()  # no exploit after the last interval
    for name, values in result.metrics.items():
        assert values.shape == (4, 10), name
    assert set(result.hyperparams) == set(TRACED_FIELDS)
    lr = result.hyperparams["learning_rate"]
    assert lr.shape == (4, 10)
    np.testing.assert_allclose(result.metrics["learning_rate"][:, 0], lr[:, 0], rtol=1e-6)
    for p, start in enumerate(result.initial_settings):
        assert np.float32(start["learning_rate"]) == lr[p, 0]
    for i in range(2):  # a replaced member's value after interval i is near its parent's
        for p in range(4):
            parent, after = result.lineage[p, i], lr[p, 4 * (i + 1)]
            if parent == p:
                assert after == lr[p, 4 * i + 3]
            else:  # perturbed (x0.8 or x1.25, clipped) or resampled: inside the bounds
                assert np.float32(1e-4) <= after <= np.float32(1e-2)
    assert all(jax.tree.leaves(jax.tree.map(lambda x: x.shape[0] == 4, result.params)))
    assert 0 <= result.best_member() < 4


@pytest.mark.heavy
def test_whole_run_is_one_program_compiled_once(result):
    other = TINY_PBT.replace(num_steps=4)  # a new static config: a new program
    pbt(other, SPACE, 4, interval=4)  # warms the small host-side programs
    with CompileCounter() as compiles:
        pbt(other.replace(hidden_sizes=(6,)), SPACE, 4, interval=4)
    assert len(compiles) == 1, compiles
    with CompileCounter() as compiles:  # new seeds and traced values reuse it
        pbt(other.replace(hidden_sizes=(6,), gamma=0.9), SPACE, 4, seed=9, interval=4)
    assert compiles == []


@pytest.mark.heavy  # tens of seconds on 2 cores
def test_session_resumes_bit_for_bit_and_loads_back(tmp_path, result):
    whole = run_pbt_experiment(
        TINY_PBT, SPACE, 4, tmp_path / "a", seed=3, interval=4, checkpoint_every=4
    )
    paused = run_pbt_experiment(
        TINY_PBT, SPACE, 4, tmp_path / "b", seed=3, interval=4, checkpoint_every=4, stop_after=4
    )
    assert paused.status.startswith("paused after update 4")
    resumed = run_pbt_experiment(None, None, None, tmp_path / "b", resume=True)
    for run in (whole, resumed):
        assert run.completed and run.kind == "pbt"
        np.testing.assert_array_equal(
            run.metrics["episode_return"], result.metrics["episode_return"]
        )
        np.testing.assert_array_equal(
            run.metrics["hp/learning_rate"], result.hyperparams["learning_rate"]
        )
        for a, b in zip(jax.tree.leaves(run.params), jax.tree.leaves(result.params), strict=True):
            np.testing.assert_array_equal(a, b)
    parents = resumed.metrics["pbt/parent"][:, [3, 7, 9]]
    np.testing.assert_array_equal(parents, result.lineage)
    loaded = load_run(tmp_path / "b")
    assert loaded.kind == "pbt" and loaded.seeds == [0, 1, 2, 3] and loaded.completed
    np.testing.assert_array_equal(loaded.metrics["episode_return"], whole.metrics["episode_return"])
    for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(result.params), strict=True):
        np.testing.assert_array_equal(a, b)
    for name in ("metrics.csv", "metrics.jsonl", "results.json", "hyperparameters.png"):
        assert (tmp_path / "b" / name).is_file(), name
    assert "member" in (tmp_path / "b" / "metrics.csv").read_text().splitlines()[0]


def test_space_round_trips_through_json():
    space = {
        "gamma": Uniform(0.9, 0.99),
        "learning_rate": LogUniform(1e-5, 1e-2),
        "vf_coef": [0.5, 1.0],
    }
    assert space_to_json(space_from_json(space_to_json(space), "x")) == space_to_json(space)
    with pytest.raises(ValueError, match="space"):
        space_from_json({"gamma": {"log": ["a", 1]}}, "config.json")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"population": 1}, "population"),
        ({"population": True}, "population"),
        ({"interval": 0}, "interval"),
        ({"interval": 11}, "interval"),
        ({"fraction": 0.75}, "fraction"),
        ({"fraction": 0.1}, "replaces no member"),
        ({"perturb": ()}, "perturb"),
        ({"perturb": (0.8, -1.0)}, "perturb"),
        ({"resample_probability": 1.5}, "resample_probability"),
        ({"seed": 2**32}, "seed"),
        ({"space": {}}, "space"),
        ({"space": {"num_envs": [4, 8]}}, "num_envs"),
        ({"space": {"learning_rate": LogUniform(0.0, 1.0)}}, "LogUniform"),
        ({"space": {"gamma": Uniform(0.5, 1.5)}}, "gamma"),
        ({"lr_schedule": lambda step: 1e-3}, "lr_schedule"),
    ],
)
def test_bad_arguments_are_refused_before_compiling(kwargs, needle):
    args = {"space": SPACE, "population": 4, "interval": 4, **kwargs}
    space, population = args.pop("space"), args.pop("population")
    with CompileCounter() as compiles, pytest.raises((ValueError, TypeError), match=needle):
        pbt(TINY_PBT, space, population, **args)
    assert compiles == []


def test_session_checkpoints_fall_on_intervals(tmp_path):
    with pytest.raises(ValueError, match="multiple of interval"):
        run_pbt_experiment(TINY_PBT, SPACE, 4, tmp_path / "x", interval=4, checkpoint_every=3)
    assert not (tmp_path / "x").exists()


def test_pbt_refuses_stop_at_return():
    from ppo_jax import LogUniform, PPOConfig, pbt

    config = PPOConfig(eval_every=1, stop_at_return=10.0)
    with pytest.raises(ValueError, match="stop_at_return"):
        pbt(config, {"learning_rate": LogUniform(1e-4, 1e-2)}, 4, fraction=0.25)


@pytest.mark.heavy  # a whole PBT program of a composite-action environment
def test_a_population_trains_composite_bounded_actions_and_pytree_observations(tmp_path):
    """A dict action (Discrete + Beta-scaled Box) and, separately, dict observations with
    statistics per leaf: PBT's exploit copies every leaf of the members' states, and the
    session's folder loads back with the tree of statistics."""
    hybrid = PPOConfig(
        env_name="examples.spaces:HybridAction",
        continuous_distribution="beta",
        num_envs=8,
        num_steps=16,
        total_timesteps=8 * 16 * 8,
        hidden_sizes=(8,),
    )
    result = pbt(hybrid, {"learning_rate": LogUniform(1e-4, 1e-2)}, 4, interval=2, fraction=0.5)
    assert np.asarray(result.metrics["episode_return"]).shape[:2] == (4, 8)
    image = hybrid.replace(env_name="examples.spaces:ImageAndVector", normalize_observations=True)
    run_pbt_experiment(
        image, {"learning_rate": LogUniform(1e-4, 1e-2)}, 4, tmp_path / "p", interval=2,
        fraction=0.5,
    )  # fmt: skip
    loaded = load_run(tmp_path / "p", trust_env_module=True)
    assert loaded.obs_norm["image"].mean.shape == (4, 6, 6, 1)
    assert loaded.obs_norm["vector"].mean.shape == (4, 2)
