"""A run folder is data: no reader of a folder, in the CLI or in Python, imports or calls what
its ``config.json`` names, unless the user trusts it for that call.

Each poisoned folder is a real trained folder (a train run and a PBT run) whose
``config.json`` now names a callable that would leave a marker file: a shell command through
``subprocess:run``, ``os:system``, ``builtins:exec``, and a module inside the folder itself
whose import writes the marker. Every reader either succeeds without building the
environment (``load_run``, ``plot``, ``compare``) or refuses in one line, before anything is
imported or written (``eval``, ``train --resume``, ``pbt --resume``, ``evaluate_run``,
``evaluate``/``export_policy`` of a loaded config); no marker appears. Fuzzed ``config.json``
documents get a clean ``ValueError`` from ``load_run``."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from cli_helpers import TINY, exit_code
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ppo_jax
from ppo_jax import PPOConfig, load_run
from ppo_jax.io import rundir, runload
from ppo_jax.io.runload import DamagedCheckpointWarning
from ppo_jax.run.evaluate import evaluate_run

MODULE_NAME = "ppo_jax_poison_module"


def poisons(marker: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """``name -> (env_name, env_kwargs)``: each leaves ``marker`` if it is ever imported or
    called."""
    return {
        "subprocess": ("subprocess:run", {"args": f"touch {marker}", "shell": True}),
        "os-system": ("os:system", {"command": f"touch {marker}"}),
        "exec": ("builtins:exec", {"source": f"open({str(marker)!r}, 'w').close()"}),
        "folder-module": (f"{MODULE_NAME}:make", {}),
    }


def poison(folder: Path, env_name: str, env_kwargs: dict[str, Any], marker: Path) -> None:
    """Rewrite ``folder``'s ``config.json`` to name ``env_name``, and put a module that writes
    ``marker`` on import into the folder itself."""
    doc = json.loads((folder / rundir.CONFIG_FILE).read_text())
    doc["config"]["env_name"] = env_name
    doc["config"]["env_kwargs"] = env_kwargs
    (folder / rundir.CONFIG_FILE).write_text(json.dumps(doc))
    (folder / f"{MODULE_NAME}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef make():\n    raise SystemExit('ran')\n"
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A finished train folder (2 seeds, observation statistics) and a finished PBT folder."""
    base = tmp_path_factory.mktemp("trained")
    config = PPOConfig(
        num_envs=4,
        num_steps=8,
        total_timesteps=96,
        num_minibatches=2,
        update_epochs=1,
        hidden_sizes=(8,),
        normalize_observations=True,
    )
    ppo_jax.run_experiment(config, [0, 3], base / "train")
    ppo_jax.run_pbt_experiment(
        config,
        {"learning_rate": ppo_jax.LogUniform(1e-4, 1e-2)},
        2,
        base / "pbt",
        interval=1,
        fraction=0.5,
    )
    return {"train": base / "train", "pbt": base / "pbt"}


@pytest.fixture(params=["subprocess", "os-system", "exec", "folder-module"])
def poisoned(request, trained, tmp_path, monkeypatch) -> dict[str, Any]:
    """Copies of the trained folders, poisoned; the working directory is the train folder (so
    a module inside it would be importable)."""
    marker = tmp_path / "MARKER"
    env_name, env_kwargs = poisons(marker)[request.param]
    out = {}
    for kind, src in trained.items():
        dst = tmp_path / kind
        shutil.copytree(src, dst)
        poison(dst, env_name, env_kwargs, marker)
        out[kind] = dst
    monkeypatch.chdir(out["train"])
    monkeypatch.syspath_prepend(str(out["train"]))
    yield {**out, "marker": marker, "env_name": env_name, "trained": trained}
    sys.modules.pop(MODULE_NAME, None)
    assert not marker.exists(), "a reader ran code the folder named"


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_load_run_reads_params_and_metrics_without_the_environment(poisoned):
    for kind in ("train", "pbt"):
        run = load_run(poisoned[kind])
        clean = load_run(poisoned["trained"][kind])
        assert run.config.env_name == poisoned["env_name"]
        assert run.config.env_origin == f"run folder {str(poisoned[kind])!r}"
        assert run.status == clean.status == "finished" and run.completed
        assert run.settings == clean.settings
        assert jax.tree.structure(run.train_state) == jax.tree.structure(clean.train_state)
        for a, b in zip(
            jax.tree.leaves(run.train_state), jax.tree.leaves(clean.train_state), strict=True
        ):
            np.testing.assert_array_equal(a, b)
        for name, values in clean.metrics.items():
            np.testing.assert_array_equal(run.metrics[name], values)
    assert MODULE_NAME not in sys.modules


def test_plot_and_compare_work_without_the_environment(poisoned, capsys):
    train, pbt = poisoned["train"], poisoned["pbt"]
    assert exit_code(["plot", str(train)]) == 0
    assert exit_code(["plot", str(pbt)]) == 0
    assert exit_code(["compare", str(train), str(train)]) == 0
    assert "IQM" in capsys.readouterr().out
    assert MODULE_NAME not in sys.modules


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["eval", "{train}"], id="eval"),
        pytest.param(["eval", "{pbt}"], id="eval-pbt"),
        pytest.param(["train", "--resume", "{train}"], id="train-resume"),
        pytest.param(["pbt", "--resume", "{pbt}"], id="pbt-resume"),
    ],
)
def test_commands_that_need_the_environment_refuse_in_one_line(poisoned, capsys, argv):
    argv = [a.format(**poisoned) for a in argv]
    folder = Path(argv[-1])
    before = files_of(folder)
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    module, attribute = poisoned["env_name"].split(":")
    assert f"module {module!r}" in err and f"attribute {attribute!r}" in err
    assert "env_kwargs" in err and "--trust-env-module" in err
    assert files_of(folder) == before, "nothing is written"
    assert MODULE_NAME not in sys.modules


def test_the_python_readers_refuse_before_importing(poisoned):
    train, pbt = poisoned["train"], poisoned["pbt"]
    run = load_run(train)
    params = jax.tree.map(lambda x: x[0], run.params)
    obs_norm = jax.tree.map(lambda x: x[0], run.obs_norm)
    calls = [
        lambda: evaluate_run(run, 2),
        lambda: ppo_jax.evaluate(run.config, params, jax.random.PRNGKey(0), 2, obs_norm=obs_norm),
        lambda: ppo_jax.export_policy(run.config, params, obs_norm=obs_norm),
        lambda: ppo_jax.make_env(run.config),
        lambda: ppo_jax.make_env(run.config.replace(num_envs=8)),
        lambda: ppo_jax.run_experiment(None, None, train, resume=True),
        lambda: ppo_jax.run_pbt_experiment(None, None, None, pbt, resume=True),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="trust_env_module=True"):
            call()
    assert MODULE_NAME not in sys.modules


def test_trusting_the_folder_builds_the_environment_it_names(trained, tmp_path, monkeypatch):
    """The opt-in is real: a trusted folder's ``module:attribute`` environment is imported
    and called with the folder's ``env_kwargs``; given ``env=``, evaluation needs no trust."""
    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    doc = json.loads((folder / rundir.CONFIG_FILE).read_text())
    doc["config"]["env_name"] = "probe_envs:make_cartpole"
    (folder / rundir.CONFIG_FILE).write_text(json.dumps(doc))
    calls: list[dict[str, Any]] = []
    import probe_envs

    monkeypatch.setattr(
        probe_envs,
        "make_cartpole",
        lambda **kw: calls.append(kw) or ppo_jax.make_env(PPOConfig()),
        raising=False,
    )
    run = load_run(folder, trust_env_module=True)
    assert run.config.env_origin is None
    returns = evaluate_run(run, 2)
    assert calls == [{}] and len(returns) == 2
    env, env_params = ppo_jax.make_env(PPOConfig())
    untrusted = load_run(folder)
    assert evaluate_run(untrusted, 2, env=env, env_params=env_params) == returns


SHADOWED = (
    "gymnax", "matplotlib", "rliable", "numpy", "scipy", "pandas", "PIL", "seaborn",
    "tensorboardX", "jax", "flax", "optax", "msgpack", "envpool",
)  # fmt: skip
"""Installed packages the commands import; a module of each name lies in the folder."""


def shadow(folder: Path, marker: Path) -> None:
    """Put a module named like each of :data:`SHADOWED` into ``folder``, each leaving
    ``marker`` when imported, and check that they work: ``python -c`` (which puts the
    working directory first) imports them."""
    for name in SHADOWED:
        (folder / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    subprocess.run([sys.executable, "-c", "import numpy"], cwd=folder, timeout=60, check=True)
    assert marker.exists(), "the shadowing modules are imported from the working directory"
    marker.unlink()


def installed_command() -> Path:
    command = Path(sys.executable).parent / "ppo-jax"
    if not command.exists():
        pytest.skip("the ppo-jax command is not installed (pip install -e .)")
    return command


def test_no_module_inside_the_folder_is_imported_by_the_cli(trained, tmp_path):
    """The ``ppo-jax`` command and ``python -m ppo_jax`` in fresh processes, their working
    directory the poisoned folder, which also holds modules shadowing what they import
    (``numpy.py``, ``matplotlib.py``, ``gymnax.py``, ...): ``eval`` refuses naming the flag,
    ``plot`` succeeds, and no marker appears (reading a folder puts no folder on the import
    path, and ``python -m ppo_jax`` takes out the one Python put first)."""
    command = installed_command()
    marker = tmp_path / "MARKER"
    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    poison(folder, f"{MODULE_NAME}:make", {}, marker)
    shadow(folder, marker)
    runs = (
        ([str(command), "eval", "."], 2),
        ([str(command), "plot", "."], 0),
        ([sys.executable, "-m", "ppo_jax", "plot", "."], 0),
    )
    for argv, code in runs:
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=240)
        assert done.returncode == code, (argv, done.stderr)
        assert not marker.exists(), argv
        if code:
            assert "--trust-env-module" in done.stderr


PYTHON_API_READERS = """
import sys
import ppo_jax
from ppo_jax.run.compare import compare_runs
from ppo_jax.io.plotting import replot

run = ppo_jax.load_run(".", params=False)
assert run.params is None and run.metrics["episode_return"].shape[0] == 2
assert ppo_jax.load_run(".").params is not None
replot(".")
assert compare_runs([".", "."])[0]["rows"] == 2
ppo_jax.make_env(ppo_jax.PPOConfig())
assert "." not in sys.path and "" not in sys.path
"""


def test_the_python_api_imports_nothing_from_the_working_directory(trained, tmp_path):
    """A script elsewhere, run in a folder of shadowing modules, reads the folder with the
    Python API (``load_run`` with and without parameters, ``replot``, ``compare_runs``) and
    builds a gymnax environment: nothing is imported from the working directory."""
    marker = tmp_path / "MARKER"
    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    shadow(folder, marker)
    script = tmp_path / "elsewhere" / "read.py"
    script.parent.mkdir()
    script.write_text(PYTHON_API_READERS)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


MY_ENVS = """
import gymnax


def make():
    return gymnax.make("CartPole-v1")
"""


@pytest.mark.heavy
@pytest.mark.timeout(900)
def test_training_in_a_folder_of_shadowing_modules(tmp_path):
    """New runs through the installed script, ``python -m ppo_jax`` and the Python API, in a
    folder of shadowing modules: a gymnax id (with TensorBoard, which imports tensorboardX)
    imports nothing from it; a ``module:attribute`` environment that lives there is found (the
    folder is appended to the path) while its own ``import gymnax`` still gets the installed
    gymnax. No marker appears."""
    command = installed_command()
    marker = tmp_path / "MARKER"
    folder = tmp_path / "work"
    folder.mkdir()
    shadow(folder, marker)
    (folder / "my_envs_in_cwd.py").write_text(MY_ENVS)
    runs = [
        [str(command), "train", *TINY, "--out", "a", "--tensorboard", "tb", "--quiet"],
        [sys.executable, "-m", "ppo_jax", "train", *TINY, "--out", "b", "--quiet"],
        [str(command), "train", *TINY, "--env", "my_envs_in_cwd:make", "--out", "c", "--quiet"],
        [sys.executable, "-m", "ppo_jax", "train", *TINY, "--env", "my_envs_in_cwd:make",
         "--out", "d", "--quiet"],
    ]  # fmt: skip
    for argv in runs:
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
        assert not marker.exists(), argv
    script = tmp_path / "elsewhere.py"
    script.write_text(
        "import ppo_jax\n"
        "config = ppo_jax.PPOConfig(num_envs=4, num_steps=8, total_timesteps=96,\n"
        "    num_minibatches=2, update_epochs=1, hidden_sizes=(8,))\n"
        "ppo_jax.run_experiment(config, [0, 1], 'e', tensorboard='tb-e')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists()


def test_trust_flag_is_refused_without_resume(capsys):
    assert exit_code(["train", "--trust-env-module", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err


# --------------------------------------------------------------------------- fuzzed config.json
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def field_values() -> st.SearchStrategy[dict[str, Any]]:
    names = [*PPOConfig().to_dict(), "unknown_field"]
    return st.dictionaries(st.sampled_from(names), JSON, max_size=4)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fields=field_values(),
    top=st.dictionaries(
        st.sampled_from(["kind", "seeds", "checkpoint_every", "hp", "settings", "extra"]),
        JSON,
        max_size=3,
    ),
)
def test_fuzzed_config_json_gives_a_clean_value_error(trained, tmp_path_factory, fields, top):
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(trained["train"], folder, dirs_exist_ok=True)
    doc = json.loads((folder / rundir.CONFIG_FILE).read_text())
    doc["config"].update(fields)
    doc.update(top)
    (folder / rundir.CONFIG_FILE).write_text(json.dumps(doc, allow_nan=True))
    try:
        run = load_run(folder)
    except ValueError as err:
        assert str(err) and "\n" not in str(err)
    else:  # what loaded is what the file says
        assert run.config.to_dict()["env_name"] == doc["config"]["env_name"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"config": ' + "[" * 100_000 + "]" * 100_000 + "}", id="deep-nesting"),
        pytest.param('{"config": {"num_envs": NaN}, "seeds": [0]}', id="nan"),
        pytest.param('{"config": {"gamma": Infinity}, "seeds": [0]}', id="inf"),
        pytest.param('{"config": {}, "seeds": [0], "hp": {"__class__": 1}}', id="hp-name"),
        pytest.param('{"config": {}, "seeds": [0], "hp": {"gamma": 7}}', id="hp-range"),
        pytest.param('{"config": {"env_kwargs": {"a": [[[]]]}}, "seeds": [0]}', id="kwargs"),
        pytest.param("[" * 200_000, id="unclosed"),
        pytest.param('{"config": 1e999999, "seeds": [0]}', id="huge-number"),
    ],
)
def test_hostile_config_json_is_refused_in_one_line(trained, tmp_path, text):
    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    (folder / rundir.CONFIG_FILE).write_text(text)
    with pytest.raises(ValueError) as info:
        load_run(folder)
    assert "\n" not in str(info.value) and len(str(info.value)) < 2000


def test_hostile_checkpoint_names_are_refused(trained, tmp_path):
    """A checkpoint whose array names are not a parameter dict (rewritten with a valid
    header and hash) is refused by name, never evaluated."""
    from ppo_jax.io import checkpoint

    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    path = checkpoint.latest(folder)
    ckpt = checkpoint.load(path)
    for bad in (
        ".train_state.params['a'].__class__",
        ".train_state.params[__import__('os')]",
        ".train_state.params['a\\x']",
    ):
        state = {**ckpt.state, bad: np.zeros((2,), np.float32)}
        checkpoint.atomic_write(path, checkpoint.encode(ckpt._replace(state=state)))
        assert_damaged(folder, r"not a dict entry|malformed")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"updates_done": 1e999}, id="overflow"),
        pytest.param({"updates_done": None}, id="null-updates"),
        pytest.param({"runs": 5}, id="runs-not-a-list"),
        pytest.param({"metrics": {"x": [5, 6]}}, id="row-not-a-list"),
        pytest.param({"metrics": {"x": [[1.0], [2.0]]}}, id="no-episode-return"),
        pytest.param({"metrics": {"episode_return": [[10**400], [1]]}}, id="huge-int"),
    ],
)
def test_hostile_results_json_is_refused_by_every_reader(trained, tmp_path, capsys, change):
    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    doc = json.loads((folder / rundir.RESULTS_FILE).read_text())
    doc.update(change)
    (folder / rundir.RESULTS_FILE).write_text(json.dumps(doc))
    with pytest.raises(ValueError):
        load_run(folder)
    for argv in (["plot", str(folder)], ["compare", str(folder)]):
        assert exit_code(argv) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("seed,update,episode_return\n0,1\n", id="short-row"),
        pytest.param("seed,update," + ",".join(f"c{i}" for i in range(5000)) + "\n", id="wide"),
        pytest.param("seed,update,episode_return\n0,1,abc\n", id="not-a-number"),
        pytest.param("seed,update,episode_return\n0,1,1\n0,2,1\n1,1,1\n", id="ragged"),
        pytest.param('seed,update,episode_return\n0,1,"1\x00\n', id="nul"),
    ],
)
def test_hostile_metrics_csv_is_refused(tmp_path, text):
    path = tmp_path / "metrics.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"metrics\.csv"):
        runload.read_metrics_csv(path)


def test_hostile_checkpoints_are_bounded(trained, tmp_path):
    """A checkpoint declaring more bytes than any reader takes is refused from its header
    (a sparse file: nothing is read), and a 5,000-deep parameter name is refused by name."""
    from ppo_jax.io import checkpoint

    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    path = checkpoint.latest(folder)
    ckpt = checkpoint.load(path)
    deep = ".train_state.params" + "['a']" * 5000
    state = {**ckpt.state, deep: np.zeros((2,), np.float32)}
    checkpoint.atomic_write(path, checkpoint.encode(ckpt._replace(state=state)))
    assert_damaged(folder, r"not a dict entry|strings of at most")
    header = checkpoint.encode(ckpt)[: checkpoint.HEADER_BYTES]
    magic, version, _, digest = struct.unpack("<8sIQ32s", header)
    huge = checkpoint.MAX_READ_BYTES + 1
    with open(path, "wb") as fh:
        fh.write(struct.pack("<8sIQ32s", magic, version, huge, digest))
        fh.truncate(checkpoint.HEADER_BYTES + huge)  # sparse: no disk used
    assert_damaged(folder, "declares")


def assert_damaged(folder: Path, needle: str) -> None:
    """``folder``'s newest checkpoint is refused by every reader that needs it, in one line
    naming ``needle``: ``load_run`` warns once (no parameters), ``evaluate_run`` and ``ppo-jax
    eval`` refuse; the metrics of ``results.json`` still load, without a warning when no
    parameters are asked for."""
    with pytest.warns(DamagedCheckpointWarning, match=needle) as caught:
        run = load_run(folder)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert run.params is None and run.train_state is None and run.metrics
    with pytest.raises(ValueError, match="no checkpoint to evaluate"):
        evaluate_run(run, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_run(folder, params=False).metrics.keys() == run.metrics.keys()
    assert exit_code(["eval", str(folder)]) == 2


# --------------------------------------------------------------------------- damaged checkpoints
def damage(path: Path, how: str, where: float) -> None:
    """Truncate the file at the fraction ``where`` of its length, or flip one byte there."""
    data = bytearray(path.read_bytes())
    at = min(len(data) - 1, int(where * len(data)))
    if how == "truncate":
        path.write_bytes(bytes(data[:at]))
    else:
        data[at] ^= 0xFF
        path.write_bytes(bytes(data))


def check_damaged_folder(
    trained: dict[str, Path], base: Path, how: str, where: float, capsys: Any
) -> None:
    """A copy of the trained folder with its newest checkpoint damaged: ``plot`` and
    ``compare`` work from ``results.json`` and ``metrics.csv`` alone (no warning: they open
    no checkpoint), ``load_run(params=False)`` reads the same metrics as from the whole
    folder, and ``eval`` refuses in one line naming the checkpoint."""
    from ppo_jax.io import checkpoint

    folder = base / "train"
    shutil.copytree(trained["train"], folder)
    newest = checkpoint.latest(folder)
    damage(newest, how, where)
    capsys.readouterr()
    assert exit_code(["plot", str(folder)]) == 0
    assert exit_code(["compare", str(folder), str(trained["train"])]) == 0
    assert capsys.readouterr().err == ""
    clean = load_run(trained["train"], params=False)
    run = load_run(folder, params=False)
    for name, values in clean.metrics.items():
        np.testing.assert_array_equal(run.metrics[name], values)
    assert exit_code(["eval", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(newest.name) in err and "eval needs" in err


def test_plot_and_compare_read_the_metrics_of_a_truncated_folder(trained, tmp_path, capsys):
    """The case that was refused: the newest checkpoint cut in half (see
    :func:`check_damaged_folder`)."""
    check_damaged_folder(trained, tmp_path, "truncate", 0.5, capsys)


@pytest.mark.heavy
@settings(max_examples=16, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(how=st.sampled_from(["truncate", "flip"]), where=st.floats(0.0, 0.999))
def test_plot_and_compare_read_the_metrics_of_any_damaged_folder(
    trained, tmp_path_factory, capsys, how, where
):
    """The newest checkpoint truncated anywhere or with a byte flipped anywhere (magic,
    header, hash, payload): :func:`check_damaged_folder` holds for each."""
    check_damaged_folder(trained, tmp_path_factory.mktemp("damaged"), how, where, capsys)


def test_a_run_killed_before_its_results_reads_the_checkpoints_metrics(trained, tmp_path, capsys):
    """Without ``results.json`` (a process killed outright) the metrics come from the newest
    checkpoint; damaged, it is one warning line and the plot is refused in one more."""
    from ppo_jax.io import checkpoint

    folder = tmp_path / "train"
    shutil.copytree(trained["train"], folder)
    (folder / rundir.RESULTS_FILE).unlink()
    assert load_run(folder, params=False).metrics["episode_return"].shape[0] == 2
    assert exit_code(["plot", str(folder)]) == 0
    damage(checkpoint.latest(folder), "truncate", 0.5)
    capsys.readouterr()
    assert exit_code(["plot", str(folder)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("ppo-jax plot: warning: checkpoint")
    assert "holds no metrics" in lines[1]
