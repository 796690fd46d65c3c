"""The problem a run trains on (:class:`Problem`) and what a compiled program closes over
(:class:`TrainSpec`).

A :class:`Problem` is everything beyond the config: the environment object and its parameters
(``None``: the environment ``config.env_name`` names), the network, the learning-rate schedule
and the custom-metrics hook. It travels as one value through every layer; the public drivers
also take its five parts as keywords (:class:`ProblemKeywords`) and build it.

A :class:`TrainSpec` is hashable and closed over by the compiled program, so it is the
compile-cache key: the static part of the config (a :class:`~ppo_jax.core.config.StaticConfig`,
with no traced hyperparameter), the environment and its :class:`~ppo_jax.core.envs.EnvSignature`
(its one abstract trace), the network, and the extension points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypedDict

from ppo_jax.core.config import PPOConfig, StaticConfig
from ppo_jax.core.envs import EnvSignature, has_action_mask, inspect_env
from ppo_jax.core.networks import Network, check_network, make_network
from ppo_jax.core.types import Array, Transition

Schedule = Callable[[Array], Array]
"""An optax schedule: gradient-step count (int32 scalar) -> learning rate."""
MetricsFn = Callable[[Transition], Mapping[str, Array]]
"""``metrics_fn(traj)``: a rollout ``Transition`` with ``[T, N]`` leading axes -> named scalars."""


class Problem(NamedTuple):
    """What a run trains on beyond its config, as one value (every part optional).

    ``ppo_jax.train_seeds(config, 8, problem=Problem(env=MyEnv(), network=MyNet()))`` is
    ``ppo_jax.train_seeds(config, 8, env=MyEnv(), network=MyNet())``.
    """

    env: Any = None
    """An environment object (the :class:`~ppo_jax.core.envs.Environment` contract); ``None``:
    the one ``config.env_name`` names."""
    env_params: Any = None
    """Its parameters; ``None``: the environment's ``default_params``."""
    network: Any = None
    """A flax Module ``obs -> (logits or mean, value)`` (see :mod:`ppo_jax.core.networks`);
    ``None``: the built-in network of the config."""
    lr_schedule: Schedule | None = None
    """An optax schedule of the gradient-step count; when given it sets the learning rate
    (``Hyperparams.learning_rate`` is then ignored)."""
    metrics_fn: MetricsFn | None = None
    """``traj -> {name: scalar}`` logged per update beside the built-in metrics."""


class ExtensionKeywords(TypedDict, total=False):
    """The parts of a :class:`Problem` but the environment object, as keyword arguments."""

    env_params: Any
    network: Any
    lr_schedule: Schedule | None
    metrics_fn: MetricsFn | None


class ProblemKeywords(ExtensionKeywords, total=False):
    """The parts of a :class:`Problem` as keyword arguments of the public drivers (each as
    documented there)."""

    env: Any


PROBLEM_PARTS = Problem._fields
"""The keyword arguments that build a :class:`Problem`."""


def problem_of(problem: Any = None, keywords: Mapping[str, Any] | None = None) -> Problem:
    """The :class:`Problem` of a call: ``problem`` itself, or one built from ``keywords`` (the
    parts as keyword arguments); giving both, or an unknown keyword, is a ``TypeError``."""
    keywords = dict(keywords or {})
    unknown = sorted(set(keywords) - set(PROBLEM_PARTS))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {unknown}; the problem's parts are "
            f"{list(PROBLEM_PARTS)}"
        )
    if problem is None:
        return Problem(**keywords)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a ppo_jax.Problem, got {type(problem).__name__}")
    given = [k for k, v in keywords.items() if v is not None]
    if given:
        raise TypeError(f"give the problem's parts in problem= or as keywords, not both ({given})")
    return problem


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What a compiled training program closes over. Build it with :func:`make_spec`."""

    config: StaticConfig
    """The static part of the config (:meth:`PPOConfig.static`); traced values come from
    :class:`~ppo_jax.core.config.Hyperparams` (reading one here is an ``AttributeError``)."""
    env: Any
    network: Network
    lr_schedule: Schedule | None = None
    """When given, the learning rate at gradient step ``t`` is ``lr_schedule(t)`` (and
    ``Hyperparams.learning_rate`` is ignored)."""
    metrics_fn: MetricsFn | None = None
    """Custom per-update metrics computed from each rollout."""
    signature: EnvSignature | None = None
    """The environment's abstract trace (:func:`~ppo_jax.core.envs.inspect_env`)."""

    def __post_init__(self) -> None:
        if type(self.config) is not StaticConfig:
            raise TypeError(
                "TrainSpec.config must be a StaticConfig (PPOConfig.static()): a compiled "
                "program reads traced values from Hyperparams only; got "
                f"{type(self.config).__name__}"
            )

    @property
    def masked(self) -> bool:
        """Whether the environment restricts actions (``action_mask(state, params)``)."""
        return has_action_mask(self.env)


def make_spec(
    config: PPOConfig | StaticConfig,
    problem: Problem | Any,
    env_params: Any = None,
    *,
    conv: str = "im2col",
    **keywords: Any,
) -> TrainSpec:
    """Bind the static part of ``config`` to a :class:`Problem` whose environment is given
    (``problem.env`` not ``None``; ``env_params`` default to its ``default_params``).

    The older call ``make_spec(config, env, env_params, network=..., lr_schedule=...,
    metrics_fn=...)`` builds the problem from its parts. ``network`` (a flax Module or ``None``
    for the built-in one) is checked abstractly here (a ``ValueError`` names wrong output
    shapes before anything compiles); ``conv`` chooses the built-in CNN's convolution."""
    if not isinstance(problem, Problem):
        problem = problem_of(None, {"env": problem, "env_params": env_params, **keywords})
    elif env_params is not None or keywords:
        raise TypeError("make_spec(config, problem): the problem holds env_params and the rest")
    if problem.env is None:
        raise ValueError("make_spec needs the environment object (problem.env)")
    env = problem.env
    params = env.default_params if problem.env_params is None else problem.env_params
    signature = inspect_env(env, params)
    static = config.static() if isinstance(config, PPOConfig) else config
    network = problem.network
    net = make_network(static, signature.obs, signature.action, network, conv)
    if network is not None:
        check_network(net)
    if network is not None and (static.recurrent is not None) and not net.recurrent:
        raise ValueError(
            "PPOConfig.recurrent is set but network= is a feed-forward module (it has no "
            "initial_state); give a recurrent module or leave network=None"
        )
    if problem.lr_schedule is not None and not callable(problem.lr_schedule):
        raise TypeError(
            f"lr_schedule must be callable (an optax schedule: step -> learning rate), got "
            f"{type(problem.lr_schedule).__name__}"
        )
    if problem.metrics_fn is not None and not callable(problem.metrics_fn):
        raise TypeError(
            f"metrics_fn must be callable (traj -> dict of scalars), got "
            f"{type(problem.metrics_fn).__name__}"
        )
    return TrainSpec(
        config=static,
        env=env,
        network=net,
        lr_schedule=problem.lr_schedule,
        metrics_fn=problem.metrics_fn,
        signature=signature,
    )
