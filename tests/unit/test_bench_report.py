"""``ppo_jax.io.bench_report``: the table (units in its header, a row per cell, skipped cells
with their reason), the plot (a line per seed count) and the three files, from a report built
by hand (nothing compiled)."""

from __future__ import annotations

import json

import matplotlib.image
import pytest

from ppo_jax import BenchCell, BenchResult, PPOConfig
from ppo_jax.io import bench_report


def cell(seeds: int, num_envs: int, rate: float | None, status: str = "ok") -> BenchCell:
    steps = seeds * num_envs * 64 * 2
    if rate is None:
        return BenchCell(seeds, num_envs, 64, 2, steps, 1, "1 device", status, "estimated 9 MiB")
    return BenchCell(
        seeds, num_envs, 64, 2, steps, 2, "runs over 2 devices", status,
        compile_s=4.25, first_run_s=steps / rate, run_s=(steps / rate, steps / rate * 1.1),
        env_steps_per_s=rate, env_steps_per_s_min=rate / 1.1, env_steps_per_s_max=rate,
        env_steps_per_s_per_seed=rate / seeds, env_steps_per_s_per_device=rate / 2,
        env_only_steps_per_s=4 * rate, flops=1e9, ceiling_fraction=0.25,
        peak_memory_bytes=3 * 2**20,
    )  # fmt: skip


def report() -> dict:
    cells = (cell(1, 8, 1000.0), cell(1, 32, 3000.0), cell(8, 8, 6000.0), cell(8, 32, None))
    cells = (*cells[:3], cells[3]._replace(status="skipped"))
    return BenchResult(
        cells=cells, config=PPOConfig(), seeds=(1, 8), num_envs=(8, 32), updates=2, repeats=2,
        layout="auto", preset=None, fit=cells[2], platform="cpu", device_kind="cpu",
        device_count=2, process_count=1, cpu_model="A CPU", versions={
            "python": "3", "jax": "0.1", "jaxlib": "0.1", "ppo_jax": "0.3.0"
        }, matmul_peak_flops_per_s={1: 8e10, 2: 9e10}, wall_s=10.0, budget_s=None,
    ).to_dict()  # fmt: skip


def test_the_table_has_units_and_a_row_per_cell() -> None:
    text = bench_report.bench_table(report())
    lines = text.splitlines()
    assert "compile [s]" in text and "env-steps/s [median (min-max)]" in text
    assert "FLOP ceiling [%]" in text and "peak memory [MiB]" in text
    assert "float32 matmul peak (the FLOP ceiling): 1 device 80.0 GFLOP/s, 2 devices 90.0" in text
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| seeds")]
    assert rows[0] == (
        "| 1 | 8 | runs over 2 devices | 4.2 | 1,000 (909-1,000) | 1,000 | 500 | 4,000 | 0.25 | "
        "25.0 | 3.00 |"
    )
    assert rows[3].startswith("| 8 | 32 | 1 device | skipped: estimated 9 MiB |")
    assert rows[3].count("|") == rows[0].count("|")  # the columns line up
    assert lines[-1] == "largest cell that fits: 8 seeds x 8 envs"


def test_the_files_and_the_plot(tmp_path) -> None:
    data = report()
    written = bench_report.write_report(data, tmp_path / "new" / "folder")
    assert [p.name for p in written] == ["bench.json", "bench.txt", "bench_scaling.png"]
    assert json.loads(written[0].read_text()) == data
    assert written[1].read_text() == bench_report.bench_table(data) + "\n"
    assert matplotlib.image.imread(written[2]).shape[2] in (3, 4)
    fig = bench_report.scaling_figure(data)
    lines = {
        ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in fig.axes[0].lines
    }
    bench_report.pyplot().close(fig)
    assert lines == {
        "1 seed": ([8, 32], [1000.0, 3000.0]),
        "1 seed, environment only": ([8, 32], [4000.0, 12000.0]),
        "8 seeds": ([8], [6000.0]),  # the skipped cell is not drawn
        "8 seeds, environment only": ([8], [24000.0]),
    }
    assert fig.axes[0].get_xscale() == fig.axes[0].get_yscale() == "log"
    taken = tmp_path / "file"
    taken.write_text("")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        bench_report.check_out_dir(taken)
    assert bench_report.cpu_model()
