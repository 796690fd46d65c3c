"""Several processes: a sweep over two processes on loopback (jax.distributed, the command
line's --coordinator) equals the one-process sweep; importing ppo_jax in a fresh process gives
JAX one CPU device per core."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import TINY

from ppo_jax import PPOConfig, load_run
from ppo_jax.run.sweep import sweep

SWEEP_CONFIG = {
    "num_envs": 4,
    "num_steps": 8,
    "total_timesteps": 96,
    "num_minibatches": 2,
    "update_epochs": 1,
    "hidden_sizes": (8,),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_device_per_process() -> dict[str, str]:
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
    }


@pytest.mark.heavy
@pytest.mark.timeout(600)
def test_sweep_command_over_two_processes(tmp_path):
    """The same command in two processes (jax.distributed on loopback): both run the same
    pipeline (every fetch a collective), process 0 writes, checkpoints included."""
    out = tmp_path / "mh"
    cmd = [
        sys.executable, "-m", "ppo_jax", "sweep", "--grid", "learning_rate=1e-3,3e-3",
        "--seeds", "2", "--out", str(out), "--coordinator", f"127.0.0.1:{_free_port()}",
        "--num-processes", "2", *TINY,
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*cmd, "--process-id", str(i)],
            env=_one_device_per_process(),
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
    assert list((out / "checkpoints").glob("ckpt-*.msgpack"))  # written by process 0 only
    # The runs equal those of one process with the same settings and seeds.
    multi = load_run(out)
    single = sweep(PPOConfig(**SWEEP_CONFIG), {"learning_rate": [1e-3, 3e-3]}, [0, 1])
    for name in ("value_loss", "policy_loss", "episodes_completed"):
        np.testing.assert_allclose(
            multi.metrics[name], single.metrics[name].reshape(4, -1), rtol=1e-4, atol=1e-5
        )


@pytest.mark.heavy
def test_importing_ppo_jax_first_uses_every_core():
    """Without any flag, a fresh process that imports ppo_jax before running JAX gets one CPU
    device per core; one that ran JAX first keeps JAX's single device, and a multi-seed call
    then says how to get the rest (one line)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "PPO_JAX_CPU_DEVICES")}
    env["JAX_PLATFORMS"] = "cpu"
    count = "import ppo_jax, jax, os; print(jax.local_device_count(), len(os.sched_getaffinity(0)))"
    first = subprocess.run(
        [sys.executable, "-c", count],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    devices, cores = map(int, first.stdout.split())
    assert devices == cores
    late = subprocess.run(
        [sys.executable, "-W", "always", "-c",
         "import jax; jax.numpy.zeros(1); import ppo_jax; print(jax.local_device_count());"
         "ppo_jax.run.plan.plan_seeds(ppo_jax.PPOConfig(), 4)"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert late.stdout.strip() == "1"
    if cores > 1:
        assert "import ppo_jax before running any JAX computation" in late.stderr
    chosen = subprocess.run(
        [sys.executable, "-c", "import ppo_jax, jax; print(jax.local_device_count())"],
        env={**env, "PPO_JAX_CPU_DEVICES": "3"}, capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    assert chosen.stdout.strip() == "3"
