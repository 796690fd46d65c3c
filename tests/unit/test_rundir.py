"""ppo_jax.io.rundir: claiming run folders atomically, config.json written and validated,
metrics files, atomic writes that name the file on failure, RunResult.to_dataframe."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from ppo_jax import PPOConfig
from ppo_jax.io import rundir
from ppo_jax.io.rundir import RunConfig, RunResult


def _claim(args: tuple[str, str]) -> str:
    out, stem = args
    try:
        path, lock = rundir.claim_new_folder(out or None, stem)
    except ValueError as err:
        return f"refused: {err}"
    lock.release()
    return f"claimed {path}"


def test_exactly_one_of_several_processes_claims_a_folder(tmp_path: Path) -> None:
    target = str(tmp_path / "run")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        outcomes = pool.map(_claim, [(target, "x")] * 8)
    assert sum(o.startswith("claimed") for o in outcomes) == 1, outcomes
    assert all("in use" in o or "not empty" in o for o in outcomes if o.startswith("refused"))


def test_default_names_in_the_same_second_are_distinct(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        outcomes = pool.map(_claim, [("", "CartPole-v1")] * 6)
    paths = [o.split(" ", 1)[1] for o in outcomes]
    assert all(o.startswith("claimed") for o in outcomes) and len(set(paths)) == 6


def test_a_locked_folder_cannot_be_continued_twice(tmp_path: Path) -> None:
    path, lock = rundir.claim_new_folder(tmp_path / "r", "x")
    (path / rundir.CONFIG_FILE).write_text("{}")
    with pytest.raises(ValueError, match="in use by another"):
        rundir.claim_existing_folder(path)
    lock.release()
    rundir.claim_existing_folder(path).release()
    with pytest.raises(ValueError, match="not a ppo-jax run folder"):
        rundir.claim_existing_folder(tmp_path)


def test_output_paths_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="not writable"):
        rundir.check_new_folder(blocker / "run")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        rundir.check_new_folder(blocker)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "results.json").write_text("precious")
    with pytest.raises(ValueError, match="not empty"):
        rundir.check_new_folder(tmp_path / "full")
    with pytest.raises(ValueError, match=r"tensorboard .* exists and is not a folder"):
        rundir.check_output_folder(blocker, "tensorboard")
    assert (
        rundir.check_output_folder(tmp_path / "new" / "tb", "tensorboard")
        == tmp_path / "new" / "tb"
    )
    assert not (tmp_path / "new").exists()


def test_run_config_round_trip(tmp_path: Path) -> None:
    run = RunConfig(
        "train",
        PPOConfig(num_envs=8),
        [0, 3],
        5,
        {"learning_rate": 1e-3},
        None,
        {"identity": {"x": 1}},
    )
    rundir.write_run_config(tmp_path, run)
    assert rundir.read_run_config(tmp_path) == run


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([1, 2], "must hold a JSON object"),
        ({"seeds": [0]}, "missing 'config'"),
        ({"config": {"num_envs": 0}, "seeds": [0]}, "num_envs"),
        ({"config": {"num_env": 4}, "seeds": [0]}, "unknown PPOConfig field"),
        ({"config": {}, "seeds": []}, "'seeds'"),
        ({"config": {}, "seeds": [2**32]}, "'seeds'"),
        ({"config": {}, "seeds": [0], "checkpoint_every": -1}, "checkpoint_every"),
        ({"config": {}, "seeds": [0], "kind": "mystery"}, "'kind'"),
        ({"config": {}, "seeds": [0], "hp": [1]}, "'hp'"),
    ],
)
def test_malformed_config_json_is_refused_naming_the_file(tmp_path: Path, doc, needle) -> None:
    (tmp_path / rundir.CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=needle) as info:
        rundir.read_run_config(tmp_path)
    assert "config.json" in str(info.value)


def test_unreadable_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / rundir.CONFIG_FILE
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        rundir.read_run_config(tmp_path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"not valid JSON|must hold"):
        rundir.read_run_config(tmp_path)


def test_metrics_csv_round_trip(tmp_path: Path) -> None:
    metrics = {
        "episode_return": np.array([[1.0, np.nan], [2.0, 3.0]]),
        "env_steps": np.array([[8, 16], [8, 16]]),
    }
    rundir.write_metrics_csv(tmp_path / "m.csv", metrics, ["seed"], [[0], [5]])
    groups = rundir.read_metrics_csv(tmp_path / "m.csv")
    np.testing.assert_array_equal(groups[()]["episode_return"], metrics["episode_return"])
    np.testing.assert_array_equal(groups[()]["env_steps"], metrics["env_steps"])


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(rundir.OutputError, match=r"results.json.*no space left"):
        rundir.write_json(target, {"a": 1})
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_run_result_to_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    metrics = {
        "episode_return": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "env_steps": np.array([[8, 16], [8, 16]]),
    }
    result = RunResult(
        config=PPOConfig(), seeds=[0, 7], params=None, metrics=metrics, completed=True
    )
    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 4
    assert list(frame["seed"]) == [0, 0, 7, 7] and list(frame["update"]) == [1, 2, 1, 2]
    assert list(frame["episode_return"]) == [1.0, 2.0, 3.0, 4.0]
    swept = result._replace(
        settings=[{"learning_rate": 1e-3}, {"learning_rate": 3e-3}], seeds=[0, 0]
    )
    frame = swept.to_dataframe()
    assert list(frame["setting"]) == [0, 0, 1, 1] and list(frame["learning_rate"]) == [
        1e-3,
        1e-3,
        3e-3,
        3e-3,
    ]


def test_to_dataframe_without_pandas_says_so(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    result = RunResult(
        config=PPOConfig(), seeds=[0], params=None, metrics={"x": np.zeros((1, 1))}, completed=True
    )
    with pytest.raises(ImportError, match="pip install pandas"):
        result.to_dataframe()
