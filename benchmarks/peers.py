"""ppo_jax against its peers on one workload, every measurement in a fresh process.

    python -m benchmarks.peers                                # PureJaxRL's CartPole workload
    python -m benchmarks.peers --seeds 1 --alternations 3 --json peers.json
    python -m benchmarks.peers --external purejaxrl="python ~/scratch/pjr_bench.py --seeds {seeds}"
    python -m benchmarks.peers --quick                        # tiny workload (a smoke test)

The default workload is PureJaxRL's CartPole config (4 envs x 128 steps, 4 epochs x 4
minibatches, lr 2.5e-4 annealed, clip 0.2 for the policy and the value, 500k env-steps) at 1 and
64 seeds. ppo_jax runs it through its default Python call's program (``train_seeds(config,
seeds)`` in a process with no flags set), timed by ppo_jax's own harness (``ppo_jax.benchmark``
with ``repeats=0``: compiled cold, then the first run, nothing else in the process); rejax
(when installed) through ``benchmarks.compare`` (its own ``jit(vmap(algo.train))``; no
learning-rate annealing, which rejax lacks). Each measurement is one new process; for every
seed count the libraries alternate (A B A B ...) ``--alternations`` times, and the medians are
reported.

Per process: ``compile_s``; ``run_s``, the first run after compiling, and ``env_steps_per_s``;
``first_result_s``, the wall time from the process's launch until the first trained result (a
user's ``import`` + call); ``solve_s``, the wall time from launch until a seed's training return
(mean return of the episodes completed in an update) first reached the environment's threshold
(475 for CartPole-v1), placed within the run at the share of its updates done (the updates run
at a steady rate inside one compiled call). rejax keeps no training returns: its ``solve_s`` is
``first_result_s`` when its final policy's evaluation (``benchmarks.compare``) reached the
threshold, else none.

``--external NAME=CMD`` times a command outside the repository (e.g. PureJaxRL's ``ppo.py`` in a
scratch folder) in the same alternation. ``{seeds}`` in ``CMD`` is replaced by the seed count;
the process gets ``PEERS_LAUNCH_TIME`` (``time.time()`` at launch) in its environment. Its last
stdout line must be a JSON object with ``env_steps_per_s`` (or ``env_steps`` and ``run_s``) and
optionally ``compile_s``, ``first_result_s``, ``solve_s`` (seconds since launch), ``solved``.

Prints one JSON object per process, then the summary as JSON (also written to ``--json``) and
as a Markdown table of medians and ratios (ppo_jax / peer: above 1 is faster for env-steps/s,
below 1 is faster for the times).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from typing import Any

from ppo_jax.cli.flags import parse_env_kwarg

LAUNCH_VARIABLE = "PEERS_LAUNCH_TIME"
WORKLOAD = {
    "env_name": "CartPole-v1",
    "num_envs": 4,
    "num_steps": 128,
    "total_timesteps": 500_000,
    "update_epochs": 4,
    "num_minibatches": 4,
    "learning_rate": 2.5e-4,
    "anneal_lr": True,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_eps": 0.2,
    "vf_clip_eps": 0.2,
    "ent_coef": 0.01,
    "vf_coef": 0.5,
    "max_grad_norm": 0.5,
    "hidden_sizes": (64, 64),
    "activation": "tanh",
}
"""PureJaxRL's CartPole workload (``purejaxrl/ppo.py``'s config) as PPOConfig fields."""
QUICK_WORKLOAD = {**WORKLOAD, "num_envs": 4, "num_steps": 8, "total_timesteps": 4 * 8 * 3}
QUICK_WORKLOAD["num_minibatches"] = 2
LIBRARIES = ("ppo_jax", "rejax")
FIELDS = ("env_steps_per_s", "compile_s", "first_result_s", "solve_s", "process_s")
"""Per-process figures summarised (medians) and compared; ``process_s`` is launch to exit."""


# --------------------------------------------------------------------------- workers
def worker(library: str, workload: dict[str, Any], seeds: int) -> dict[str, Any]:
    """One measurement in this (fresh) process; see the module docstring."""
    launched = float(os.environ.get(LAUNCH_VARIABLE, time.time()))
    import jax
    import numpy as np

    from ppo_jax import PPOConfig
    from ppo_jax.io.stats import solved_threshold

    config = PPOConfig.from_dict(workload)
    threshold = solved_threshold(config.env_name)
    if library == "ppo_jax":
        import ppo_jax

        called = time.time() - launched
        # ppo_jax's own harness, doing nothing else: the train_seeds program compiled and run
        # once (repeats=0: the first run after compiling, as the peers are timed).
        result = ppo_jax.benchmark(
            config, [seeds], [config.num_envs], repeats=0, env_only=False, ceiling=False
        )
        (cell,) = result.cells
        compile_s, run_s = cell.compile_s, cell.first_run_s
        compiled_at = called + compile_s  # planning (milliseconds) is not counted
        first_result_s = compiled_at + run_s
        solve_s = None
        steps = np.asarray(cell.solve_env_steps or [-1])
        if (steps >= 0).any():
            share = float(steps[steps >= 0].min()) / config.env_steps
            solve_s = compiled_at + run_s * share
        solved = solve_s is not None
        basis = "training return, within the run"
    elif library == "rejax":
        from benchmarks import compare

        algo = compare.rejax_ppo(config)
        keys = compare.rejax_keys(seeds)
        t = time.perf_counter()
        program = jax.jit(jax.vmap(algo.train)).lower(keys).compile()
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        train_state, _ = jax.block_until_ready(program(keys))
        run_s = time.perf_counter() - t
        first_result_s = time.time() - launched
        returns = compare.rejax_final_returns(algo, train_state)
        solved = threshold is not None and bool((returns >= threshold).any())
        solve_s = first_result_s if solved else None
        basis = "final policy's evaluation, end of the run"
    else:
        raise ValueError(f"unknown library {library!r}")
    return {
        "library": library,
        "seeds": seeds,
        "env_steps": config.env_steps * seeds,
        "compile_s": compile_s,
        "run_s": run_s,
        "env_steps_per_s": config.env_steps * seeds / run_s,
        "first_result_s": first_result_s,
        "solve_s": solve_s,
        "solved": solved,
        "solve_basis": basis,
        "devices": jax.local_device_count(),
    }


# --------------------------------------------------------------------------- the parent
def run_process(argv: list[str], shell: bool = False) -> tuple[dict[str, Any] | None, str]:
    """Launch one measurement process; its last JSON stdout line (or ``None``) and the reason
    when there is none. ``process_s`` (launch to exit) is added to the row."""
    env = {**os.environ, LAUNCH_VARIABLE: repr(time.time())}
    t = time.perf_counter()
    cmd: Any = argv[0] if shell else argv
    done = subprocess.run(cmd, shell=shell, env=env, capture_output=True, text=True)
    process_s = time.perf_counter() - t
    lines = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"exit {done.returncode}: {' | '.join(tail)}"
    row = json.loads(lines[-1])
    if "env_steps_per_s" not in row:
        if "env_steps" not in row or "run_s" not in row:
            return None, "its JSON line has neither env_steps_per_s nor env_steps and run_s"
        row["env_steps_per_s"] = row["env_steps"] / row["run_s"]
    row["process_s"] = process_s
    return row, ""


def worker_argv(library: str, workload: dict[str, Any], seeds: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.peers",
        "--worker",
        library,
        "--seeds",
        str(seeds),
        "--workload",
        json.dumps(workload),
    ]


def parse_external(items: list[str]) -> dict[str, str]:
    """``["NAME=CMD", ...]`` -> ``{NAME: CMD}``; ``ValueError`` for a malformed item."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, cmd = item.partition("=")
        if not sep or not name.strip() or not cmd.strip():
            raise ValueError(f"--external: expected NAME=CMD, got {item!r}")
        if name in LIBRARIES or name in out:
            raise ValueError(f"--external: name {name!r} is taken")
        out[name.strip()] = cmd
    return out


def measure(
    libraries: list[str],
    external: dict[str, str],
    workload: dict[str, Any],
    seeds_list: list[int],
    alternations: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every process row, and the failures, alternating the contenders A B A B ... per seed
    count."""
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    contenders = [*libraries, *external]
    for seeds in seeds_list:
        for _ in range(alternations):
            for name in contenders:
                if name in external:
                    cmd = external[name].replace("{seeds}", str(seeds))
                    row, why = run_process([cmd], shell=True)
                else:
                    row, why = run_process(worker_argv(name, workload, seeds))
                if row is None:
                    failures.append({"library": name, "seeds": seeds, "reason": why})
                    print(json.dumps(failures[-1]), flush=True)
                    continue
                row.update(library=name, seeds=seeds)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows, failures


def _median(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(rows: list[dict[str, Any]], seeds_list: list[int]) -> list[dict[str, Any]]:
    """Medians per (library, seeds) and ppo_jax's ratio to each peer."""
    out = []
    names = list(dict.fromkeys(r["library"] for r in rows))
    for seeds in seeds_list:
        medians = {}
        for name in names:
            mine = [r for r in rows if r["library"] == name and r["seeds"] == seeds]
            if mine:
                medians[name] = {f: _median([r.get(f) for r in mine]) for f in FIELDS}
                medians[name]["processes"] = len(mine)
                medians[name]["solved"] = sum(bool(r.get("solved")) for r in mine)
                medians[name]["solve_basis"] = mine[0].get("solve_basis", "as reported")
        ours = medians.get("ppo_jax")
        for name, theirs in medians.items():
            entry: dict[str, Any] = {"seeds": seeds, "library": name, **theirs}
            if ours is not None and name != "ppo_jax":
                entry["ratios"] = {f: _ratio(ours[f], theirs[f]) for f in FIELDS}
            out.append(entry)
    return out


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or not theirs else ours / theirs


def markdown(summary: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table (medians; ratios are ppo_jax / that library)."""
    lines = [
        "| seeds | library | processes | env-steps/s | compile s | first result s | solve s | "
        "process s | ppo_jax / it: env-steps/s | compile | first result | solve | process |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in summary:
        ratios = e.get("ratios", {})
        cells = [
            str(e["seeds"]),
            e["library"],
            str(e["processes"]),
            _cell(e["env_steps_per_s"], ",.0f"),
            _cell(e["compile_s"], ".2f"),
            _cell(e["first_result_s"], ".2f"),
            _cell(e["solve_s"], ".2f"),
            _cell(e["process_s"], ".2f"),
            *[_cell(ratios.get(f), ".2f") for f in FIELDS],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    bases = {e["library"]: e["solve_basis"] for e in summary}
    lines.append("")
    lines.append("solve s: " + "; ".join(f"{k}: {v}" for k, v in bases.items()))
    return "\n".join(lines)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,64", help="comma-separated seed counts (1,64)")
    parser.add_argument(
        "--alternations", type=int, default=2, help="processes per contender and seed count (2)"
    )
    parser.add_argument(
        "--libraries", default=",".join(LIBRARIES), help="comma-separated: ppo_jax,rejax"
    )
    parser.add_argument(
        "--external", action="append", default=[], help="NAME=CMD: also time this command"
    )
    parser.add_argument("--json", default=None, help="also write the summary to this file")
    parser.add_argument("--quick", action="store_true", help="a tiny workload (smoke test)")
    parser.add_argument(
        "--set",
        action="append",
        type=parse_env_kwarg,
        default=[],
        metavar="FIELD=VALUE",
        help="change a PPOConfig field of ppo_jax's and rejax's workload (external commands "
        "keep their own), e.g. --set num_envs=1024",
    )
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--workload", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        seeds_list = [int(s) for s in args.seeds.split(",")]
        if any(s < 1 for s in seeds_list):
            raise ValueError(f"--seeds must be counts >= 1, got {args.seeds!r}")
        if args.alternations < 1:
            raise ValueError(f"--alternations must be >= 1, got {args.alternations}")
        external = parse_external(args.external)
        libraries = [x for x in args.libraries.split(",") if x]
        for lib in libraries:
            if lib not in LIBRARIES:
                raise ValueError(f"--libraries: {lib!r} is not one of {', '.join(LIBRARIES)}")
    except ValueError as err:
        parser.error(str(err))
    workload = dict(QUICK_WORKLOAD if args.quick else WORKLOAD)
    if args.set:
        from ppo_jax import PPOConfig

        workload.update(args.set)
        try:
            PPOConfig.from_dict(workload)
        except (TypeError, ValueError) as err:
            parser.error(f"--set: {err}")
    if args.worker:
        workload = json.loads(args.workload) if args.workload else workload
        print(json.dumps(worker(args.worker, workload, seeds_list[0])), flush=True)
        return 0
    from benchmarks import compare

    skipped = []
    if "rejax" in libraries and not compare.installed("rejax"):
        libraries.remove("rejax")
        skipped.append({"library": "rejax", "reason": "not installed (pip install rejax)"})
    rows, failures = measure(libraries, external, workload, seeds_list, args.alternations)
    summary = summarise(rows, seeds_list)
    report = {
        "workload": workload,
        "external": external,
        "alternations": args.alternations,
        "summary": summary,
        "skipped": skipped,
        "failures": failures,
        "processes": rows,
    }
    print(json.dumps({"summary": summary, "skipped": skipped, "failures": failures}))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    print()
    print(markdown(summary))
    for s in skipped:
        print(f"\n{s['library']} skipped: {s['reason']}")
    for s in failures:
        print(f"\n{s['library']} failed ({s['seeds']} seeds): {s['reason']}")
    print(f"\nworkload: {shlex.join(f'{k}={v}' for k, v in workload.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
