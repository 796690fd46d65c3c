"""The throughput harness (``python -m benchmarks.throughput``) and its peer comparison.

Speed is never asserted here (the harness measures it); these tests check that the harness
runs end to end, reports what it claims, refuses bad input before compiling, and that the
peers' adapters and workload mapping are right. The rejax and Stable-Baselines3 runs need the
optional ``compare`` extra and are skipped without it.
"""

from __future__ import annotations

import json

import gymnax
import jax
import numpy as np
import pytest

from benchmarks import compare, throughput
from ppo_jax import PPOConfig


def test_five_tuple_env_ends_episodes_at_termination_and_truncation() -> None:
    env, params = gymnax.make("CartPole-v1")
    params = params.replace(max_steps_in_episode=3)
    wrapped = compare.FiveTupleEnv(env)
    assert wrapped.num_actions == env.num_actions  # everything else is the wrapped env's
    key = jax.random.PRNGKey(0)
    obs, state = wrapped.reset(key, params)
    ends = {"terminated": 0, "truncated": 0}
    for t in range(40):
        step_key = jax.random.fold_in(key, t)
        raw = env.step(step_key, state, 1, params)  # always push right: the pole falls
        obs, new_state, reward, done, _ = wrapped.step(step_key, state, 1, params)
        np.testing.assert_array_equal(obs, raw[0])
        assert float(reward) == float(raw[2])
        assert bool(done) == bool(raw[3] | raw[4])
        ends["terminated"] += int(raw[3])
        ends["truncated"] += int(raw[4] & ~raw[3])
        state = new_state
    assert ends["truncated"] > 0  # both kinds of episode end were seen


def test_peers_are_parsed_and_unknown_ones_refused() -> None:
    assert compare.parse_peers("rejax,sb3") == ["rejax", "sb3"]
    assert compare.parse_peers("") == []
    with pytest.raises(ValueError, match=r"--compare: 'torchrl' is not one of rejax, sb3"):
        compare.parse_peers("rejax,torchrl")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--compare", "cleanrl"], "--compare: 'cleanrl' is not one of rejax, sb3"),
        (["--sb3-timesteps", "0"], "--sb3-timesteps must be >= 1"),
        (["--layout", "gpu"], "--layout: 'gpu' is not one of"),
        (["--total-timesteps", "100"], "PPOConfig.total_timesteps=100 must be >="),
    ],
)
def test_harness_refuses_bad_arguments_before_compiling(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        throughput.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_sb3_comparison_refuses_environments_gymnasium_lacks() -> None:
    with pytest.raises(ValueError, match="gymnasium has no environment 'SpaceInvaders-MinAtar'"):
        compare.gymnasium_id("SpaceInvaders-MinAtar")
    assert compare.gymnasium_id("CartPole-v1") == "CartPole-v1"


@pytest.mark.heavy
def test_harness_runs_end_to_end_and_writes_json(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(compare, "installed", lambda peer: False)
    out = tmp_path / "bench.json"
    argv = ["--seeds", "1", "--num-envs", "8", "--total-timesteps", "1024", "--repeats", "1"]
    argv += ["--layout", "one", "--compare", "rejax,sb3", "--json", str(out)]
    assert throughput.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["header"]["matmul_peak_gflops"] > 0
    ours, rejax, sb3 = report["results"]
    assert ours["library"] == "ppo_jax"
    assert (ours["num_envs"], ours["seeds"], ours["env_steps"]) == (8, 1, 1024)
    assert ours["compile_s"] > 0 and len(ours["run_s_all"]) == 1
    assert ours["env_steps_per_s"] == pytest.approx(1024 / ours["run_s_median"])
    assert 0 < ours["fraction_of_ceiling"] < 1
    assert ours["flops_per_env_step"] == throughput.flops_per_env_step(
        PPOConfig(num_envs=8, total_timesteps=1024)
    )
    assert ours["seeds_solved"] == 0 and ours["solve_s_all"] is None
    assert rejax == {
        "library": "rejax",
        "skipped": 'rejax is not installed (pip install -e ".[compare]")',
    }
    assert sb3["library"] == "sb3" and "stable_baselines3 is not installed" in sb3["skipped"]
    table = capsys.readouterr().out
    assert "ppo_jax        8      1" in table
    assert "rejax skipped: rejax is not installed" in table


def test_rejax_runs_our_workload(tiny_config: PPOConfig) -> None:
    pytest.importorskip("rejax")
    algo = compare.rejax_ppo(tiny_config)
    assert (algo.num_envs, algo.num_steps) == (4, 8)
    assert (algo.num_epochs, algo.num_minibatches) == (2, 2)
    assert algo.eval_freq == tiny_config.total_timesteps and algo.skip_initial_evaluation
    row = compare.bench_rejax(tiny_config, num_seeds=2, repeats=1)
    assert (row["library"], row["seeds"], row["env_steps"]) == ("rejax", 2, 2 * 96)
    assert row["compile_s"] > 0 and row["env_steps_per_s"] > 0
    assert len(row["final_return_mean"]) == 2
    assert all(1 <= r <= 500 for r in row["final_return_mean"])  # CartPole episode returns
    assert row["seeds_solved"] in (0, 1, 2)
    state = algo.init_state(jax.random.PRNGKey(0))
    shapes = {tuple(x.shape) for x in jax.tree.leaves(state.actor_ts.params)}
    assert {(4, 16), (16, 16), (16, 2)} <= shapes


def test_sb3_runs_our_workload(tiny_config: PPOConfig) -> None:
    pytest.importorskip("stable_baselines3")
    import torch

    model = compare.sb3_ppo(tiny_config)
    assert (model.n_envs, model.n_steps, model.batch_size) == (4, 8, 16)
    assert model.n_epochs == 2 and model.max_grad_norm == tiny_config.max_grad_norm
    assert model.lr_schedule(1.0) == pytest.approx(tiny_config.learning_rate)
    assert model.lr_schedule(0.5) == pytest.approx(tiny_config.learning_rate / 2)  # annealed
    linear = [m for m in model.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    assert [layer.out_features for layer in linear] == [16, 16]
    row = compare.bench_sb3(tiny_config)
    assert (row["library"], row["seeds"], row["env_steps"]) == ("sb3", 1, 96)
    assert row["compile_s"] is None and row["env_steps_per_s"] > 0
    assert 1 <= row["final_return_mean"][0] <= 500
