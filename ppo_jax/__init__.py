"""ppo_jax: fast, correct PPO in JAX.

Three layers and a thin shell: ``ppo_jax.core`` (pure, jittable), ``ppo_jax.run`` (compiled
programs, devices, sessions), ``ppo_jax.io`` (checkpoints, run folders, sinks, plots, tuned
configs) and ``ppo_jax.cli`` (the ``ppo-jax`` command, a face of ``run`` and ``io``).

Public API::

    PPOConfig, StaticConfig, Hyperparams, Problem, get_config, make_env,
    train, train_seeds, TrainResult, make_train,
    run_experiment, load_run, RunResult,
    sweep, SweepResult, run_sweep_experiment, random_settings, LogUniform, Uniform,
    pbt, PBTResult, run_pbt_experiment,
    evaluate, EvalResult, export_policy, Policy, policy_logits, state_value,
    compare_runs, Interval, iqm_interval, improvement_interval, compare_groups,
    final_return, steps_to_solve, format_number, format_interval,
    benchmark, BenchResult, BenchCell,
    compute_gae, compute_reward_to_go, clipped_surrogate_loss, value_loss

Every experiment (``run_experiment``, ``run_sweep_experiment``, ``run_pbt_experiment``) runs
through one pipeline, ``ppo_jax.run.experiment``. Old spellings (``ppo_jax.summary``,
``ppo_jax.configs``, ``ppo_jax.xla``, ``ppo_jax.distributed``, ``ppo_jax.run.drivers``, the
``ppo_jax.run.session*`` modules, and names that moved between modules) are listed in
:mod:`ppo_jax.compat`.

Importing ``ppo_jax`` before JAX runs anything gives JAX one CPU device per core
(``ppo_jax.run.parallel.configure_cpu_devices``), so runs use every core by default.
Under ``python -m ppo_jax`` the working directory Python put first on ``sys.path`` is taken
out before anything else is imported (``ppo_jax.importpath``): a ``numpy.py`` in the folder
one works in is never imported in place of numpy.
"""

from ppo_jax import importpath as _importpath

_importpath.drop_cwd_of_python_m()  # before any third-party import

from ppo_jax.run import parallel as _parallel  # noqa: E402

_parallel.configure_cpu_devices()

from ppo_jax import compat as _compat  # noqa: E402
from ppo_jax.core.config import Hyperparams, PPOConfig, StaticConfig  # noqa: E402
from ppo_jax.core.envs import make_env  # noqa: E402
from ppo_jax.core.gae import compute_gae, compute_reward_to_go  # noqa: E402
from ppo_jax.core.loss import clipped_surrogate_loss, value_loss  # noqa: E402
from ppo_jax.core.search import LogUniform, Uniform, random_settings  # noqa: E402
from ppo_jax.core.spec import Problem  # noqa: E402
from ppo_jax.core.train import make_train  # noqa: E402
from ppo_jax.io.rundir import RunResult  # noqa: E402
from ppo_jax.io.runload import load_run  # noqa: E402
from ppo_jax.io.stats import (  # noqa: E402
    Interval,
    compare_groups,
    final_return,
    format_interval,
    format_number,
    improvement_interval,
    iqm_interval,
    steps_to_solve,
)
from ppo_jax.io.tuned import get_config  # noqa: E402
from ppo_jax.run.benchmark import BenchCell, BenchResult, benchmark  # noqa: E402
from ppo_jax.run.compare import compare_runs  # noqa: E402
from ppo_jax.run.evaluate import (  # noqa: E402
    EvalResult,
    Policy,
    evaluate,
    export_policy,
    policy_logits,
    state_value,
)
from ppo_jax.run.experiment import run_experiment  # noqa: E402
from ppo_jax.run.pbt import PBTResult, pbt, run_pbt_experiment  # noqa: E402
from ppo_jax.run.programs import TrainResult, train, train_seeds  # noqa: E402
from ppo_jax.run.sweep import SweepResult, run_sweep_experiment, sweep  # noqa: E402

__version__ = "0.4.0"

_compat.install()  # the old module paths (ppo_jax.summary, ...): see ppo_jax.compat

__all__ = [
    "BenchCell",
    "BenchResult",
    "EvalResult",
    "Hyperparams",
    "Interval",
    "LogUniform",
    "PBTResult",
    "PPOConfig",
    "Policy",
    "Problem",
    "RunResult",
    "StaticConfig",
    "SweepResult",
    "TrainResult",
    "Uniform",
    "__version__",
    "benchmark",
    "clipped_surrogate_loss",
    "compare_groups",
    "compare_runs",
    "compute_gae",
    "compute_reward_to_go",
    "evaluate",
    "export_policy",
    "final_return",
    "format_interval",
    "format_number",
    "get_config",
    "improvement_interval",
    "iqm_interval",
    "load_run",
    "make_env",
    "make_train",
    "pbt",
    "policy_logits",
    "random_settings",
    "run_experiment",
    "run_pbt_experiment",
    "run_sweep_experiment",
    "state_value",
    "steps_to_solve",
    "sweep",
    "train",
    "train_seeds",
    "value_loss",
]
