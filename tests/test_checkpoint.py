"""Checkpoints, resume, interruption, non-finite detection, config files, plot/eval commands."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import gymnax
import jax
import numpy as np
import pytest
from probe_envs import ConstantRewardEnv

from ppo_jax import checkpoint
from ppo_jax.cli import main

TINY = [
    "--num-envs", "4", "--num-steps", "8", "--total-timesteps", "320",
    "--num-minibatches", "2", "--update-epochs", "1", "--hidden-sizes", "8",
]  # fmt: skip


def _run(argv: list[str]) -> int:
    return main([*argv, "--progress", "lines"]) if argv[0] == "train" else main(argv)


@pytest.mark.parametrize(
    "extra",
    [
        [],
        # Gaussian policy + observation/reward statistics: all of it must be in the checkpoint.
        ["--env", "Pendulum-v1", "--normalize-observations", "true", "--normalize-rewards", "true"],
    ],
    ids=["cartpole", "pendulum-normalized"],
)
def test_resume_is_bit_identical(tmp_path, capsys, extra):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["train", *TINY, *extra, "--seeds", "2", "--checkpoint-every", "3"]
    assert _run([*common, "--out", str(a)]) == 0
    assert _run([*common, "--out", str(b), "--stop-after", "5"]) == 0
    err = capsys.readouterr().err
    assert "paused after update 6" in err and f"--resume {b}" in err
    assert checkpoint.latest(b).name == "ckpt-00000006.msgpack"
    assert _run(["train", "--resume", str(b)]) == 0
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    rows_a = list(csv.reader((a / "metrics.csv").open()))
    rows_b = list(csv.reader((b / "metrics.csv").open()))
    assert rows_a == rows_b and len(rows_a) == 1 + 2 * 10
    # The JSON Lines log holds every update once across both sessions.
    steps = [json.loads(line)["step"] for line in (b / "metrics.jsonl").open()]
    assert steps == sorted(steps) and len(steps) == 10


def test_segmented_run_matches_one_compiled_call(tmp_path):
    from ppo_jax import PPOConfig, train_seeds

    out = tmp_path / "seg"
    assert (
        _run(["train", *TINY, "--seeds", "0,1", "--checkpoint-every", "4", "--out", str(out)]) == 0
    )
    ckpt = checkpoint.load(checkpoint.latest(out))
    config = PPOConfig(
        num_envs=4, num_steps=8, total_timesteps=320, num_minibatches=2, update_epochs=1,
        hidden_sizes=(8,),
    )  # fmt: skip
    whole = train_seeds(config, [0, 1])
    np.testing.assert_allclose(
        ckpt.metrics["value_loss"], np.asarray(whole.metrics["value_loss"]), rtol=1e-5, atol=1e-6
    )


def test_resume_refuses_mixed_flags_and_foreign_files(tmp_path, capsys):
    out = tmp_path / "r"
    assert _run(["train", *TINY, "--checkpoint-every", "5", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--num-envs", "8"]) == 2
    assert "--resume continues a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 2
    assert "not a ppo-jax run folder" in capsys.readouterr().err

    path = checkpoint.latest(out)
    good = path.read_bytes()
    cases = {
        "truncated": good[: len(good) // 2],
        "flipped": good[:100] + bytes([good[100] ^ 0xFF]) + good[101:],
        "foreign": b"PK\x03\x04 this is a zip file, not ours" * 10,
        "empty": b"",
    }
    expected = {
        "truncated": "corrupt or truncated",
        "flipped": "corrupt or truncated",
        "foreign": "not a ppo_jax checkpoint",
        "empty": "not a ppo_jax checkpoint",
    }
    for name, data in cases.items():
        path.write_bytes(data)
        assert main(["train", "--resume", str(out)]) == 2, name
        assert expected[name] in capsys.readouterr().err, name
    path.write_bytes(good)
    # A checkpoint of another config: right file, wrong shapes.
    other = tmp_path / "other"
    assert _run(["train", *TINY, "--hidden-sizes", "4", "--out", str(other)]) == 0
    capsys.readouterr()
    path.write_bytes(checkpoint.latest(other).read_bytes())
    assert main(["train", "--resume", str(out)]) == 2
    assert "disagree" in capsys.readouterr().err


@pytest.mark.timeout(900)
def test_sigterm_writes_checkpoint_and_metrics(tmp_path):
    out = tmp_path / "sig"
    argv = [
        sys.executable, "-m", "ppo_jax", "train", "--num-envs", "8", "--num-steps", "32",
        "--total-timesteps", str(8 * 32 * 4000), "--checkpoint-every", "20",
        "--progress", "lines", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip
    deadline = time.time() + 400
    while time.time() < deadline and not list((out / "checkpoints").glob("ckpt-*.msgpack")):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 143, output
    assert "interrupted (SIGTERM)" in output and "--resume" in output, output
    saved = json.loads((out / "results.json").read_text())
    done = saved["updates_done"]
    assert 0 < done < 4000 and done % 20 == 0, (done, output)
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == done, output
    assert checkpoint.load(checkpoint.latest(out)).update == done, output


class NaNAfter(ConstantRewardEnv):
    """Reward turns NaN once an episode reaches step 5: the value loss becomes NaN."""

    def step_env(self, key, state, action, params):
        obs, new_state, reward, terminated, info = super().step_env(key, state, action, params)
        return (
            obs,
            new_state,
            jax.numpy.where(new_state.time >= 5, jax.numpy.nan, reward),
            terminated,
            info,
        )


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, capsys):
    name = "NaNReward-test"
    if name not in gymnax.registered_envs:
        gymnax.registration.register(name, lambda: NaNAfter())
    out = tmp_path / "nan"
    argv = ["train", "--env", name, "--num-envs", "2", "--num-steps", "2", "--total-timesteps",
            "40", "--num-minibatches", "1", "--update-epochs", "1", "--checkpoint-every", "1",
            "--out", str(out)]  # fmt: skip
    assert _run(argv) == 3
    err = capsys.readouterr().err
    assert "non-finite policy_loss at update 3" in err
    assert "last good checkpoint" in err and "ckpt-00000002" in err
    assert checkpoint.load(checkpoint.latest(out)).update == 2


def test_config_file_with_overrides(tmp_path, capsys):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        "num_envs = 4\nnum_steps = 8\ntotal_timesteps = 96\nnum_minibatches = 2\n"
        'update_epochs = 1\nhidden_sizes = [8]\nlearning_rate = 0.01\nseeds = "0,3"\n'
    )
    out = tmp_path / "run"
    assert _run(["train", "--config", str(cfg), "--learning-rate", "0.002", "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["learning_rate"] == 0.002  # the flag wins
    assert saved["config"]["hidden_sizes"] == [8]
    assert saved["seeds"] == [0, 3]
    bad = tmp_path / "bad.toml"
    bad.write_text("num_envz = 4\n")
    capsys.readouterr()
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "num_envz" in capsys.readouterr().err
    bad.write_text("num_envs = [\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert "invalid TOML" in capsys.readouterr().err


def test_plot_and_eval_commands(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(["train", *TINY, "--seeds", "2", "--out", str(out)]) == 0
    for png in ("learning_curves.png", "diagnostics.png"):
        (out / png).unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "diagnostics.png").stat().st_size > 10_000
    capsys.readouterr()
    gif = tmp_path / "episode.gif"
    pytest.importorskip("pygame")
    assert (
        main(["eval", str(out), "--episodes", "3", "--gif", str(gif), "--gif-max-steps", "20"]) == 0
    )
    printed = capsys.readouterr().out
    assert "mean return" in printed
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    evals = json.loads((out / "eval.json").read_text())
    assert [len(r["returns"]) for r in evals["runs"]] == [3, 3]
    assert main(["plot", str(tmp_path / "nothing")]) == 2


def test_tensorboard_and_jsonl_logs(tmp_path):
    from ppo_jax.sinks import read_scalars

    out, tb = tmp_path / "run", tmp_path / "tb"
    assert _run(["train", *TINY, "--seeds", "2", "--out", str(out), "--tensorboard", str(tb)]) == 0
    events = list(tb.glob("events.out.tfevents.*"))
    assert len(events) == 1
    scalars = read_scalars(events[0])
    tags = {t for _, t, _ in scalars}
    assert {"policy_loss", "value_loss", "entropy", "episode_return/seed_0"} <= tags
    steps = sorted({s for s, t, _ in scalars if t == "policy_loss"})
    assert steps == [32 * (i + 1) for i in range(10)]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").open()]
    assert len(lines) == 10 and "value_loss" in lines[0]


def test_unwritable_or_full_output_is_refused_up_front(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["train", *TINY, "--out", str(blocker / "run")]) == 2
    assert "not writable" in capsys.readouterr().err

    import shutil

    from ppo_jax import cli

    full = shutil.disk_usage(tmp_path)._replace(free=1024)
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: full)
    out = tmp_path / "full"
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "MiB free" in err and "checkpoints" in err
    assert not (out / "metrics.csv").exists()


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    out = tmp_path / "run"
    argv = ["train", *TINY, "--out", str(out), "--wandb", "ppo-jax-test", "--wandb-mode", "offline"]
    assert _run(argv) == 0
    assert list((out / "wandb").glob("offline-run-*"))
