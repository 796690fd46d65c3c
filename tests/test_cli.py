"""The command line: files written, table printed, errors named, nothing overwritten."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys

import pytest

from ppo_jax.cli import field_docs, main, parse_seeds
from ppo_jax.config import config_field_names

TINY = [
    "--num-envs",
    "4",
    "--num-steps",
    "8",
    "--total-timesteps",
    "96",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--hidden-sizes",
    "8",
]


@pytest.mark.parametrize(
    "shard", [[], ["--shard-seeds"], ["--split-envs"]], ids=["one-device", "sharded", "split-envs"]
)
def test_train_writes_files_and_prints_table(tmp_path, capsys, shard):
    out = tmp_path / "run"
    assert main(["train", "--seeds", "0,2", "--out", str(out), *TINY, *shard]) == 0
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


def test_quiet_prints_only_the_table(tmp_path, capsys):
    assert main(["train", "--quiet", "--out", str(tmp_path / "q"), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "update " not in printed
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
        (["--torso", "cnn"], "torso='cnn'"),
        (["--log-std-init", "9"], "log_std_init"),
        (["--cnn-channels", "16,0"], "cnn_channels"),
        (["--split-envs", "--num-envs", "3", "--num-minibatches", "1"], "multiple of 2"),
        (["--split-envs", "--shard-seeds"], "exclusive"),
    ],
)
def test_bad_values_exit_2_naming_the_field(tmp_path, capsys, flags, needle):
    out = tmp_path / "never"
    assert main(["train", "--out", str(out), *flags]) == 2
    assert needle in capsys.readouterr().err
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


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,5,9") == [0, 5, 9]
    assert parse_seeds("3:6") == [3, 4, 5]
    with pytest.raises(Exception, match="seeds"):
        parse_seeds("x")


def test_sweep_command_ranks_settings_and_writes_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--grid", "learning_rate=1e-3,3e-3", "--grid", "clip_eps=0.2"]
    assert main([*argv, "--seeds", "2", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "2 setting(s) x 2 seed(s) = 4 runs" in printed
    assert "rank" in printed and "final return" in printed
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [int(r["rank"]) for r in rows] == [1, 2]
    means = [float(r["final_return_mean"]) for r in rows]
    assert means == sorted(means, reverse=True)
    assert {float(r["learning_rate"]) for r in rows} == {1e-3, 3e-3}
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == 2 * 2 * 3
    png = (out / "learning_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    results = json.loads((out / "results.json").read_text())
    assert results["num_devices"] == 2
    assert len(results["final_return"]) == 2


def test_sweep_random_search_and_forced_chunks(tmp_path, capsys):
    out = tmp_path / "rs"
    argv = ["sweep", "--grid", "learning_rate=log:1e-4:1e-2", "--random", "3"]
    assert main([*argv, "--seeds", "2", "--chunk-size", "2", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "3 chunks of 2 runs" in printed
    assert len(list(csv.DictReader((out / "sweep.csv").open()))) == 3


@pytest.mark.parametrize(
    ("grid", "needle"),
    [
        ("num_envs=4,8", "num_envs cannot be swept"),
        ("learning_rate=-1", "learning_rate"),
        ("learning_rate=log:1e-4:1e-2", "--random"),
    ],
)
def test_sweep_bad_requests_exit_2_before_writing(tmp_path, capsys, grid, needle):
    out = tmp_path / "never"
    assert main(["sweep", "--grid", grid, "--out", str(out), *TINY]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.timeout(600)
def test_sweep_command_over_two_processes(tmp_path):
    """The same command in two processes (jax.distributed on loopback): process 0 writes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "mh"
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
    }
    cmd = [
        sys.executable,
        "-m",
        "ppo_jax",
        "sweep",
        "--grid",
        "learning_rate=1e-3,3e-3",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--coordinator",
        f"127.0.0.1:{port}",
        "--num-processes",
        "2",
        *TINY,
    ]
    procs = [
        subprocess.Popen(
            [*cmd, "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = [p.communicate(timeout=540)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "on 2 device(s)" in logs[0] and "rank" in logs[0]
    assert "final return" not in logs[1]  # only process 0 prints the table and writes files
    assert len(list(csv.DictReader((out / "sweep.csv").open()))) == 2


def test_quiet_runs_use_the_persistent_compile_cache(tmp_path):
    """--quiet compiles no host callbacks, so its programs are written to the on-disk cache
    (a repeated run then loads them instead of compiling). A fresh process, as a user runs
    the CLI: JAX sets its cache up once per process."""
    cache = tmp_path / "xla-cache"
    env = {**os.environ, "PPO_JAX_COMPILE_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "ppo_jax", "train", "--quiet", "--out", str(tmp_path / "a"), *TINY]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(cache.rglob("*")), "no compiled program was written to the cache"
