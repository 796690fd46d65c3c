"""ppo_jax: fast, correct PPO in JAX.

Three layers and a thin shell: ``ppo_jax.core`` (pure, jittable), ``ppo_jax.run`` (compiled
programs, devices, sessions), ``ppo_jax.io`` (checkpoints, run folders, sinks, plots, tuned
configs) and ``ppo_jax.cli`` (the ``ppo-jax`` command, a face of ``run`` and ``io``).

Public API::

    PPOConfig, Hyperparams, get_config, make_env,
    train, train_seeds, TrainResult, make_train,
    run_experiment, load_run, RunResult,
    sweep, SweepResult, random_settings, LogUniform, Uniform,
    pbt, PBTResult, run_pbt_experiment,
    evaluate, EvalResult, export_policy, Policy, policy_logits, state_value,
    benchmark, BenchResult, BenchCell,
    compute_gae, compute_reward_to_go, clipped_surrogate_loss, value_loss

Old spellings (``ppo_jax.summary``, ``ppo_jax.configs``, ``ppo_jax.xla``,
``ppo_jax.distributed``, and names that moved between ``ppo_jax.run`` modules) are listed in
:mod:`ppo_jax.compat`.

Importing ``ppo_jax`` before JAX runs anything gives JAX one CPU device per core
(``ppo_jax.run.parallel.configure_cpu_devices``), so runs use every core by default.
"""

from ppo_jax.run import parallel as _parallel

_parallel.configure_cpu_devices()

from ppo_jax import compat as _compat  # noqa: E402
from ppo_jax.core.config import Hyperparams, PPOConfig  # noqa: E402
from ppo_jax.core.envs import make_env  # noqa: E402
from ppo_jax.core.gae import compute_gae, compute_reward_to_go  # noqa: E402
from ppo_jax.core.loss import clipped_surrogate_loss, value_loss  # noqa: E402
from ppo_jax.core.train import make_train  # noqa: E402
from ppo_jax.io.rundir import RunResult  # noqa: E402
from ppo_jax.io.tuned import get_config  # noqa: E402
from ppo_jax.run.benchmark import BenchCell, BenchResult, benchmark  # noqa: E402
from ppo_jax.run.drivers import TrainResult, train, train_seeds  # noqa: E402
from ppo_jax.run.evaluate import (  # noqa: E402
    EvalResult,
    Policy,
    evaluate,
    export_policy,
    policy_logits,
    state_value,
)
from ppo_jax.run.folders import load_run  # noqa: E402
from ppo_jax.run.pbt import run_pbt_experiment  # noqa: E402
from ppo_jax.run.population import PBTResult, pbt  # noqa: E402
from ppo_jax.run.session import run_experiment  # noqa: E402
from ppo_jax.run.sweep import LogUniform, SweepResult, Uniform, random_settings, sweep  # noqa: E402

__version__ = "0.3.0"

_compat.install()  # the old module paths (ppo_jax.summary, ...): see ppo_jax.compat

__all__ = [
    "BenchCell",
    "BenchResult",
    "EvalResult",
    "Hyperparams",
    "LogUniform",
    "PBTResult",
    "PPOConfig",
    "Policy",
    "RunResult",
    "SweepResult",
    "TrainResult",
    "Uniform",
    "__version__",
    "benchmark",
    "clipped_surrogate_loss",
    "compute_gae",
    "compute_reward_to_go",
    "evaluate",
    "export_policy",
    "get_config",
    "load_run",
    "make_env",
    "make_train",
    "pbt",
    "policy_logits",
    "random_settings",
    "run_experiment",
    "run_pbt_experiment",
    "state_value",
    "sweep",
    "train",
    "train_seeds",
    "value_loss",
]
