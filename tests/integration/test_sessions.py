"""Sessions through the command line: bit-identical resume, refusals of foreign checkpoints,
SIGTERM, SIGKILL at random moments (nothing lost, every output ends at the checkpoint), two
processes racing for one folder, the non-finite stop, logs, a full disk."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnax
import pytest
from cli_helpers import TINY, exit_code, read_tensorboard
from probe_envs import NaNAfter

from ppo_jax.cli import main
from ppo_jax.io import checkpoint

LONGER = [
    "--num-envs", "4", "--num-steps", "8", "--total-timesteps", "320",
    "--num-minibatches", "2", "--update-epochs", "1", "--hidden-sizes", "8",
]  # fmt: skip


def _run(argv: list[str]) -> int:
    return main([*argv, "--progress", "lines"]) if argv[0] == "train" else main(argv)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], marks=pytest.mark.heavy),  # the session tests resume from Python too
        # Gaussian policy + observation/reward statistics: all of it must be in the checkpoint.
        pytest.param(
            [
                "--env",
                "Pendulum-v1",
                "--normalize-observations",
                "true",
                "--normalize-rewards",
                "true",
            ],
            marks=pytest.mark.heavy,
        ),
        # Pytree observations with per-leaf statistics and an asymmetric critic entry.
        pytest.param(
            ["--env", "examples.spaces:ImageVectorCritic", "--normalize-observations", "true"],
            marks=pytest.mark.heavy,
        ),
        # A dict action (Discrete + tanh-squashed Box) with a parallel-scan memory.
        pytest.param(
            [
                "--env",
                "examples.spaces:HybridAction",
                "--continuous-distribution",
                "tanh_gaussian",
                "--recurrent",
                "lru",
                "--recurrent-size",
                "8",
            ],
            marks=pytest.mark.heavy,
        ),
    ],
    ids=["cartpole", "pendulum-normalized", "dict-obs-critic", "hybrid-tanh-lru"],
)
def test_resume_is_bit_identical(tmp_path, capsys, extra):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["train", *LONGER, *extra, "--seeds", "2", "--checkpoint-every", "3"]
    assert _run([*common, "--out", str(a)]) == 0
    assert _run([*common, "--out", str(b), "--stop-after", "5"]) == 0
    err = capsys.readouterr().err
    assert "paused after update 6" in err and f"--resume {b}" in err
    assert checkpoint.latest(b).name == "ckpt-00000006.msgpack"
    trust = ["--trust-env-module"] if any(":" in arg for arg in extra) else []
    assert _run(["train", "--resume", str(b), *trust]) == 0
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    rows_a = list(csv.reader((a / "metrics.csv").open()))
    rows_b = list(csv.reader((b / "metrics.csv").open()))
    assert rows_a == rows_b and len(rows_a) == 1 + 2 * 10
    # The JSON Lines log holds every update once across both sessions.
    steps = [json.loads(line)["step"] for line in (b / "metrics.jsonl").open()]
    assert steps == sorted(steps) and len(steps) == 10
    capsys.readouterr()
    assert _run(["train", "--resume", str(b), *trust]) == 0  # a finished run: nothing to do
    printed = capsys.readouterr()
    assert "already finished at update 10" in printed.out and "no checkpoint" not in printed.err
    (b / "results.json").unlink()  # killed while writing its outputs: resuming writes them
    assert _run(["train", "--resume", str(b), *trust]) == 0
    printed = capsys.readouterr()
    assert "throughput: n/a (every update was trained before this session)" in printed.out
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()


@pytest.mark.heavy
def test_resume_refuses_mixed_flags_and_foreign_files(tmp_path, capsys):
    out = tmp_path / "r"
    assert (
        _run(["train", *LONGER, "--seeds", "2", "--checkpoint-every", "5", "--out", str(out)]) == 0
    )
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
    assert _run(["train", *LONGER, "--hidden-sizes", "4", "--out", str(other)]) == 0
    capsys.readouterr()
    path.write_bytes(checkpoint.latest(other).read_bytes())
    assert main(["train", "--resume", str(out)]) == 2
    assert "disagree" in capsys.readouterr().err
    # A config.json that is no longer JSON.
    path.write_bytes(good)
    (out / "config.json").write_text("[1, 2")
    assert main(["train", "--resume", str(out)]) == 2
    assert "config.json" in capsys.readouterr().err


def _cli(args: list[str], cache: Path, command: str = "train") -> list[str]:
    return [sys.executable, "-m", "ppo_jax", command, *args]


SWEEP_GRID = ["--grid", "learning_rate=0.001,0.003", "--seeds", "2"]
"""A sweep of 2 settings x 2 seeds."""


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PPO_JAX_COMPILE_CACHE": str(cache)}


@pytest.mark.heavy
@pytest.mark.timeout(900)
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_sigterm_writes_checkpoint_and_metrics(tmp_path, command):
    """SIGTERM stops a train run or a sweep after its segment, with a checkpoint and every
    output written up to it (exit 143), and the line that continues it."""
    out = tmp_path / "sig"
    argv = [
        sys.executable, "-m", "ppo_jax", command, "--num-envs", "8", "--num-steps", "32",
        "--total-timesteps", str(8 * 32 * 4000), "--checkpoint-every", "20",
        "--progress", "lines", "--out", str(out),
    ]  # fmt: skip
    if command == "sweep":
        argv += SWEEP_GRID
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(tmp_path / "c")
    )
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
    rows = 1 if command == "train" else 4
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == rows * done, output
    assert checkpoint.load(checkpoint.latest(out)).update == done, output


CRASH_KILLS = 5
"""SIGKILLs of the crash-consistency test (each at a seeded random moment)."""


@pytest.mark.heavy
@pytest.mark.timeout(900)
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_sigkill_at_random_moments_loses_nothing(tmp_path, command):
    """Kill a train run or a sweep with SIGKILL at seeded random moments, resume after each
    kill: the newest complete checkpoint is never lost, every append-only output ends at it,
    and the final result (checkpoint, ``metrics.csv``; a sweep's ranking too) is bit-identical
    to one that was never killed."""
    cache = tmp_path / "cache"
    args = [*LONGER, "--total-timesteps", str(4 * 8 * 30), "--checkpoint-every", "2", "--quiet"]
    if command == "sweep":
        args += SWEEP_GRID
    reference = tmp_path / "reference"
    subprocess.run(
        _cli([*args, "--out", str(reference)], cache, command),
        env=_env(cache),
        check=True,
        capture_output=True,
        timeout=300,
    )
    out = tmp_path / "killed"
    rng = random.Random(1234)
    proc = subprocess.Popen(
        _cli([*args, "--out", str(out)], cache, command),
        env=_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    kills, newest = 0, -1
    while True:
        deadline = time.time() + 120
        while (
            time.time() < deadline
            and proc.poll() is None
            and not list((out / "checkpoints").glob("ckpt-*.msgpack"))
        ):
            time.sleep(0.05)
        if proc.poll() is not None:
            break
        if kills < CRASH_KILLS:
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
            update = checkpoint.load(checkpoint.latest(out)).update  # complete, never lost
            assert update >= newest
            newest = update
            steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").open()]
            assert len(steps) == len(set(steps))  # no duplicated row, even mid-segment
            proc = subprocess.Popen(
                _cli(["--resume", str(out), "--quiet"], cache, command),
                env=_env(cache),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            continue
        proc.wait(timeout=300)
        break
    output = proc.communicate()[0].decode()
    assert proc.returncode == 0, output
    assert kills >= 1
    assert checkpoint.latest(out).read_bytes() == checkpoint.latest(reference).read_bytes()
    assert (out / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    if command == "sweep":
        assert (out / "sweep.csv").read_text() == (reference / "sweep.csv").read_text()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").open()]
    assert steps == [32 * (i + 1) for i in range(30)]


@pytest.mark.heavy
def test_two_runs_racing_for_one_folder(tmp_path):
    """Exactly one starts; the other is told the folder is in use (or not empty); nothing is
    mixed up. Then the same command again (another folder) finds every compiled program in
    the persistent cache: programs carry no host callbacks, even with live progress."""
    cache = tmp_path / "cache"
    out = tmp_path / "race"
    args = [*TINY, "--progress", "lines", "--out", str(out)]
    procs = [
        subprocess.Popen(
            _cli(args, cache),
            env=_env(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, (_, err) in results if code == 2)
    assert "in use" in loser or "not empty" in loser
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == 3
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").open()]
    assert steps == [32, 64, 96]
    cached = {p.name for p in cache.rglob("*") if p.is_file()}
    assert cached, "no compiled program was written to the cache"
    again = [*TINY, "--progress", "lines", "--out", str(tmp_path / "again")]
    subprocess.run(
        _cli(again, cache), env=_env(cache), check=True, capture_output=True, timeout=300
    )
    assert {p.name for p in cache.rglob("*") if p.is_file()} == cached


@pytest.mark.heavy
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
    capsys.readouterr()
    _run(["train", "--resume", str(out)])
    assert "no checkpoint" not in capsys.readouterr().err


def test_tensorboard_and_jsonl_logs(tmp_path):
    out, tb = tmp_path / "run", tmp_path / "tb"
    assert (
        _run(["train", *LONGER, "--seeds", "2", "--out", str(out), "--tensorboard", str(tb)]) == 0
    )
    scalars = read_tensorboard(tb)
    assert {"policy_loss", "value_loss", "entropy", "episode_return/seed_0"} <= set(scalars)
    assert [s for s, _ in scalars["policy_loss"]] == [32 * (i + 1) for i in range(10)]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").open()]
    assert len(lines) == 10 and "value_loss" in lines[0]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert (
        exit_code(["train", *TINY, "--out", str(tmp_path / "never"), "--tensorboard", str(blocker)])
        == 2
    )
    assert not (tmp_path / "never").exists()


def test_unwritable_or_full_output_is_refused_up_front(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["train", *TINY, "--out", str(blocker / "run")]) == 2
    assert "not writable" in capsys.readouterr().err

    import shutil

    full = shutil.disk_usage(tmp_path)._replace(free=1024)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: full)
    out = tmp_path / "full"
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "MiB free" in err and "checkpoints" in err
    assert not out.exists()


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    out = tmp_path / "run"
    argv = ["train", *LONGER, "--seeds", "2", "--out", str(out), "--wandb", "ppo-jax-test"]
    argv += ["--wandb-mode", "offline"]
    assert _run(argv) == 0
    assert list((out / "wandb").glob("offline-run-*"))


@pytest.mark.heavy
def test_sweep_resume_is_bit_identical(tmp_path, capsys):
    """``ppo-jax sweep --stop-after`` pauses with a checkpoint and the line that continues it;
    ``--resume`` ends with the same ``metrics.csv``, ``sweep.csv`` and newest checkpoint as a
    sweep never paused; flags that would change the sweep are refused with ``--resume``."""
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["sweep", *LONGER, *SWEEP_GRID, "--checkpoint-every", "3", "--quiet"]
    assert main([*common, "--out", str(a)]) == 0
    assert main([*common, "--out", str(b), "--stop-after", "5"]) == 0
    err = capsys.readouterr().err
    assert "paused after update 6" in err and f"ppo-jax sweep --resume {b}" in err
    assert main(["sweep", "--resume", str(b), "--grid", "gamma=0.9"]) == 2
    assert "--resume continues a run" in capsys.readouterr().err
    assert main(["sweep", "--resume", str(b), "--quiet"]) == 0
    for name in ("metrics.csv", "sweep.csv"):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert checkpoint.latest(a).read_bytes() == checkpoint.latest(b).read_bytes()
    steps = [json.loads(line)["step"] for line in (b / "metrics.jsonl").open()]
    assert steps == sorted(steps) and len(steps) == 10
    # Killed after its last checkpoint, before its outputs (the SIGKILL test's rare moment).
    for name in ("metrics.csv", "sweep.csv", "results.json"):
        (b / name).unlink()
    capsys.readouterr()
    assert main(["sweep", "--resume", str(b)]) == 0
    assert "all trained before this session" in capsys.readouterr().out
    for name in ("metrics.csv", "sweep.csv"):
        assert (a / name).read_text() == (b / name).read_text(), name


def test_sweep_logs_a_series_per_setting_and_seed(tmp_path):
    """A sweep's TensorBoard events (read by TensorBoard's own reader) and JSON lines hold one
    return series per (setting, seed) and each setting's mean of every metric; a sweep folder
    has checkpoints like a train run's."""
    out, tb = tmp_path / "run", tmp_path / "tb"
    argv = ["sweep", *LONGER, "--grid", "learning_rate=0.001,0.003", "--seeds", "0,5"]
    assert main([*argv, "--out", str(out), "--tensorboard", str(tb), "--quiet"]) == 0
    scalars = read_tensorboard(tb)
    series = {f"episode_return/setting_{i}/seed_{s}" for i in (0, 1) for s in (0, 5)}
    means = {f"setting_{i}/{name}" for i in (0, 1) for name in ("policy_loss", "episode_return")}
    assert series | means <= set(scalars), sorted(scalars)
    assert [s for s, _ in scalars["setting_0/policy_loss"]] == [32 * (i + 1) for i in range(10)]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").open()]
    assert len(lines) == 10 and "setting_1/value_loss" in lines[0]
    assert list((out / "checkpoints").glob("ckpt-*.msgpack"))
