"""The throughput harness (``python -m benchmarks.throughput``) and its peer comparison; every
script times ppo_jax's side through ``ppo_jax.benchmark`` (tested in
``tests/unit/test_benchmark.py``) and keeps only the peer's side.

Speed is never asserted here (the harness measures it); these tests check that the harness
runs end to end, reports what it claims, refuses bad input before compiling, and that the
peers' adapters and workload mapping are right. The rejax and Stable-Baselines3 runs need the
optional ``compare`` extra and are skipped without it.
"""

from __future__ import annotations

import json
import shlex
import sys

import gymnax
import jax
import numpy as np
import pytest

from benchmarks import compare, gpu_check, peers, suites, throughput
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
    assert 0 < ours["fraction_of_ceiling"] < 1  # model FLOPs (the peers' rows too)
    assert 0 < ours["xla_fraction_of_ceiling"] < 1  # XLA's count, as ppo-jax bench reports
    assert ours["xla_flops_per_env_step"] > ours["flops_per_env_step"]  # all of the work
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


@pytest.mark.heavy
def test_gpu_check_quick_writes_the_bench_files_and_breakout(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--quick`` on the CPU: the quick preset's bench files (on one device) and Breakout's
    cell, all timed by ``ppo_jax.benchmark``."""
    assert gpu_check.main(["--out", str(tmp_path), "--quick", "--repeats", "1"]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(report) == {"bench", "breakout", "wall_s"}
    assert report["bench"] == json.loads((tmp_path / "bench.json").read_text())
    assert (tmp_path / "bench_scaling.png").exists() and (tmp_path / "bench.txt").exists()
    bench = report["bench"]
    assert bench["preset"] == "quick" and bench["layout"] == "one" and bench["repeats"] == 1
    assert bench["device_kind"] == jax.devices()[0].device_kind
    for cell in bench["cells"]:
        assert cell["status"] == "ok" and cell["devices"] == 1 and len(cell["run_s"]) == 1
        assert cell["env_steps_per_s"] == pytest.approx(cell["env_steps"] / cell["run_s"][0])
    breakout = report["breakout"]
    assert breakout["env_steps"] == 4 * 8 * 3 and breakout["compile_s"] > 0
    assert breakout["run_s"] == [breakout["first_run_s"]]  # the one run is the figure
    out = capsys.readouterr().out
    assert "Breakout-MinAtar: 96 env-steps" in out and "| seeds | num_envs |" in out


def test_gpu_check_refuses_bad_arguments(tmp_path, capsys) -> None:
    for argv, message in (
        (["--budget-s", "0"], "--budget-s must be > 0"),
        (["--repeats", "-1"], "--repeats must be >= 0"),
    ):
        with pytest.raises(SystemExit):
            gpu_check.main(["--out", str(tmp_path / "x"), *argv])
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.heavy
def test_peers_alternate_fresh_processes_and_compare(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--quick``: ppo_jax, rejax (when installed) and an external command, one process each;
    the summary's ratios are ppo_jax's medians over the peer's."""
    line = json.dumps({"env_steps": 96, "run_s": 0.5, "compile_s": 2.0, "solve_s": 3.0})
    fake = f"{shlex.quote(sys.executable)} -c {shlex.quote(f'print({line!r})')}"
    out = tmp_path / "peers.json"
    argv = ["--quick", "--seeds", "1", "--alternations", "1", "--external", f"fake={fake}"]
    assert peers.main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    has_rejax = compare.installed("rejax")
    names = [r["library"] for r in report["processes"]]
    assert names == (["ppo_jax", "rejax", "fake"] if has_rejax else ["ppo_jax", "fake"])
    assert report["failures"] == [] and report["workload"] == peers.QUICK_WORKLOAD | {
        "hidden_sizes": [64, 64]
    }
    ours = report["processes"][0]
    assert (ours["seeds"], ours["env_steps"]) == (1, 96) and ours["devices"] >= 1
    assert 0 < ours["compile_s"] < ours["first_result_s"] < ours["process_s"]
    assert ours["env_steps_per_s"] == pytest.approx(96 / ours["run_s"])
    summary = {e["library"]: e for e in report["summary"]}
    assert summary["fake"]["env_steps_per_s"] == pytest.approx(192.0)
    ratios = summary["fake"]["ratios"]
    assert ratios["env_steps_per_s"] == pytest.approx(ours["env_steps_per_s"] / 192.0)
    assert ratios["compile_s"] == pytest.approx(ours["compile_s"] / 2.0)
    if not has_rejax:
        assert report["skipped"] == [
            {"library": "rejax", "reason": "not installed (pip install rejax)"}
        ]
    table = capsys.readouterr().out
    assert "| 1 | fake | 1 | 192 | 2.00 |" in table


def test_peers_refuse_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["--external", "nocommand"], "--external: expected NAME=CMD"),
        (["--external", "rejax=true"], "--external: name 'rejax' is taken"),
        (["--libraries", "sb3"], "--libraries: 'sb3' is not one of"),
        (["--alternations", "0"], "--alternations must be >= 1"),
        (["--set", "num_envs=-3"], "--set: PPOConfig.num_envs must be in"),
        (["--set", "nope=3"], "--set: unknown PPOConfig field(s) ['nope']"),
        (["--set", "novalue"], "expected NAME=VALUE"),
    ):
        with pytest.raises(SystemExit):
            peers.main(argv)
        assert message in capsys.readouterr().err


@pytest.mark.heavy  # compiles a program per suite
def test_suites_harness_reports_raw_stepping_beside_training(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "suites.json"
    argv = ["--suites", "gymnax", "--num-envs", "4", "--num-steps", "8", "--updates", "1"]
    assert suites.main([*argv, "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    (row,) = result["rows"]
    assert row["env_name"] == "CartPole-v1" and row["env_steps"] == 32
    assert row["ppo_steps_per_s"] > 0 and row["env_steps_per_s"] > 0
    assert row["env_share"] == pytest.approx(row["ppo_steps_per_s"] / row["env_steps_per_s"])
    assert "CartPole-v1" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        suites.main(["--suites", "gym"])
    with pytest.raises(SystemExit):
        suites.main(["--env-kwarg", "novalue"])


@pytest.mark.heavy  # lowers a whole training program
def test_hlo_digest_is_stable_and_refuses_unknown_configs(capsys) -> None:
    from benchmarks import hlo_digest

    assert hlo_digest.main(["--configs", "cartpole-default"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert hlo_digest.main(["--configs", "cartpole-default"]) == 0
    again = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first == again and len(first["sha256"]) == 64 and first["chars"] > 1000
    with pytest.raises(SystemExit):
        hlo_digest.main(["--configs", "nope"])


def test_envpool_peers_times_cleanrl_at_steady_state_and_skips_without_its_script(
    monkeypatch, capsys, tmp_path
) -> None:
    from benchmarks import envpool_peers

    # Arrival times of CleanRL's "global_step=" lines: the first two iterations compile.
    stamps = [(100.0, 1024), (130.0, 2048), (134.0, 3072), (138.0, 4096)]
    per_s, seconds, steps = envpool_peers.steady_rate(stamps)
    assert (seconds, steps) == (8.0, 2048) and per_s == 256.0
    assert envpool_peers.steady_rate(stamps[:2]) is None
    rows = [
        {"library": "ppo_jax", "env_steps_per_s": 300.0, "startup_s": 10.0, "process_s": 50.0},
        {"library": "ppo_jax", "env_steps_per_s": 320.0, "startup_s": 12.0, "process_s": 52.0},
        {"library": "cleanrl", "env_steps_per_s": 150.0, "startup_s": 400.0, "process_s": 480.0},
    ]
    summary = envpool_peers.summarise(rows)
    assert summary["ppo_jax"]["env_steps_per_s"] == 310.0 and summary["ppo_jax"]["processes"] == 2
    assert summary["ratios"]["env_steps_per_s"] == pytest.approx(310.0 / 150.0)
    assert "| ppo_jax / CleanRL | | 2.07x |" in envpool_peers.markdown(summary, "Breakout-v5")
    argv = envpool_peers.cleanrl_argv("py", "s.py", "Pong-v5", 5)
    assert argv == ["py", "s.py", "--env-id", "Pong-v5", "--total-timesteps", "5120", "--seed", "1"]
    # No script: CleanRL is skipped with a message saying how to get it; ppo_jax still runs.
    fake = {"library": "ppo_jax", "env_steps_per_s": 1.0, "startup_s": 1.0, "process_s": 1.0}
    monkeypatch.setattr(envpool_peers, "run_ppo_jax", lambda env, updates: (fake, ""))
    monkeypatch.delenv(envpool_peers.SCRIPT_VARIABLE, raising=False)
    report = tmp_path / "r.json"
    args = ["--cleanrl-script", str(tmp_path / "missing.py"), "--alternations", "1"]
    assert envpool_peers.main([*args, "--json", str(report)]) == 0
    assert "CleanRL skipped: no script" in capsys.readouterr().err
    assert json.loads(report.read_text())["summary"]["ppo_jax"]["processes"] == 1
