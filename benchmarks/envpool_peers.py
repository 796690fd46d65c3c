"""ppo_jax against CleanRL's EnvPool Atari PPO script, same machine, same workload.

    python -m benchmarks.envpool_peers --cleanrl-script ~/scratch/ppo_atari_envpool_xla_jax.py
    CLEANRL_ATARI_SCRIPT=... CLEANRL_PYTHON=~/scratch/venv/bin/python \\
        python -m benchmarks.envpool_peers --env Breakout-v5 --updates 10 --alternations 2

The workload is CleanRL's own Atari settings (``ppo_atari_envpool_xla_jax.py``'s defaults: 8
EnvPool envs with ``episodic_life`` and ``reward_clip``, 128 steps, 4 epochs x 4 minibatches,
the Nature CNN, seed 1), which ppo_jax's tuned config ``get_config("envpool:<env>")`` copies,
run for ``--updates`` updates (1,024 env-steps each). CleanRL's script is not part of this
repository: point ``--cleanrl-script`` (or ``CLEANRL_ATARI_SCRIPT``) at a copy in a scratch
folder, and ``--cleanrl-python`` (``CLEANRL_PYTHON``) at a Python that has its dependencies
(``--cleanrl-pythonpath`` / ``CLEANRL_PYTHONPATH`` is prepended to its ``PYTHONPATH``). Without
the script the peer is skipped, with a message. CleanRL runs in a temporary working folder
(it writes ``runs/``), unmodified, with its own command-line flags
(``--env-id --total-timesteps --seed``).

Every measurement is a fresh process; the contenders alternate (A B A B ...) ``--alternations``
times; medians are reported. Throughput is env-steps/s at steady state, compilation excluded:
ppo_jax compiles its whole run ahead of time and is timed over all its updates by its own
harness (``ppo_jax.benchmark``: a cold compile, then one run; JAX key of seed 0, the pools'
seed 1); CleanRL compiles inside its first iterations, so it is timed from the end of its
second iteration to the end of its last, by the arrival time of its ``global_step=`` lines.
``startup_s`` is launch to the end of compilation (ppo_jax) or of the second iteration
(CleanRL).

Prints one JSON object per process, then the summary as JSON (also written to ``--json``) and
a Markdown table with ppo_jax / CleanRL ratios (above 1: ppo_jax is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS_PER_UPDATE = 8 * 128
"""CleanRL's Atari batch: 8 envs x 128 steps."""
WARMUP_ITERATIONS = 2
"""CleanRL iterations left out of its steady-state timing (they compile)."""
SCRIPT_VARIABLE = "CLEANRL_ATARI_SCRIPT"
PYTHON_VARIABLE = "CLEANRL_PYTHON"
PYTHONPATH_VARIABLE = "CLEANRL_PYTHONPATH"
LAUNCH_VARIABLE = "ENVPOOL_PEERS_LAUNCH_TIME"
GLOBAL_STEP = re.compile(r"global_step=(\d+)")


# --------------------------------------------------------------------------- ppo_jax
def worker(env: str, updates: int) -> dict[str, Any]:
    """ppo_jax's measurement in this (fresh) process."""
    launched = float(os.environ.get(LAUNCH_VARIABLE, time.time()))
    import jax

    import ppo_jax

    base = ppo_jax.get_config(f"envpool:{env}")
    config = base.replace(
        total_timesteps=updates * STEPS_PER_UPDATE,
        env_kwargs=(*base.env_kwargs, ("seed", 1)),
    )
    called = time.time() - launched
    # ppo_jax's own harness, doing nothing else: compiled cold, then one timed run.
    result = ppo_jax.benchmark(
        config, [1], [config.num_envs], repeats=0, env_only=False, ceiling=False
    )
    (cell,) = result.cells
    return {
        "library": "ppo_jax",
        "env_steps": cell.env_steps,
        "run_s": cell.first_run_s,
        "env_steps_per_s": cell.env_steps_per_s,
        "compile_s": cell.compile_s,
        "startup_s": called + cell.compile_s,
        "final_return": cell.final_return,
        "device": str(jax.devices()[0]),
    }


def run_ppo_jax(env: str, updates: int) -> tuple[dict[str, Any] | None, str]:
    argv = [sys.executable, "-m", "benchmarks.envpool_peers", "--worker"]
    argv += ["--env", env, "--updates", str(updates)]
    environ = {**os.environ, LAUNCH_VARIABLE: repr(time.time())}
    t = time.perf_counter()
    done = subprocess.run(argv, env=environ, capture_output=True, text=True, check=False)
    process_s = time.perf_counter() - t
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"exit {done.returncode}: {' | '.join(tail)}"
    return {**json.loads(lines[-1]), "process_s": process_s}, ""


# --------------------------------------------------------------------------- CleanRL
def cleanrl_argv(python: str, script: str, env: str, updates: int) -> list[str]:
    steps = str(updates * STEPS_PER_UPDATE)
    return [python, script, "--env-id", env, "--total-timesteps", steps, "--seed", "1"]


def steady_rate(stamps: list[tuple[float, int]]) -> tuple[float, float, int] | None:
    """``(env_steps_per_s, seconds, env_steps)`` from ``(arrival time, global_step)`` per
    iteration, leaving out the first ``WARMUP_ITERATIONS``; ``None`` with too few."""
    if len(stamps) <= WARMUP_ITERATIONS:
        return None
    (t0, s0), (t1, s1) = stamps[WARMUP_ITERATIONS - 1], stamps[-1]
    if t1 <= t0 or s1 <= s0:
        return None
    return (s1 - s0) / (t1 - t0), t1 - t0, s1 - s0


def run_cleanrl(
    python: str, script: str, pythonpath: str, env: str, updates: int
) -> tuple[dict[str, Any] | None, str]:
    """One CleanRL process in a temporary folder, its stdout lines timed as they arrive."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if pythonpath:
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (pythonpath, environ.get("PYTHONPATH", "")) if p
        )
    stamps: list[tuple[float, int]] = []
    tail: list[str] = []
    launched = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cleanrl_peer_") as folder:
        proc = subprocess.Popen(
            cleanrl_argv(python, script, env, updates),
            cwd=folder,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            found = GLOBAL_STEP.search(line)
            if found:
                stamps.append((time.perf_counter(), int(found.group(1))))
            tail = [*tail[-4:], line.strip()]
        code = proc.wait()
    process_s = time.perf_counter() - launched
    rate = steady_rate(stamps)
    if code != 0 or rate is None:
        return None, f"exit {code}, {len(stamps)} iterations: {' | '.join(tail)}"
    per_s, seconds, steps = rate
    row = {
        "library": "cleanrl",
        "env_steps": steps,
        "run_s": seconds,
        "env_steps_per_s": per_s,
        "compile_s": None,
        "startup_s": stamps[WARMUP_ITERATIONS - 1][0] - launched,
        "process_s": process_s,
    }
    return row, ""


# --------------------------------------------------------------------------- the parent
FIELDS = ("env_steps_per_s", "startup_s", "process_s")


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per library and ppo_jax / CleanRL ratios."""
    out: dict[str, Any] = {}
    for name in ("ppo_jax", "cleanrl"):
        mine = [r for r in rows if r["library"] == name]
        if mine:
            out[name] = {f: _median([r.get(f) for r in mine]) for f in FIELDS}
            out[name]["processes"] = len(mine)
    if "ppo_jax" in out and "cleanrl" in out:
        out["ratios"] = {
            f: (out["ppo_jax"][f] / out["cleanrl"][f]) if out["cleanrl"][f] else None
            for f in FIELDS
        }
    return out


def markdown(summary: dict[str, Any], env: str) -> str:
    lines = [
        f"| {env} | processes | env-steps/s (steady) | startup s | process s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("ppo_jax", "cleanrl"):
        if name in summary:
            s = summary[name]
            lines.append(
                f"| {name} | {s['processes']} | {_cell(s['env_steps_per_s'], ',.0f')} | "
                f"{_cell(s['startup_s'], '.1f')} | {_cell(s['process_s'], '.1f')} |"
            )
    if "ratios" in summary:
        r = summary["ratios"]
        lines.append(
            f"| ppo_jax / CleanRL | | {_cell(r['env_steps_per_s'], '.2f')}x | "
            f"{_cell(r['startup_s'], '.2f')}x | {_cell(r['process_s'], '.2f')}x |"
        )
    return "\n".join(lines)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="Breakout-v5", help="EnvPool Atari id (Breakout-v5)")
    parser.add_argument("--updates", type=int, default=10, help="updates per process (10)")
    parser.add_argument("--alternations", type=int, default=2, help="processes each (2)")
    parser.add_argument("--cleanrl-script", default=os.environ.get(SCRIPT_VARIABLE, ""))
    parser.add_argument("--cleanrl-python", default=os.environ.get(PYTHON_VARIABLE, ""))
    parser.add_argument("--cleanrl-pythonpath", default=os.environ.get(PYTHONPATH_VARIABLE, ""))
    parser.add_argument("--json", default=None, help="also write the report to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.updates <= WARMUP_ITERATIONS:
        parser.error(f"--updates must be > {WARMUP_ITERATIONS} (CleanRL's compiling iterations)")
    if args.alternations < 1:
        parser.error("--alternations must be >= 1")
    if args.worker:
        print(json.dumps(worker(args.env, args.updates)), flush=True)
        return 0
    script = args.cleanrl_script
    skipped = None
    if not script or not Path(script).is_file():
        skipped = (
            f"CleanRL skipped: no script at {script!r}; copy cleanrl/ppo_atari_envpool_xla_jax.py "
            f"to a scratch folder and pass --cleanrl-script (or set {SCRIPT_VARIABLE})"
        )
        print(skipped, file=sys.stderr)
    python = args.cleanrl_python or sys.executable
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for _ in range(args.alternations):
        contenders = ["ppo_jax"] + ([] if skipped else ["cleanrl"])
        for name in contenders:
            if name == "ppo_jax":
                row, why = run_ppo_jax(args.env, args.updates)
            else:
                row, why = run_cleanrl(
                    python, script, args.cleanrl_pythonpath, args.env, args.updates
                )
            if row is None:
                failures.append({"library": name, "reason": why})
                print(json.dumps(failures[-1]), flush=True)
                continue
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = summarise(rows)
    report = {
        "env": args.env,
        "updates": args.updates,
        "env_steps_per_update": STEPS_PER_UPDATE,
        "alternations": args.alternations,
        "cleanrl_command": cleanrl_argv(python, script, args.env, args.updates),
        "summary": summary,
        "skipped": skipped,
        "failures": failures,
        "processes": rows,
    }
    print(json.dumps({"summary": summary, "skipped": skipped, "failures": failures}))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print()
    print(markdown(summary, args.env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
