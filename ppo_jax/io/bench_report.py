"""What ``ppo-jax bench`` writes: the table (stdout and ``bench.txt``), the JSON
(``bench.json``, :meth:`ppo_jax.run.benchmark.BenchResult.to_dict`) and the log-log scaling
plot (``bench_scaling.png``). Every function here takes that JSON-ready dict, so a saved
``bench.json`` can be tabled and plotted again."""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

from ppo_jax.io.plotting import pyplot, save_figure
from ppo_jax.io.rundir import check_output_folder, write_json, write_text

JSON_FILE = "bench.json"
TABLE_FILE = "bench.txt"
PLOT_FILE = "bench_scaling.png"
MIB = 2**20


def cpu_model() -> str:
    """The host CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def check_out_dir(path: str | os.PathLike[str]) -> Path:
    """``ValueError`` unless ``path`` is a folder (or can become one) that can be written:
    checked before anything compiles. Files already in it are replaced."""
    return check_output_folder(path, "--out")


def _num(value: Any, fmt: str, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value * scale, fmt)


def _rate(cell: dict[str, Any]) -> str:
    if cell["env_steps_per_s"] is None:
        return "-"
    spread = ""
    if len(cell["run_s"]) > 1:
        spread = (
            f" ({_num(cell['env_steps_per_s_min'], ',.0f')}-"
            f"{_num(cell['env_steps_per_s_max'], ',.0f')})"
        )
    return _num(cell["env_steps_per_s"], ",.0f") + spread


HEADER = (
    "| seeds | num_envs | devices | compile [s] | env-steps/s [median (min-max)] | "
    "per seed [env-steps/s] | per device [env-steps/s] | env only [env-steps/s] | "
    "train / env only | FLOP ceiling [%] | peak memory [MiB] |"
)


def table_rows(report: dict[str, Any]) -> list[str]:
    """The Markdown table of the cells, units in the header."""
    rows = [HEADER, "|" + "---:|" * 2 + "---|" + "---:|" * 8]
    for c in report["cells"]:
        head = f"| {c['seeds']} | {c['num_envs']} |"
        if c["status"] != "ok":
            rows.append(f"{head} {c['layout']} | {c['status']}: {c['reason']} |" + " |" * 7)
            continue
        ratio = None
        if c["env_only_steps_per_s"]:
            ratio = c["env_steps_per_s"] / c["env_only_steps_per_s"]
        cells = [
            c["layout"],
            _num(c["compile_s"], ".1f"),
            _rate(c),
            _num(c["env_steps_per_s_per_seed"], ",.0f"),
            _num(c["env_steps_per_s_per_device"], ",.0f"),
            _num(c["env_only_steps_per_s"], ",.0f"),
            _num(ratio, ".2f"),
            _num(c["ceiling_fraction"], ".1f", 100.0),
            _num(c["peak_memory_bytes"], ",.2f", 1 / MIB),
        ]
        rows.append(head + " " + " | ".join(cells) + " |")
    return rows


def header_lines(report: dict[str, Any]) -> list[str]:
    """Where and how the table was measured."""
    v = report["versions"]
    peaks = ", ".join(
        f"{n} device{'s' if n != '1' else ''} {p / 1e9:,.1f} GFLOP/s"
        for n, p in report["matmul_peak_flops_per_s"].items()
    )
    cfg = report["config"]
    lines = [
        f"ppo-jax bench: {report['env_name']} on {report['device_count']} x "
        f"{report['device_kind']} ({report['platform']}; CPU {report['cpu_model']}), "
        f"jax {v['jax']}, jaxlib {v['jaxlib']}, ppo_jax {v['ppo_jax']}",
        f"config: num_steps {cfg['num_steps']}, {cfg['update_epochs']} epochs x "
        f"{cfg['num_minibatches']} minibatches, hidden {cfg['hidden_sizes']}; "
        + (
            f"{report['updates']} updates per run"
            if report["updates"] is not None
            else f"{cfg['total_timesteps']:,} env-steps per seed"
        )
        + f"; {report['repeats']} timed runs per cell after the first",
    ]
    if peaks:
        lines.append(f"float32 matmul peak (the FLOP ceiling): {peaks}")
    return lines


def bench_table(report: dict[str, Any]) -> str:
    """The header lines, the table, the cell that fits (with ``fit``) and any notes."""
    lines = [*header_lines(report), "", *table_rows(report)]
    if report["fit"] is not None:
        lines += ["", f"largest cell that fits: {report['fit']['seeds']} seeds x "
                  f"{report['fit']['num_envs']} envs"]  # fmt: skip
    notes = sorted({c["flops_note"] for c in report["cells"] if c.get("flops_note")})
    lines += [f"note: FLOPs: {n}" for n in notes]
    return "\n".join(lines)


def plot_scaling(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write :func:`scaling_figure` to ``path`` (a PNG)."""
    out = Path(path)
    save_figure(scaling_figure(report), out)
    return out


def scaling_figure(report: dict[str, Any]) -> Any:
    """Log-log env-steps/s against parallel environments per seed, one line per seed count
    (training solid, environment only dashed in the same colour), of the cells that ran."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for seeds in report["grid"]["seeds"]:
        mine = sorted(
            (c for c in report["cells"] if c["seeds"] == seeds and c["status"] == "ok"),
            key=lambda c: c["num_envs"],
        )
        if not mine:
            continue
        xs = [c["num_envs"] for c in mine]
        label = f"{seeds} seed{'s' if seeds != 1 else ''}"
        (line,) = ax.plot(xs, [c["env_steps_per_s"] for c in mine], marker="o", label=label)
        only = [(c["num_envs"], c["env_only_steps_per_s"]) for c in mine]
        only = [(x, y) for x, y in only if y]
        if only:
            ax.plot(
                [x for x, _ in only],
                [y for _, y in only],
                linestyle="--",
                marker=".",
                color=line.get_color(),
                label=f"{label}, environment only",
            )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = sorted({c["num_envs"] for c in report["cells"]})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("parallel environments per seed (num_envs)")
    ax.set_ylabel("env-steps/s (all seeds)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.set_title(
        f"ppo_jax {report['env_name']}: {report['device_count']} x {report['device_kind']}, "
        f"jax {report['versions']['jax']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def write_report(report: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """``bench.json``, ``bench.txt`` and ``bench_scaling.png`` in ``out_dir`` (created);
    returns their paths."""
    folder = check_out_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, table_path = folder / JSON_FILE, folder / TABLE_FILE
    write_json(json_path, report)
    write_text(table_path, bench_table(report) + "\n")
    return [json_path, table_path, plot_scaling(report, folder / PLOT_FILE)]
