"""``ppo-jax bench``: one tiny cell timed end to end (its figures tied to each other and to
what ``ppo_jax.benchmark`` returned), the three files it writes, a bad grid refused with one
line naming the flag before anything compiles or is written, and ``--quick`` from a fresh
process (heavy)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
from cli_helpers import exit_code

import ppo_jax
from ppo_jax import PPOConfig
from ppo_jax.cli import main
from ppo_jax.run import bench_programs
from ppo_jax.run import benchmark as bench

TINY = [
    "--num-envs", "4", "--num-steps", "8", "--num-minibatches", "2", "--update-epochs", "2",
    "--hidden-sizes", "16,16",
]  # fmt: skip
CELL_FIELDS = {
    "env_steps_per_s",
    "env_steps_per_s_per_seed",
    "compile_s",
    "env_only_steps_per_s",
    "ceiling_fraction",
    "peak_memory_bytes",
}
"""The per-cell fields the issue names: the JSON contract."""


def model_flops_per_env_step(hidden: tuple[int, ...], epochs: int, obs: int, actions: int) -> float:
    """By hand, matmuls only (a lower bound): the acting pass of both towers, the critic on
    the next observation, ``epochs`` forward + backward passes (~3x forward) of both."""
    sizes = [obs, *hidden]
    torso = sum(a * b for a, b in itertools.pairwise(sizes))
    actor, critic = torso + sizes[-1] * actions, torso + sizes[-1]
    return 2.0 * (actor + 2 * critic + epochs * 3 * (actor + critic))


@pytest.mark.timeout(180)
def test_bench_writes_what_benchmark_returns(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(bench_programs, "MATMUL_SIZE_CPU", 256)
    returned: list[bench.BenchResult] = []
    real = bench.benchmark

    def keep(*args, **kwargs):
        returned.append(real(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(bench, "benchmark", keep)
    out = tmp_path / "bench"
    argv = ["bench", "--seeds", "1", "--updates", "3", "--repeats", "2", "--out", str(out)]
    assert main([*argv, *TINY]) == 0
    printed = capsys.readouterr().out
    assert (
        "| seeds | num_envs | devices | compile [s] | env-steps/s [median (min-max)] |" in printed
    )
    assert "FLOP ceiling [%] | peak memory [MiB] |" in printed
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.txt", "bench_scaling.png"]
    report = json.loads((out / "bench.json").read_text())
    (result,) = returned
    assert report == json.loads(json.dumps(result.to_dict()))  # the CLI writes the library's
    assert "\n| seeds | num_envs | devices |" in (out / "bench.txt").read_text()
    image = matplotlib.image.imread(out / "bench_scaling.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500

    assert report["schema"] == bench.SCHEMA and report["env_name"] == "CartPole-v1"
    for name in ("device_kind", "device_count", "cpu_model", "compile_method", "flops_method"):
        assert report[name], name
    assert report["versions"]["ppo_jax"] == ppo_jax.__version__
    assert set(report["versions"]) == {"python", "jax", "jaxlib", "ppo_jax"}
    config = PPOConfig.from_dict(report["config"])
    assert (config.num_envs, config.hidden_sizes, config.update_epochs) == (4, (16, 16), 2)
    assert report["grid"] == {"seeds": [1], "num_envs": [4]}
    (cell,) = report["cells"]
    assert set(cell) >= CELL_FIELDS
    assert (cell["seeds"], cell["num_envs"], cell["num_updates"], cell["status"]) == (
        1, 4, 3, "ok",
    )  # fmt: skip
    assert cell["env_steps"] == 4 * 8 * 3 and cell["devices"] == 1 and len(cell["run_s"]) == 2
    median = statistics.median(cell["run_s"])
    assert cell["env_steps_per_s"] == pytest.approx(cell["env_steps"] / median)
    assert cell["env_steps_per_s_min"] <= cell["env_steps_per_s"] <= cell["env_steps_per_s_max"]
    assert cell["env_steps_per_s_per_seed"] == cell["env_steps_per_s_per_device"]
    assert cell["env_steps_per_s_per_seed"] == cell["env_steps_per_s"]
    assert cell["compile_s"] > 0 and cell["first_run_s"] > 0 and cell["env_only_compile_s"] > 0
    assert cell["env_only_steps_per_s"] > 0 and len(cell["env_only_run_s"]) == 2
    by_hand = model_flops_per_env_step((16, 16), 2, obs=4, actions=2) * cell["env_steps"]
    assert cell["flops"] >= by_hand and cell["flops_note"] is None
    assert cell["achieved_flops_per_s"] == pytest.approx(cell["flops"] / median)
    assert report["matmul_peak_flops_per_s"]["1"] == cell["ceiling_flops_per_s"] > 0
    fraction = cell["achieved_flops_per_s"] / cell["ceiling_flops_per_s"]
    assert cell["ceiling_fraction"] == pytest.approx(fraction)
    assert cell["peak_memory_bytes"] == cell["program_memory_bytes"] > 0  # XLA's analysis
    assert "memory_analysis" in cell["peak_memory_source"]
    assert 1 <= cell["final_return"] <= 500  # CartPole episodes
    assert cell["solve_env_steps"] == [-1]  # 96 steps do not solve CartPole
    assert report["fit"] is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num-envs", "0"], "argument --num-envs: expected comma-separated distinct counts"),
        (["--seeds", "x"], "argument --seeds: expected comma-separated distinct counts"),
        (["--seeds", "8,8"], "argument --seeds: expected comma-separated distinct counts"),
        (
            ["--num-envs", "4", "--num-minibatches", "3"],
            "--num-envs=4: PPOConfig.num_minibatches=3 must divide num_envs * num_steps",
        ),
        (
            ["--quick", "--num-minibatches", "3"],
            "num_envs=8: PPOConfig.num_minibatches=3 must divide num_envs * num_steps = 8 * 64 "
            "= 512 (from --preset quick; set --num-envs)",
        ),
        (["--quick", "--preset", "gpu-check"], "give --quick or --preset, not both"),
        (["--budget-s", "0"], "--budget-s must be a number > 0"),
        (["--repeats", "-1"], "argument --repeats: expected an integer in [0, 1000]"),
        (["--layout", "gpu"], "argument --layout: invalid choice: 'gpu'"),
        (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    ],
)
def test_a_bad_grid_is_one_line_naming_the_flag(flags, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "time_plan", lambda *a, **k: pytest.fail("compiled"))
    out = tmp_path / "bench"
    assert exit_code(["bench", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bench_refuses_an_out_that_is_a_file(tmp_path, capsys) -> None:
    taken = tmp_path / "file"
    taken.write_text("x")
    assert exit_code(["bench", "--quick", "--out", str(taken)]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.heavy
@pytest.mark.timeout(600)
def test_quick_from_a_fresh_process_outside_the_checkout(tmp_path) -> None:
    """What a user of the wheel runs: ``ppo-jax bench --quick --out DIR``, in a folder of
    their own, with the persistent compile cache setting of a user's shell."""
    script = shutil.which("ppo-jax") or ""
    command = [script] if script else [sys.executable, "-m", "ppo_jax"]
    env = {k: v for k, v in os.environ.items() if k != "PPO_JAX_COMPILE_CACHE"}
    env["HOME"] = str(tmp_path)  # a compile cache, if any, would be written here: none is
    done = subprocess.run(
        [*command, "bench", "--quick", "--out", "quick"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = Path(tmp_path) / "quick"
    report = json.loads((out / "bench.json").read_text())
    quick = bench.PRESETS["quick"]
    assert report["preset"] == "quick" and report["grid"] == {
        "seeds": list(quick.seeds), "num_envs": list(quick.num_envs),
    }  # fmt: skip
    assert [(c["seeds"], c["num_envs"]) for c in report["cells"]] == [
        (s, n) for s in quick.seeds for n in quick.num_envs
    ]
    assert all(c["status"] == "ok" and c["env_only_steps_per_s"] > 0 for c in report["cells"])
    assert all(0 < c["ceiling_fraction"] < 1 for c in report["cells"])
    assert (out / "bench_scaling.png").stat().st_size > 10_000
    assert "| seeds | num_envs |" in done.stdout
    assert not (tmp_path / ".cache" / "ppo_jax").exists()  # bench compiles cold, caches nothing
