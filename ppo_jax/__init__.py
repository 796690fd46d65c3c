"""ppo_jax: fast, correct PPO in JAX on gymnax environments.

Public API::

    PPOConfig, Hyperparams, TrainResult, train, train_seeds, make_train,
    sweep, SweepResult, random_settings, LogUniform, Uniform,
    evaluate, EvalResult, export_policy, get_config (tuned configs, see ppo_jax.configs),
    policy_logits, state_value, compute_gae, compute_reward_to_go,
    clipped_surrogate_loss, value_loss, make_env
"""

from ppo_jax.config import Hyperparams, PPOConfig
from ppo_jax.configs import get_config
from ppo_jax.envs import make_env
from ppo_jax.evaluate import EvalResult, evaluate, export_policy
from ppo_jax.gae import compute_gae, compute_reward_to_go
from ppo_jax.loss import clipped_surrogate_loss, value_loss
from ppo_jax.networks import policy_logits, state_value
from ppo_jax.sweep import LogUniform, SweepResult, Uniform, random_settings, sweep
from ppo_jax.train import TrainResult, make_train, train, train_seeds

__version__ = "0.1.0"

__all__ = [
    "EvalResult",
    "Hyperparams",
    "LogUniform",
    "PPOConfig",
    "SweepResult",
    "TrainResult",
    "Uniform",
    "__version__",
    "clipped_surrogate_loss",
    "compute_gae",
    "compute_reward_to_go",
    "evaluate",
    "export_policy",
    "get_config",
    "make_env",
    "make_train",
    "policy_logits",
    "random_settings",
    "state_value",
    "sweep",
    "train",
    "train_seeds",
    "value_loss",
]
