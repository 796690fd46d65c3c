""":class:`TrainSpec`: the static (non-traced) objects a training program is built from.

Everything in it is hashable and closed over by the compiled program, so it is the compile-cache
key: the static part of the config, the environment, the network, and the optional extension
points (learning-rate schedule, custom metrics).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ppo_jax.core.config import PPOConfig
from ppo_jax.core.envs import env_spec, has_action_mask
from ppo_jax.core.networks import Network, check_network, make_network
from ppo_jax.core.types import Array, Transition

Schedule = Callable[[Array], Array]
"""An optax schedule: gradient-step count (int32 scalar) -> learning rate."""
MetricsFn = Callable[[Transition], Mapping[str, Array]]
"""``metrics_fn(traj)``: a rollout ``Transition`` with ``[T, N]`` leading axes -> named scalars."""


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What a compiled training program closes over. Build it with :func:`make_spec`."""

    config: PPOConfig
    """The static part of the config (:meth:`PPOConfig.static`); traced values come from
    :class:`~ppo_jax.core.config.Hyperparams`."""
    env: Any
    network: Network
    lr_schedule: Schedule | None = None
    """When given, the learning rate at gradient step ``t`` is ``lr_schedule(t)`` (and
    ``Hyperparams.learning_rate`` is ignored)."""
    metrics_fn: MetricsFn | None = None
    """Custom per-update metrics computed from each rollout."""

    @property
    def masked(self) -> bool:
        """Whether the environment restricts actions (``action_mask(state, params)``)."""
        return has_action_mask(self.env)


def make_spec(
    config: PPOConfig,
    env: Any,
    env_params: Any,
    *,
    network: Any = None,
    lr_schedule: Schedule | None = None,
    metrics_fn: MetricsFn | None = None,
    conv: str = "im2col",
) -> TrainSpec:
    """Bind ``config`` (static part), ``env`` and the network. ``network`` is a flax Module
    (see :mod:`ppo_jax.core.networks`) or ``None`` for the built-in one; it is checked
    abstractly here (a ``ValueError`` names wrong output shapes before anything compiles)."""
    obs_shape, action = env_spec(env, env_params)
    net = make_network(config, obs_shape, action, network, conv)
    if network is not None:
        check_network(net)
    if network is not None and (config.recurrent is not None) and not net.recurrent:
        raise ValueError(
            "PPOConfig.recurrent is set but network= is a feed-forward module (it has no "
            "initial_state); give a recurrent module or leave network=None"
        )
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(
            f"lr_schedule must be callable (an optax schedule: step -> learning rate), got "
            f"{type(lr_schedule).__name__}"
        )
    if metrics_fn is not None and not callable(metrics_fn):
        raise TypeError(
            f"metrics_fn must be callable (traj -> dict of scalars), got "
            f"{type(metrics_fn).__name__}"
        )
    return TrainSpec(
        config=config.static(),
        env=env,
        network=net,
        lr_schedule=lr_schedule,
        metrics_fn=metrics_fn,
    )
