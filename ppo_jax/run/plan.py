"""Plans: every input of a run checked and resolved, before anything is compiled.

A :class:`Plan` is what a multi-run program needs: the :class:`~ppo_jax.core.spec.TrainSpec`
(the static config, the problem's environment, network and extension points, checked
abstractly), the environment parameters, the device layout, the ``[R]`` run keys and the traced
hyperparameters. :func:`resolve_spec` turns a config and a :class:`~ppo_jax.core.spec.Problem`
into the spec (the environment a config names is built once per process and cached);
:func:`plan_seeds` plans ``R`` seeds of one setting; sweeps and PBT plan their runs from the
same pieces. The device memory a run needs is estimated here (:func:`estimate_run_bytes`,
:func:`check_memory`), so a run that cannot fit is refused before it compiles.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import TRACED_FIELDS, Hyperparams, PPOConfig, StaticConfig
from ppo_jax.core.envs import (
    check_env_settings,
    check_env_trusted,
    is_batched_env,
    make_env,
    obs_size,
)
from ppo_jax.core.seeds import check_seed_values
from ppo_jax.core.spec import Problem, ProblemKeywords, TrainSpec, make_spec, problem_of
from ppo_jax.core.train import init_runner
from ppo_jax.core.types import EVAL_METRIC_NAMES, METRIC_NAMES, Array, Transition
from ppo_jax.run import backend, parallel

if TYPE_CHECKING:
    from typing import Unpack

MAX_RUNS = 2**20
"""Most runs (seeds x settings) one call accepts."""


def check_config(config: Any) -> PPOConfig:
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a ppo_jax.PPOConfig, got {type(config).__name__}")
    return config


def check_key(key: Any) -> Array:
    """A ``uint32[2]`` key from a ``jax.random.PRNGKey`` or a typed key."""
    key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if key.shape != (2,) or key.dtype != jnp.uint32:
        raise ValueError(
            "key must be a jax.random.PRNGKey (uint32[2]) or a typed key, got "
            f"{key.dtype}{list(key.shape)}"
        )
    return key


def seed_list(seeds: Any, what: str = "seeds") -> list[int]:
    """The seeds of an int count (``range(seeds)``) or a sequence of ints in
    ``[0, 2**32)``, without duplicates; ``TypeError``/``ValueError`` naming ``what``."""
    if isinstance(seeds, np.integer):
        seeds = int(seeds)
    if isinstance(seeds, bool) or not isinstance(seeds, int | Sequence) or isinstance(seeds, str):
        raise TypeError(f"{what} must be an int count or a list of ints, got {seeds!r}")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_RUNS:
            raise ValueError(f"{what} as a count must be in [1, {MAX_RUNS}], got {seeds}")
        return list(range(seeds))
    if not len(seeds):
        raise ValueError(f"{what} must not be empty")
    if len(seeds) > MAX_RUNS:
        raise ValueError(f"{what}: at most {MAX_RUNS} seeds, got {len(seeds)}")
    plain = all(type(s) is int for s in seeds)  # the common case: no per-seed Python code
    return check_seed_values(list(seeds) if plain else [_seed_int(s, what) for s in seeds], what)


def _seed_int(seed: Any, what: str) -> int:
    if isinstance(seed, np.integer):
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{what} must be ints in [0, 2**32), got {seed!r}")
    return seed


def seed_keys(seeds: Any) -> Array:
    """``[S, 2]`` keys ``PRNGKey(s)`` for a list of int seeds, or for ``range(seeds)``: one
    vectorised call (``vmap`` of ``PRNGKey`` over ``uint32`` seeds gives the same keys as
    ``PRNGKey(s)`` one by one, for every seed in ``[0, 2**32)``)."""
    values = np.asarray(seed_list(seeds), np.uint32)
    return jax.vmap(jax.random.PRNGKey)(jnp.asarray(values))


def check_hyperparams(config: PPOConfig, hp: Any) -> Hyperparams:
    """``hp`` (default ``config.hyperparams()``) validated like the config's fields: a
    :class:`Hyperparams` or a mapping of some of its fields (the rest from ``config``)."""
    if hp is None:
        return config.hyperparams()
    if isinstance(hp, Hyperparams):
        values = hp._asdict()
    elif isinstance(hp, Mapping):
        unknown = sorted(set(hp) - set(TRACED_FIELDS))
        if unknown:
            raise ValueError(f"hp: unknown field(s) {unknown}; fields are {list(TRACED_FIELDS)}")
        values = {**config.hyperparams()._asdict(), **hp}
    else:
        raise TypeError(f"hp must be a ppo_jax.Hyperparams or a dict, got {type(hp).__name__}")
    for name, value in values.items():
        if not isinstance(value, int | float | np.number) or isinstance(value, bool):
            raise TypeError(
                f"hp.{name} must be a number (arrays of settings go to ppo_jax.sweep), got "
                f"{type(value).__name__}"
            )
    checked = config.replace(**{k: float(v) for k, v in values.items()})  # validates each
    return checked.hyperparams()


@functools.lru_cache(maxsize=64)
def _named_env(env_name: str, env_kwargs: tuple[tuple[str, Any], ...]) -> tuple[Any, Any]:
    """One environment object per ``(env_name, env_kwargs)``: a stable compile-cache key."""
    config = PPOConfig(env_name=env_name, env_kwargs=env_kwargs)
    return make_env(config)


def config_env(config: PPOConfig) -> tuple[Any, Any]:
    """``(env, default env_params)`` of ``config.env_name`` (cached); refused, before any
    import, for a ``module:attribute`` name read from a run folder
    (:func:`~ppo_jax.core.envs.check_env_trusted`)."""
    check_env_trusted(config)
    return _named_env(config.env_name, config.env_kwargs)


def resolve_problem(config: PPOConfig, problem: Problem) -> Problem:
    """``problem`` with its environment resolved: the given object (checked,
    :func:`~ppo_jax.core.envs.inspect_env`) or the one ``config.env_name`` names (built once
    per process), and ``env_params`` defaulting to the environment's ``default_params``."""
    if problem.env is None:
        env, default_params = config_env(config)
    else:
        env = problem.env
        if not hasattr(env, "default_params"):
            raise TypeError(
                f"env must be a gymnax Environment (missing .default_params), got {env!r}"
            )
        default_params = env.default_params
    params = default_params if problem.env_params is None else problem.env_params
    return problem._replace(env=env, env_params=params)


def resolve_spec(
    config: Any, problem: Problem | None = None, **keywords: Unpack[ProblemKeywords]
) -> tuple[TrainSpec, Any]:
    """The :class:`TrainSpec` and environment parameters of a run on ``problem`` (or its parts
    as keywords; default: the environment ``config.env_name`` names, the built-in network),
    with every extension point checked abstractly (a ``ValueError``/``TypeError`` names what is
    wrong before anything compiles)."""
    config = check_config(config)
    resolved = resolve_problem(config, problem_of(problem, keywords))
    check_env_settings(config, resolved.env)
    spec = make_spec(config, resolved, conv=backend.conv_implementation())
    check_extensions(spec, resolved.env_params)
    return spec, resolved.env_params


def check_extensions(spec: TrainSpec, env_params: Any) -> None:
    """Abstract checks of ``lr_schedule`` (a float scalar per step) and ``metrics_fn`` (named
    scalars, names distinct from the built-in metrics)."""
    if spec.lr_schedule is not None:
        try:
            out = jax.eval_shape(spec.lr_schedule, jax.ShapeDtypeStruct((), jnp.int32))
        except Exception as err:
            raise ValueError(f"lr_schedule fails on a step count: {err!r}") from None
        if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(
                f"lr_schedule must return a float scalar per step, got {_describe(out)}"
            )
    if spec.metrics_fn is not None:
        traj = _transition_template(spec, env_params)
        try:
            out = jax.eval_shape(spec.metrics_fn, traj)
        except Exception as err:
            raise ValueError(f"metrics_fn fails on the rollout Transition: {err!r}") from None
        if not isinstance(out, Mapping):
            raise ValueError(f"metrics_fn must return a dict of scalars, got {type(out).__name__}")
        for name, value in out.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"metrics_fn: metric names must be strings, got {name!r}")
            if name in (*METRIC_NAMES, *EVAL_METRIC_NAMES, "step", "seed", "update", "setting"):
                raise ValueError(f"metrics_fn: {name!r} is a built-in metric name; rename it")
            if getattr(value, "shape", None) != ():
                raise ValueError(f"metrics_fn must return scalars; {name!r} is {_describe(value)}")


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return (
        f"{getattr(value, 'dtype', type(value).__name__)}{list(shape)}"
        if shape is not None
        else repr(value)
    )


def _transition_template(spec: TrainSpec, env_params: Any) -> Transition:
    """Shapes of a rollout ``Transition`` ``[T, N, ...]`` (abstract)."""
    from ppo_jax.core.rollout import collect_rollout

    def rollout(key: Array) -> Transition:
        runner = init_runner(spec, env_params, Hyperparams(), key)
        return collect_rollout(spec, env_params, runner.train_state, runner.env, key)[1]

    return jax.eval_shape(rollout, jax.ShapeDtypeStruct((2,), jnp.uint32))


class Plan(NamedTuple):
    """Everything a multi-run program needs, checked, before anything is compiled."""

    spec: TrainSpec
    env_params: Any
    layout: parallel.Layout
    keys: np.ndarray
    """``[R, 2]`` uint32 run keys."""
    hp: Hyperparams
    """Float32 scalars shared by every run, or ``[R]`` arrays (``hp_batched``)."""
    hp_batched: bool

    @property
    def num_runs(self) -> int:
        return int(self.keys.shape[0])

    @property
    def config(self) -> StaticConfig:
        return self.spec.config


def make_plan(
    spec: TrainSpec,
    env_params: Any,
    keys: Any,
    hp: Hyperparams,
    *,
    hp_batched: bool = False,
    shard: bool | str = "auto",
    split_envs: bool = False,
    devices: Sequence[Any] | None = None,
) -> Plan:
    """Place ``R`` runs (``keys [R, 2]``) on devices."""
    keys = np.asarray(keys, np.uint32)
    config = spec.config
    if is_batched_env(spec.env):  # one C++ pool steps every run's environments: one device
        if shard is True or split_envs:
            raise ValueError(
                f"{'split_envs' if split_envs else 'shard'}=True: {config.env_name} steps one "
                "EnvPool pool for all runs, from one device; leave it False"
            )
        shard = False
    layout = parallel.plan_layout(
        keys.shape[0],
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        num_minibatches=config.num_minibatches,
        recurrent=spec.network.recurrent,
        shard=shard,
        split_envs=split_envs,
        devices=devices,
    )
    if layout.size == 1 and keys.shape[0] > 1 and shard is not False:
        parallel.hint_single_cpu_device(f"{keys.shape[0]} runs run")
    dtype = np.float32
    leaves = [np.asarray(v, dtype) for v in hp]
    return Plan(spec, env_params, layout, keys, Hyperparams(*leaves), hp_batched)


def estimate_run_bytes(plan_or_spec: Plan | TrainSpec) -> int:
    """An upper estimate of the device memory one run needs while it trains: the learner state
    (parameters, Adam moments, gradients), the rollout and its flattened and shuffled copies,
    the activations of one minibatch, the metrics."""
    spec = plan_or_spec.spec if isinstance(plan_or_spec, Plan) else plan_or_spec
    config, net = spec.config, spec.network
    params = jax.eval_shape(net.init, jax.ShapeDtypeStruct((2,), jnp.uint32))
    n_params = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
    obs = obs_size(net.obs_shape)
    state = 4 * n_params
    transition = config.batch_size * (2 * obs + 12 + 2 * net.action.size)
    batch = 2 * config.batch_size * (obs + 6 + net.action.size)
    hidden = config.recurrent_size if config.recurrent else 0
    widest = max([*config.hidden_sizes, hidden, obs])
    activations = 2 * 3 * config.minibatch_size * widest * (len(config.hidden_sizes) + 2)
    metrics = config.num_updates * (len(METRIC_NAMES) + 8)
    return int(MEMORY_SAFETY_FACTOR * 4 * (state + transition + batch + activations + metrics))


MEMORY_SAFETY_FACTOR = 3.0
"""Multiplier on the analytic per-run estimate (XLA keeps temporaries alive beside the carry)."""


def free_device_memory(device: Any) -> int:
    """Free memory of ``device`` in bytes: ``memory_stats`` on accelerators, MemAvailable
    (split over the host's devices) on CPU."""
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    total = int(line.split()[1]) * 1024
                    return total // max(1, jax.local_device_count())
    except OSError:
        pass
    return 8 * 1024**3


def check_memory(plan: Plan) -> None:
    """Refuse runs whose estimated device memory exceeds what the devices have."""
    per_device = math.ceil(plan.num_runs / plan.layout.runs) * estimate_run_bytes(plan)
    per_device //= plan.layout.envs
    free = min(free_device_memory(d) for d in plan.layout.devices)
    if per_device > free:
        raise ValueError(
            f"the run needs about {per_device / 2**30:.1f} GiB per device, {free / 2**30:.1f} "
            "GiB are free: lower num_envs, num_steps, hidden_sizes or the number of seeds"
        )


def plan_seeds(
    config: Any,
    seeds: Any,
    *,
    hp: Any = None,
    problem: Problem | None = None,
    shard: bool | str = "auto",
    split_envs: bool = False,
    **keywords: Unpack[ProblemKeywords],
) -> Plan:
    """The :class:`Plan` of ``seeds`` runs of ``config`` on ``problem`` (or its parts as
    keywords; everything checked, nothing compiled): what :func:`ppo_jax.train_seeds` and a
    train session run."""
    spec, params = resolve_spec(config, problem_of(problem, keywords))
    keys = seed_keys(seeds)
    return make_plan(
        spec,
        params,
        keys,
        check_hyperparams(config, hp),
        shard=shard,
        split_envs=split_envs,
    )
