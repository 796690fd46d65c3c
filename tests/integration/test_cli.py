"""The command line: files written, tables printed, errors named (exit 2, one line, nothing
written), nothing overwritten, and every command a face of the library."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from cli_helpers import TINY, exit_code

from ppo_jax import get_config, load_run, run_experiment
from ppo_jax.cli import main
from ppo_jax.core.config import config_field_names, field_docs

TINY_CONFIG = get_config(
    "CartPole-v1", num_envs=4, num_steps=8, total_timesteps=96, num_minibatches=2,
    update_epochs=1, hidden_sizes=(8,),
)  # fmt: skip
"""What ``train *TINY`` trains: without ``--env``, the tuned CartPole-v1 config with TINY's
fields."""


@pytest.mark.parametrize(
    "shard",
    [
        pytest.param([], id="default"),
        pytest.param(["--shard-seeds"], id="sharded", marks=pytest.mark.heavy),
        pytest.param(["--split-envs"], id="split-envs", marks=pytest.mark.heavy),
    ],
)
def test_train_writes_files_and_prints_table(tmp_path, capsys, shard):
    out = tmp_path / "run"
    assert (
        main(["train", "--seeds", "0,2", "--out", str(out), "--progress", "lines", *TINY, *shard])
        == 0
    )
    printed = capsys.readouterr().out
    assert "final return" in printed and "env-steps/s" in printed and "compile" in printed
    assert "update     3/3" in printed
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 2 * 3
    assert {r["seed"] for r in rows} == {"0", "2"}
    results = json.loads((out / "results.json").read_text())
    assert [r["seed"] for r in results["runs"]] == [0, 2]
    assert results["config"]["num_envs"] == 4
    assert len(results["metrics"]["episode_return"]) == 2
    assert json.loads((out / "config.json").read_text())["config"]["hidden_sizes"] == [8]


def test_the_cli_is_a_face_of_run_experiment(tmp_path):
    """The same seeds and config give the same parameters either way."""
    assert main(["train", "--quiet", "--seeds", "0,2", "--out", str(tmp_path / "cli"), *TINY]) == 0
    lib = run_experiment(TINY_CONFIG, [0, 2], tmp_path / "lib")
    cli = load_run(tmp_path / "cli")
    assert cli.config == lib.config == TINY_CONFIG
    for a, b in zip(jax.tree.leaves(cli.params), jax.tree.leaves(lib.params), strict=True):
        np.testing.assert_array_equal(a, b)


def test_quiet_prints_only_the_table(tmp_path, capsys):
    assert main(["train", "--quiet", "--seeds", "0,2", "--out", str(tmp_path / "q"), *TINY]) == 0
    printed = capsys.readouterr().out
    assert not any(line.startswith(("  update ", "  progress:")) for line in printed.splitlines())
    assert "final return" in printed


def test_refuses_non_empty_output_folder(tmp_path, capsys):
    keep = tmp_path / "results.json"
    keep.write_text("precious")
    assert main(["train", "--out", str(tmp_path), *TINY]) == 2
    assert "not empty" in capsys.readouterr().err
    assert keep.read_text() == "precious"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--num-envs", "0"], "num_envs"),
        (["--gamma", "1.5"], "gamma"),
        (["--num-minibatches", "3"], "num_minibatches"),
        (["--env", "NoSuchEnv-v0"], "env_name"),
        (["--env", "no_such_module_q:Env"], "cannot import module"),
        (["--torso", "cnn"], "torso='cnn'"),
        (["--log-std-init", "9"], "log_std_init"),
        (["--cnn-channels", "16,0"], "cnn_channels"),
        (["--split-envs", "--num-envs", "3", "--num-minibatches", "1"], "multiple of 2"),
        (["--split-envs", "--shard-seeds"], "exclusive"),
        (["--seeds", "4294967296"], "seeds"),
        (["--seeds", "0,0"], "more than once"),
        (["--seeds", "4294967296,1"], "seeds"),
        (["--update-epochs", "1e29"], "update-epochs"),
        (["--total-timesteps", "1e30"], "total-timesteps"),
        (["--hidden-sizes", "100000000"], "hidden-sizes"),
        (["--hidden-sizes", "60000,60000,60000,60000"], "GiB"),
        (["--cnn-kernel", "1000000000"], "cnn-kernel"),
        (["--stop-after", "0"], "stop-after"),
        (["--stop-after", "-2"], "stop-after"),
        (["--checkpoint-every", "99999999999"], "checkpoint-every"),
        (["--learning-rat", "0.1"], "unrecognized arguments: --learning-rat"),
        (["--learning-rate", "1e-50"], "float32"),
        (["--env", "MNISTBandit-bsuite"], "MNISTBandit-bsuite"),
        (["--tensorboard", "/dev/null/tb"], "tensorboard"),
    ],
)
def test_bad_values_exit_2_naming_the_field(tmp_path, capsys, flags, needle):
    out = tmp_path / "never"
    assert exit_code(["train", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert needle.replace("-", "_") in err.replace("-", "_"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_every_config_field_has_a_flag_with_help():
    docs = field_docs()
    assert set(docs) == set(config_field_names())
    help_text = subprocess.run(
        [sys.executable, "-m", "ppo_jax", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in config_field_names():
        flag = "--env-kwarg" if name == "env_kwargs" else "--" + name.replace("_", "-")
        assert flag in help_text, flag
    assert "Parallel environments per training run." in help_text


def test_optional_fields_take_none(tmp_path):
    from ppo_jax.cli.main import build_parser, resolve_config

    args = build_parser().parse_args(["train", "--vf-clip-eps", "none", "--recurrent", "gru"])
    config, _ = resolve_config(args)
    assert config.vf_clip_eps is None and config.recurrent == "gru"
    args = build_parser().parse_args(["train", "--recurrent", "none", "--vf-clip-eps", "0.3"])
    config, _ = resolve_config(args)
    assert config.recurrent is None and config.vf_clip_eps == 0.3


def test_config_file_with_overrides_and_seed_lists(tmp_path, capsys):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        "num_envs = 4\nnum_steps = 8\ntotal_timesteps = 96\nnum_minibatches = 2\n"
        "update_epochs = 1\nhidden_sizes = [8]\nlearning_rate = 0.01\nseeds = [0, 3]\n"
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                str(cfg),
                "--learning-rate",
                "0.002",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["learning_rate"] == 0.002  # the flag wins
    assert saved["config"]["hidden_sizes"] == [8]
    assert saved["seeds"] == [0, 3]
    for content, needle in (
        ("num_envz = 4\n", "num_envz"),
        ("num_envs = [\n", "invalid TOML"),
        ("seeds = 4294967296\n", "seeds"),
        ('seeds = "a:b"\n', "seeds"),
        ("seeds = [1, 1]\n", "more than once"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(content)
        capsys.readouterr()
        assert main(["train", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "x").exists()


def test_plot_and_eval_commands(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--quiet", *TINY, "--seeds", "2", "--out", str(out)]) == 0
    for png in ("learning_curves.png", "diagnostics.png"):
        (out / png).unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "diagnostics.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "3"]) == 0
    printed = capsys.readouterr().out
    # The header names the checkpoint evaluated; per seed the update of its parameters; then
    # the IQM over seeds, stating n and the method (2 seeds: no interval, and why).
    assert "the newest checkpoint (" in printed and "ckpt-00000003.msgpack" in printed
    assert "mean return" in printed and printed.count("update 3/3") == 2
    assert "over seeds: IQM of the seeds' mean returns" in printed and "(n=2: too few" in printed
    evals = json.loads((out / "eval.json").read_text())
    assert [len(r["returns"]) for r in evals["runs"]] == [3, 3]
    assert evals["updates"] == [3, 3] and evals["summary"]["n"] == 2
    assert evals["summary"]["reliable"] is False and evals["parameters"].endswith(".msgpack")
    # A second eval never overwrites the first: eval-2.json; --out chooses, never overwrites.
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    assert json.loads((out / "eval-2.json").read_text())["runs"][0]["returns"] != []
    assert len(json.loads((out / "eval.json").read_text())["runs"][0]["returns"]) == 3
    assert main(["eval", str(out), "--episodes", "1", "--out", str(tmp_path / "e.json")]) == 0
    capsys.readouterr()
    assert exit_code(["eval", str(out), "--out", str(tmp_path / "e.json")]) == 2
    assert "--out" in capsys.readouterr().err and (tmp_path / "e.json").is_file()
    assert exit_code(["plot", str(tmp_path / "nothing")]) == 2
    assert exit_code(["eval", str(out), "--episodes", "0"]) == 2
    assert exit_code(["eval", str(out), "--eval-seed", str(2**40)]) == 2
    pytest.importorskip("pygame")
    gif = tmp_path / "episode.gif"
    assert (
        main(["eval", str(out), "--episodes", "1", "--gif", str(gif), "--gif-max-steps", "20"]) == 0
    )
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_sweep_command_ranks_settings_and_writes_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--grid", "learning_rate=1e-3,3e-3", "--grid", "clip_eps=0.2"]
    assert main([*argv, "--seeds", "2", "--out", str(out), "--progress", "lines", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "2 setting(s) x 2 seed(s) = 4 runs" in printed
    assert "rank" in printed and "final return" in printed and "IQM" in printed
    assert f"wrote {out / 'sweep.csv'}, {out / 'metrics.csv'}" in printed
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [int(r["rank"]) for r in rows] == [1, 2]
    iqms = [float(r["iqm"]) for r in rows]
    assert iqms == sorted(iqms, reverse=True)
    assert {"iqm", "iqm_ci_low", "iqm_ci_high"} <= set(rows[0])
    assert {float(r["learning_rate"]) for r in rows} == {1e-3, 3e-3}
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == 2 * 2 * 3
    png = (out / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    results = json.loads((out / "results.json").read_text())
    assert results["num_devices"] == 2
    assert len(results["final_return"]) == 2
    swept = load_run(out)
    assert swept.kind == "sweep" and swept.metrics["episode_return"].shape == (4, 3)
    assert swept.settings[2] == {"learning_rate": 3e-3, "clip_eps": 0.2}
    assert main(["plot", str(out)]) == 0
    # compare: one row per setting (spelled out) beside a train folder, each with its n, and
    # P(improvement) over the baseline chosen by a part of its label.
    single = tmp_path / "single"
    assert main(["train", "--quiet", *TINY, "--seeds", "2", "--out", str(single)]) == 0
    capsys.readouterr()
    argv = ["compare", str(out), str(single), "--baseline", "learning_rate=0.003"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert "sweep: learning_rate=0.001 clip_eps=0.2" in lines[2]
    assert "sweep: learning_rate=0.003 clip_eps=0.2" in lines[3] and "(baseline)" in lines[3]
    assert lines[4].split()[1:3] == ["single", "2"]  # two seeds: n = 2
    assert "0.50 [" not in lines[3] and "(no CI)" in lines[3]  # 2 vs 2 runs: too few for a CI
    assert "n=2 runs; no CI below n=8" in printed and "Newcombe score interval" in printed
    assert exit_code(["compare", str(out), "--baseline", "learning_rate"]) == 2
    assert "matches 2 of the rows" in capsys.readouterr().err
    assert exit_code(["compare", str(out), "--baseline", "9"]) == 2
    # The same rows from Python, with the intervals' n and method.
    from ppo_jax import compare_runs

    rows = compare_runs([out, single], baseline=1)
    assert [r["rows"] for r in rows] == [2, 2, 2] and rows[1]["baseline"] == rows[1]["run"]
    assert rows[2]["improvement"].sizes == (2, 2) and not rows[2]["iqm_interval"].reliable


def test_sweep_random_search_and_forced_chunks(tmp_path, capsys):
    out = tmp_path / "rs"
    argv = ["sweep", "--grid", "learning_rate=log:1e-4:1e-2", "--random", "3"]
    assert main([*argv, "--seeds", "2", "--chunk-size", "2", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "3 chunks of 2 runs" in printed
    assert len(list(csv.DictReader((out / "sweep.csv").open()))) == 3


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--grid", "num_envs=4,8"], "num_envs cannot be swept"),
        (["--grid", "learning_rate=-1"], "learning_rate"),
        (["--grid", "learning_rate=log:1e-4:1e-2"], "--random"),
        (["--grid", "learning_rate=1e-3", "--grid", "learning_rate=2e-3"], "more than once"),
        (
            ["--grid", "learning_rate=1e-3", "--num-processes", "2", "--process-id", "5"],
            "--coordinator",
        ),
        (["--grid", "learning_rate=1e-3", "--num-processes", "2"], "--coordinator"),
        ([], "at least one --grid"),
    ],
)
def test_sweep_bad_requests_exit_2_before_writing(tmp_path, capsys, argv, needle):
    out = tmp_path / "never"
    assert main(["sweep", *argv, "--out", str(out), *TINY]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_a_custom_environment_through_the_command_line_and_python(tmp_path, capsys):
    """``--env module:attribute``: trained, paused, resumed and evaluated by the CLI (the
    folder's environment trusted with ``--trust-env-module``); the run folder records it, so
    load_run, evaluate and export_policy work from Python."""
    import jax

    from ppo_jax import evaluate, export_policy

    out = tmp_path / "custom"
    common = ["--env", "probe_envs:make_constant", "--env-kwarg", "max_steps=4", *TINY[:-2]]
    args = [*common, "--hidden-sizes", "8", "--total-timesteps", "320", "--quiet"]
    assert exit_code(["train", *args, "--out", str(out), "--stop-after", "4"]) == 0
    hint = f"continue with: ppo-jax train --resume {out} --trust-env-module"
    assert hint in capsys.readouterr().err
    assert exit_code(["train", "--resume", str(out), "--quiet"]) == 2  # a folder is data
    assert "--trust-env-module" in capsys.readouterr().err
    assert exit_code(["train", "--resume", str(out), "--quiet", "--trust-env-module"]) == 0
    capsys.readouterr()
    assert exit_code(["eval", str(out), "--episodes", "3", "--trust-env-module"]) == 0
    assert "probe_envs:make_constant" in capsys.readouterr().out
    run = load_run(out, trust_env_module=True)
    assert run.completed and run.config.env_name == "probe_envs:make_constant"
    returns = evaluate(run.config, run, jax.random.PRNGKey(0), 3).returns
    assert returns.shape == (1, 3) and float(returns.mean()) == 4.0  # reward 1 for 4 steps
    act = export_policy(run.config, jax.tree.map(lambda x: x[0], run.params))
    assert act(np.ones(1, np.float32)) in (0, 1)
    assert exit_code(["train", "--env", "probe_envs:NOT_AN_ENV", "--out", str(tmp_path / "n")]) == 2
    assert "not a gymnax Environment" in capsys.readouterr().err


@pytest.mark.heavy  # 35 s; the quick tier trains every suite in tests/integration/test_all_envs.py
def test_a_suite_environment_through_the_command_line_and_python(tmp_path, capsys):
    """``--env navix:...`` (an optional suite): trained, paused, resumed bit-identically,
    evaluated, swept and exported like a gymnax id; a missing extra exits 2 naming pip."""
    pytest.importorskip("navix")
    from ppo_jax import evaluate, export_policy
    from ppo_jax.io import checkpoint

    env = ["--env", "navix:Navix-Empty-5x5-v0", "--env-kwarg", "max_steps=10", "--torso", "mlp"]
    env += ["--normalize-observations", "false"]
    args = [*env, *TINY, "--seeds", "2", "--quiet", "--checkpoint-every", "1"]
    whole, paused = tmp_path / "whole", tmp_path / "paused"
    assert exit_code(["train", *args, "--out", str(whole)]) == 0
    assert exit_code(["train", *args, "--out", str(paused), "--stop-after", "2"]) == 0
    assert exit_code(["train", "--resume", str(paused), "--quiet"]) == 0
    assert checkpoint.latest(whole).read_bytes() == checkpoint.latest(paused).read_bytes()
    capsys.readouterr()
    assert exit_code(["eval", str(paused), "--episodes", "2"]) == 0
    assert "navix:Navix-Empty-5x5-v0" in capsys.readouterr().out
    run = load_run(paused)
    assert run.config.env_name == "navix:Navix-Empty-5x5-v0"
    returns = np.asarray(evaluate(run.config, run, jax.random.PRNGKey(0), 2).returns)
    assert returns.shape == (2, 2) and np.all((returns >= 0) & (returns <= 1))
    act = export_policy(run.config, jax.tree.map(lambda x: x[0], run.params))
    assert 0 <= int(act(np.zeros((5, 5, 3), np.float32))) < 7
    swept = tmp_path / "sweep"
    grid = ["--grid", "learning_rate=1e-3,3e-3", "--seeds", "1", *env, *TINY, "--quiet"]
    assert exit_code(["sweep", *grid, "--out", str(swept)]) == 0
    assert load_run(swept).metrics["episode_return"].shape == (2, 3)
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        from ppo_jax.core import suites

        patch.setattr(suites, "SUITE_MODULES", {**suites.SUITE_MODULES, "brax": "no_such_mod"})
        out = tmp_path / "brax"
        assert exit_code(["train", "--env", "brax:ant", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "ppo-jax[brax]"' in err[0] and not out.exists()


@pytest.mark.heavy
def test_runs_without_finished_episodes_print_no_runtime_warnings(tmp_path, capsys):
    """Pendulum episodes last 200 steps: in 3 updates of 8 steps none ends, so every final
    return is NaN; the table says n/a and no NumPy warning is printed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        argv = [
            "train",
            "--env",
            "Pendulum-v1",
            *TINY,
            "--seeds",
            "2",
            "--out",
            str(tmp_path / "p"),
        ]
        assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mean final return n/a" in printed and "nan" not in printed
    assert "          n/a" in printed  # each seed's final return


@pytest.mark.heavy
def test_pbt_command_writes_its_folder_and_compares(tmp_path, capsys):
    out = tmp_path / "pbt"
    argv = ["pbt", "--space", "learning_rate=log:1e-4:1e-2", "--space", "ent_coef=0,0.01"]
    flags = ["--population", "4", "--interval", "1", *TINY]
    assert main([*argv, *flags, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "member" in printed and "copied" in printed and "IQM" in printed
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 4 * 3 and {"member", "hp/learning_rate", "pbt/parent"} <= set(rows[0])
    assert (out / "hyperparameters.png").read_bytes()[:4] == b"\x89PNG"
    run = load_run(out)
    assert run.kind == "pbt" and run.completed and run.metrics["episode_return"].shape == (4, 3)
    (out / "hyperparameters.png").unlink()
    assert main(["plot", str(out)]) == 0 and (out / "hyperparameters.png").is_file()
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    capsys.readouterr()
    # compare: folders of one environment (here the PBT folder twice), performance profiles
    plot = tmp_path / "profiles.png"
    assert main(["compare", str(out), str(out), "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "IQM [95% CI]" in printed and "P(run > baseline)" in printed and "pbt'" in printed
    assert plot.read_bytes()[:4] == b"\x89PNG"
    other = tmp_path / "acrobot"
    assert main(["train", "--env", "Acrobot-v1", "--out", str(other), "--quiet", *TINY]) == 0
    assert exit_code(["compare", str(out), str(other)]) == 2
    assert "one environment" in capsys.readouterr().err


@pytest.mark.heavy
def test_pbt_command_pauses_and_resumes(tmp_path, capsys):
    out = tmp_path / "pbt"
    argv = ["pbt", "--space", "learning_rate=log:1e-4:1e-2", "--population", "4"]
    flags = ["--interval", "1", "--checkpoint-every", "1", *TINY]
    assert main([*argv, *flags, "--stop-after", "2", "--out", str(out), "--quiet"]) == 0
    assert "paused after update 2" in capsys.readouterr().err
    assert exit_code(["pbt", "--resume", str(out), "--space", "gamma=0.9,0.99"]) == 2
    assert "--resume continues" in capsys.readouterr().err
    assert main(["pbt", "--resume", str(out), "--quiet"]) == 0
    assert load_run(out).completed


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ([], "--space"),
        (["--space", "num_envs=4,8"], "num_envs"),
        (["--space", "learning_rate=log:0:1"], "LogUniform"),
        (["--space", "gamma=0.9,0.99", "--fraction", "0.9"], "fraction"),
        (["--space", "gamma=0.9,0.99", "--interval", "4", "--checkpoint-every", "3"], "interval"),
        (["--space", "gamma=0.9,0.99", "--perturb", "0.8,-2"], "perturb"),
    ],
)
def test_pbt_command_refuses_bad_input_before_writing(tmp_path, capsys, flags, needle):
    out = tmp_path / "never"
    eight_updates = [*TINY, "--total-timesteps", "256", "--interval", "2"]
    assert exit_code(["pbt", "--out", str(out), *eight_updates, *flags]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.heavy  # 24 s: three training runs and a PBT run
def test_evaluation_during_training_from_the_command_line(tmp_path, capsys):
    """--eval-every: the progress line shows evaluations, the table the best evaluation and
    the absolute metric; --stop-at-return ends the call early (exit 0); eval --best plays the
    best parameters; --rank-by eval_return ranks PBT members by their evaluations."""
    out = tmp_path / "run"
    argv = ["train", "--seeds", "2", "--out", str(out), "--progress", "lines", *TINY]
    assert exit_code([*argv, "--eval-every", "1", "--stop-at-return", "-1"]) == 0
    printed = capsys.readouterr().out
    assert "  eval " in printed and "absolute metric (best parameters re-evaluated)" in printed
    assert "finished early: every run stopped at an evaluation reaching stop_at_return=-1.0" in (
        printed
    )
    assert "stopped at stop_at_return=-1.0" in printed and "column): 2 of 2" in printed
    assert exit_code(["eval", str(out), "--best", "--episodes", "2"]) == 0
    printed = capsys.readouterr().out
    assert "each seed's best evaluated parameters" in printed and "best.msgpack" in printed
    assert "update 1/3" in printed  # the first evaluation (update 1) reached -1 and stopped
    assert json.loads((out / "eval.json").read_text())["best"] is True
    plain = tmp_path / "plain"
    assert exit_code(["train", "--quiet", "--out", str(plain), *TINY]) == 0
    assert exit_code(["eval", str(plain), "--best"]) == 2
    assert "eval_every > 0" in capsys.readouterr().err
    pbt = ["pbt", "--population", "2", "--fraction", "0.5", "--interval", "1", *TINY]
    pbt += ["--space", "learning_rate=0.001,0.01"]
    assert exit_code([*pbt, "--rank-by", "eval_return", "--out", str(tmp_path / "p")]) == 2
    assert "eval_every" in capsys.readouterr().err
    args = [*pbt, "--rank-by", "eval_return", "--eval-every", "1", "--quiet"]
    assert exit_code([*args, "--out", str(tmp_path / "p")]) == 0
    assert "eval_return" in load_run(tmp_path / "p").metrics
