"""The results page's promise (``python -m benchmarks.results``): every CPU-sized tuned config,
trained over its 10-16 seeds in one compiled program, reaches its target on every seed when an
implementation nobody here wrote plays it (gymnasium, bsuite, the suites' own loops). ``-m
full`` runs the whole table (about an hour on 2 cores); the learning tier runs Pendulum, the
config retuned for it, on 4 seeds."""

from __future__ import annotations

import pytest

from benchmarks import results
from ppo_jax.io.tuned import TARGETS

CPU_ROWS = [row for row in results.ROWS if not row.accelerator]


def _check(record: dict) -> None:
    judge = record["judge"]
    assert judge["reached"] == judge["n"] == len(record["seeds"]), (
        record["env"],
        judge["per_seed"],
    )
    assert min(judge["per_seed"]) >= TARGETS[record["env"]]


@pytest.mark.full
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("row", CPU_ROWS, ids=[row.env_name for row in CPU_ROWS])
def test_every_seed_of_every_cpu_row_reaches_its_target_when_judged(row, tmp_path):
    pytest.importorskip(results.JUDGE_MODULES.get(row.judge, "numpy"))
    if ":" in row.env_name:
        pytest.importorskip(row.env_name.partition(":")[0])
    record = results.measure(row, out_dir=tmp_path / "run")
    assert len(record["seeds"]) == row.seeds >= 10
    _check(record)


@pytest.mark.timeout(900)
def test_pendulum_reaches_its_target_on_every_seed_judged_by_gymnasium(tmp_path):
    pytest.importorskip("gymnasium")
    record = results.measure(results.row_of("Pendulum-v1"), seeds=4, out_dir=tmp_path / "run")
    _check(record)
