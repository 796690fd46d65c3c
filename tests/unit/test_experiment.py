"""ppo_jax.run.experiment, the one pipeline, from Python: run_experiment (and load_run) and its
run folder, bit-identical resume, refusals before anything is written, stop requests, the
non-finite stop, honest disk checks, clean errors when writing fails; and its pieces on their
own (counts, the identity a resume must match, the non-finite check, the resume command, the
evaluation state). Sweeps through the pipeline: test_sweep.py; PBT: test_pbt.py; the command
line: tests/integration/test_sessions.py."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv, NaNAfter

from ppo_jax import PPOConfig, load_run, run_experiment, train_seeds
from ppo_jax.core.config import INT32_MAX
from ppo_jax.core.spec import Problem
from ppo_jax.io import checkpoint, rundir
from ppo_jax.io.console import print_train_table
from ppo_jax.run.experiment import (
    EARLY_FINISH,
    NONFINITE_METRICS,
    all_stopped,
    check_config_equal,
    check_count,
    describe,
    evaluation_of,
    first_nonfinite,
    resume_command,
    run_identity,
)

SMALL = PPOConfig(
    num_envs=4, num_steps=8, total_timesteps=320, num_minibatches=2, update_epochs=1,
    hidden_sizes=(8,),
)  # fmt: skip


def test_a_run_folder_and_its_result(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_experiment(SMALL, [0, 3], out, checkpoint_every=2)
    assert result.completed and result.status == "finished" and result.seeds == [0, 3]
    assert result.config == SMALL and result.out_dir == out
    assert result.metrics["value_loss"].shape == (2, 10)
    assert jax.tree.leaves(result.params)[0].shape[0] == 2
    assert result.checkpoint == checkpoint.latest(out)
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.csv", "metrics.jsonl", "results.json", "checkpoints"} <= names
    assert {"learning_curves.png", "diagnostics.png"} <= names
    loaded = load_run(out)
    assert loaded.config == SMALL and loaded.seeds == [0, 3] and loaded.completed
    for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(result.params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        loaded.metrics["value_loss"], result.metrics["value_loss"], rtol=1e-6
    )
    pd = pytest.importorskip("pandas")
    frame = loaded.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 20
    # The same run in one call of train_seeds: the same numbers (float tolerance).
    direct = train_seeds(SMALL, [0, 3])
    np.testing.assert_allclose(
        direct.metrics["value_loss"], result.metrics["value_loss"], rtol=1e-4
    )


@pytest.mark.heavy
@pytest.mark.parametrize("cell", ["gru", "lstm", "lru"])
def test_a_recurrent_run_resumes_bit_for_bit_and_sweeps_like_train_seeds(
    tmp_path: Path, cell: str
) -> None:
    """The memory's state travels in the checkpoint: pausing and resuming equals one run;
    a sweep row of the recurrent config equals train_seeds of it."""
    import jax

    from ppo_jax import sweep, train_seeds

    config = SMALL.replace(recurrent=cell, recurrent_size=4, total_timesteps=SMALL.batch_size * 4)
    a, b = tmp_path / "a", tmp_path / "b"
    run_experiment(config, 2, a, checkpoint_every=2)
    run_experiment(config, 2, b, checkpoint_every=2, stop_after=2)
    done = run_experiment(None, None, b, resume=True)
    assert done.completed
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    swept = sweep(config, {"learning_rate": [config.learning_rate]}, 2)
    direct = train_seeds(config, 2)
    pairs = zip(jax.tree.leaves(swept.row(0).params), jax.tree.leaves(direct.params), strict=True)
    for x, y in pairs:
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    for x, y in zip(jax.tree.leaves(done.params), jax.tree.leaves(direct.params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_resume_from_python_is_bit_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    run_experiment(SMALL, 2, a, checkpoint_every=2)
    paused = run_experiment(SMALL, 2, b, checkpoint_every=2, stop_after=5)
    assert paused.status == "paused after update 6 (stop_after)" and not paused.completed
    assert load_run(b).status.startswith("paused") and not load_run(b).completed
    done = run_experiment(None, None, b, resume=True)
    assert done.completed
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    steps = [json.loads(line)["step"] for line in (b / "metrics.jsonl").open()]
    assert steps == sorted(set(steps)) and len(steps) == 10
    again = run_experiment(SMALL, 2, b, resume=True)  # finished: nothing to do
    assert again.completed and again.checkpoint == checkpoint.latest(b)
    # Killed after its last checkpoint, before its outputs: resuming writes them.
    for name in ("metrics.csv", "results.json", "learning_curves.png"):
        (b / name).unlink()
    lines: list[str] = []
    finished = run_experiment(None, None, b, resume=True, log=lines.append)
    assert finished.completed and any("did not finish" in line for line in lines)
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    assert json.loads((b / "results.json").read_text())["updates_done"] == 10
    assert (b / "learning_curves.png").is_file()


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    """Same config, other seeds: resuming must not take the other run's state."""
    a, b = tmp_path / "a", tmp_path / "b"
    run_experiment(SMALL, [0, 1], a, checkpoint_every=2, stop_after=2)
    run_experiment(SMALL, [5, 6], b, checkpoint_every=2, stop_after=2)
    target = checkpoint.latest(a)
    target.write_bytes(checkpoint.latest(b).read_bytes())
    with pytest.raises(
        ValueError, match=r"belongs to another run: seeds: \[5, 6\] \(this run: \[0, 1\]\)"
    ):
        run_experiment(None, None, a, resume=True)
    with pytest.raises(ValueError, match="seeds"):
        run_experiment(SMALL, [9, 9], a, resume=True)
    with pytest.raises(ValueError, match="config differs"):
        run_experiment(SMALL.replace(num_steps=16, total_timesteps=640), None, a, resume=True)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"stop_after": 0}, "stop_after"),
        ({"stop_after": -3}, "stop_after"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"checkpoint_every": 2**40}, "checkpoint_every"),
        ({"checkpoint_every": 0, "stop_after": 3}, "needs checkpoint_every"),
        ({"progress": "fancy"}, "progress must be one of"),
        ({"wandb": ""}, "wandb"),
        ({"seeds": [2**32]}, "seeds"),
        ({"seeds": [1, 1]}, "duplicates"),
        ({"config": SMALL.replace(hidden_sizes=(65536, 65536, 65536))}, "GiB"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path, kwargs, needle) -> None:
    out = tmp_path / "never"
    args = {"config": SMALL, "seeds": [0], "out_dir": out, **kwargs}
    with pytest.raises((ValueError, TypeError), match=needle):
        run_experiment(**args)
    assert not out.exists()


def test_tensorboard_pointing_at_a_file_is_refused_first(tmp_path: Path) -> None:
    blocker = tmp_path / "tb"
    blocker.write_text("a file")
    with pytest.raises(ValueError, match="tensorboard"):
        run_experiment(SMALL, [0], tmp_path / "run", tensorboard=blocker)
    assert not (tmp_path / "run").exists()


def test_a_stop_request_pauses_with_a_checkpoint(tmp_path: Path) -> None:
    def interrupt(event) -> None:
        if event.update == 2:
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "run"
    result = run_experiment(SMALL, [0, 3], out, checkpoint_every=2, progress=interrupt)
    assert result.status == "interrupted (SIGINT)"
    assert result.checkpoint is not None and checkpoint.load(result.checkpoint).update == 2
    assert result.metrics["value_loss"].shape == (2, 2)
    resumed = run_experiment(None, None, out, resume=True)
    assert resumed.completed


def test_non_finite_values_stop_the_run_keeping_the_last_good_checkpoint(tmp_path: Path) -> None:
    config = PPOConfig(
        num_envs=2, num_steps=2, total_timesteps=40, num_minibatches=1, update_epochs=1,
        hidden_sizes=(8,),
    )  # fmt: skip
    result = run_experiment(config, [0], tmp_path / "nan", checkpoint_every=1, env=NaNAfter())
    assert result.status == "stopped: non-finite policy_loss at update 3 (seed 0)"
    assert checkpoint.load(checkpoint.latest(tmp_path / "nan")).update == 2
    assert result.metrics["value_loss"].shape == (1, 2)
    problem = first_nonfinite(
        {name: np.zeros((1, 2)) for name in NONFINITE_METRICS}, {"w": np.array([np.inf])}, 4
    )
    assert problem == "non-finite parameter ['w'] after update 4"


def test_too_little_disk_is_refused_with_an_honest_estimate(tmp_path: Path, monkeypatch) -> None:
    import shutil

    need = {}

    def usage(path):
        need["asked"] = True
        return shutil._ntuple_diskusage(10**12, 10**12, 64 * 2**10)  # type: ignore[attr-defined]

    monkeypatch.setattr(shutil, "disk_usage", usage)
    with pytest.raises(ValueError, match="MiB free, the run needs about"):
        run_experiment(SMALL, [0], tmp_path / "full")
    assert need and not (tmp_path / "full").exists()


def test_a_failed_write_names_the_checkpoint_and_the_resume_command(
    tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "run"
    real = rundir.write_text

    def fail_on_results(path: Path, text: str) -> None:
        if path.name == rundir.RESULTS_FILE:
            raise rundir.OutputError(f"cannot write {str(path)!r}: no space left on the device")
        real(path, text)

    monkeypatch.setattr(rundir, "write_text", fail_on_results)
    with pytest.raises(
        rundir.OutputError, match=r"newest complete checkpoint is .*ckpt-00000010.*--resume"
    ):
        run_experiment(SMALL, [0, 3], out, checkpoint_every=2)
    assert not list(out.glob("*.tmp"))


@pytest.mark.heavy
def test_custom_environment_objects_must_be_given_again_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "env"
    run_experiment(SMALL, [0, 3], out, env=ConstantRewardEnv(), checkpoint_every=2, stop_after=2)
    with pytest.raises(ValueError, match="env"):
        run_experiment(None, None, out, resume=True)
    assert run_experiment(None, None, out, resume=True, env=ConstantRewardEnv()).completed


EVAL = SMALL.replace(eval_every=3, eval_episodes=2)


@pytest.mark.heavy  # 16 s: three sessions
def test_evaluation_in_a_session_keeps_the_best_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    """With eval_every: the best parameters in best/ and in load_run, the absolute metric in
    results.json and the summary (10x eval_episodes episodes), and a paused-and-resumed run
    equal to an uninterrupted one, evaluations and best parameters included."""
    a, b = tmp_path / "a", tmp_path / "b"
    whole = run_experiment(EVAL, [0, 3], a, checkpoint_every=2)
    run_experiment(EVAL, [0, 3], b, checkpoint_every=2, stop_after=4)
    resumed = run_experiment(None, None, b, resume=True)
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    assert (a / rundir.BEST_FILE).read_bytes() == (b / rundir.BEST_FILE).read_bytes()
    for name in ("eval_return", "eval_length", "eval_truncated"):
        np.testing.assert_array_equal(whole.metrics[name], resumed.metrics[name])
        assert np.isfinite(whole.metrics[name]).sum() == 2 * 4  # updates 3, 6, 9 and 10
    loaded = load_run(a)
    pairs = zip(
        jax.tree.leaves(loaded.best_params), jax.tree.leaves(whole.best_params), strict=True
    )
    for x, y in pairs:
        np.testing.assert_array_equal(x, y)
    doc = json.loads((a / rundir.RESULTS_FILE).read_text())
    absolute = doc["absolute_metric"]
    assert absolute["episodes"] == 10 * EVAL.eval_episodes and len(absolute["returns"]) == 2
    assert absolute["ci_low"] <= absolute["iqm"] <= absolute["ci_high"]
    best = np.nanmax(whole.metrics["eval_return"], axis=1)
    np.testing.assert_allclose(absolute["best_eval_return"], best, rtol=1e-6)
    assert [r["absolute_return"] for r in whole.summary] == absolute["returns"]
    assert load_run(tmp_path / "a").summary[0]["best_eval_update"] >= 1


def test_every_run_stopping_at_its_target_ends_the_session(tmp_path: Path, capsys) -> None:
    config = EVAL.replace(stop_at_return=-1.0)  # the first evaluation (update 3) reaches it
    out = tmp_path / "run"
    result = run_experiment(config, 2, out, checkpoint_every=2)
    assert result.status == EARLY_FINISH.format(-1.0) and result.completed
    assert result.metrics["env_steps"].shape[1] == 4  # the segment that held update 3
    assert [r["env_steps"] for r in result.summary] == [3 * SMALL.batch_size] * 2
    # The skipped update keeps the steps taken (never 0), in the result and in metrics.csv;
    # the table counts the stopped runs the way the status line does.
    assert result.metrics["env_steps"][:, 3].tolist() == [3 * SMALL.batch_size] * 2
    logged = [int(r["env_steps"]) for r in csv.DictReader((out / rundir.METRICS_CSV).open())]
    assert 0 not in logged and max(logged) == 3 * SMALL.batch_size
    assert [(r["stopped"], r["updates"]) for r in result.summary] == [(True, 3)] * 2
    print_train_table(result)
    table = capsys.readouterr().out
    assert "stopped at stop_at_return=-1.0 (an evaluation's mean return reached it; the " in table
    assert "'stopped' column): 2 of 2" in table and table.count("  yes  ") == 2
    assert load_run(out).completed
    again = run_experiment(None, None, out, resume=True)  # nothing left to do
    assert again.completed and again.checkpoint == checkpoint.latest(out)


def test_check_count_takes_ints_in_range_and_names_the_argument():
    assert check_count("stop_after", 3, 1) == 3
    assert check_count("stop_after", np.int64(3), 1) == 3
    assert check_count("stop_after", None, 1) is None
    for bad in (0, True, 2.0, INT32_MAX + 1, "3"):
        with pytest.raises(ValueError, match="stop_after must be an int in"):
            check_count("stop_after", bad, 1)
    with pytest.raises(ValueError, match="checkpoint_every"):
        check_count("checkpoint_every", None, 0, none_ok=False)


def test_the_identity_names_environment_and_extension_objects():
    identity = run_identity(
        "train", PPOConfig(), [0, 1], {"learning_rate": 1e-3}, Problem(metrics_fn=describe)
    )
    assert identity["kind"] == "train" and identity["seeds"] == [0, 1]
    assert identity["env"] == "CartPole-v1" and identity["network"] is None
    assert identity["metrics_fn"] == "ppo_jax.run.experiment.describe"
    assert describe(None) is None and describe(3) == "3"


def test_a_resumed_config_must_equal_the_saved_one():
    saved = PPOConfig()
    assert check_config_equal(PPOConfig(), saved) == []
    assert check_config_equal(PPOConfig(num_envs=16), saved) == ["num_envs=16 (saved 32)"]


def _metrics(value: float = 0.0) -> dict[str, np.ndarray]:
    return {name: np.full((2, 3), value) for name in NONFINITE_METRICS}


def test_first_nonfinite_names_the_metric_update_and_row():
    assert first_nonfinite(_metrics(), {"w": np.zeros(2)}, 0) is None
    bad = _metrics()
    bad["entropy"][1, 2] = np.nan
    assert first_nonfinite(bad, {"w": np.zeros(2)}, 10) == (
        "non-finite entropy at update 13 (seed index 1)"
    )
    labels = ["setting_0/seed_3", "setting_1/seed_3"]
    assert first_nonfinite(bad, {"w": np.zeros(2)}, 10, labels=labels) == (
        "non-finite entropy at update 13 (setting 1/seed 3)"
    )
    # Updates skipped after stop_at_return log NaN losses and the env steps the run had
    # taken (earlier versions logged 0): not a problem; an update counts where steps grew.
    skipped = {**_metrics(np.nan), "env_steps": np.zeros((2, 3))}
    assert first_nonfinite(skipped, {"w": np.zeros(2)}, 0) is None
    kept = {**_metrics(), "env_steps": np.array([[24, 24, 24], [32, 40, 48]])}
    kept["value_loss"][0] = np.nan  # row 0 had stopped at 24 steps, before these updates
    assert first_nonfinite(kept, {"w": np.zeros(2)}, 3, np.array([24, 24])) is None
    kept["value_loss"][1, 0] = np.nan  # row 1 trained update 4 (24 -> 32 steps)
    assert first_nonfinite(kept, {"w": np.zeros(2)}, 3, np.array([24, 24])) == (
        "non-finite value_loss at update 4 (seed index 1)"
    )


def test_resume_command_adds_trust_only_for_module_environments():
    assert resume_command("train", "runs/a", PPOConfig()) == "ppo-jax train --resume runs/a"
    config = PPOConfig(env_name="examples.corridor:Corridor")
    assert resume_command("pbt", "runs/b", config).endswith("--resume runs/b --trust-env-module")


def test_without_evaluation_nothing_is_stopped():
    assert evaluation_of(SimpleNamespace()) is None
    assert not all_stopped(SimpleNamespace())


def test_every_run_must_have_stopped():
    carry = SimpleNamespace(runner=SimpleNamespace(evaluation=SimpleNamespace(stopped=None)))
    carry.runner.evaluation.stopped = np.array([True, False])
    assert evaluation_of(carry) is carry.runner.evaluation and not all_stopped(carry)
    carry.runner.evaluation.stopped = np.array([True, True])
    assert all_stopped(carry)
