"""What ``ppo_jax.benchmark`` measures besides the training programs: the environment-only
program, the FLOPs of a program with every loop counted, the devices' matmul peak and the
memory a program takes.

* :func:`env_only_run` (jitted by :func:`env_only_program`): the rollout of the training
  program without the network and without the update: the same environments (``num_envs``
  per run, reset the same way), the same ``num_updates`` x ``num_steps`` steps, the same
  ``vmap`` over runs on the same device layout, with uniformly random actions
  (:func:`random_actions`). Its env-steps/s beside the training program's tell whether the
  environment or the update bounds a run.
* :func:`loop_flops`: XLA's cost analysis counts the body of a loop once, whatever its trip
  count (a 100-step ``lax.scan`` of a matmul reports the FLOPs of one matmul), and a training
  run is loops inside loops (updates, rollout steps, epochs, minibatches). Here every
  ``lax.scan`` body is costed by XLA's cost analysis of its own lowering and multiplied by its
  length; the code between loops is costed the same way, once. ``while`` loops (unknown trip
  counts) are counted once, as XLA does, and reported.
* :func:`matmul_peak_flops`: float32 matmuls on the given devices at once, timed: the FLOP/s
  ceiling a cell's achieved FLOP/s are divided by.
* :func:`program_memory_bytes`, :func:`device_peak_bytes`: XLA's memory analysis of a compiled
  program (per device) and the backend's peak-memory counter, where it keeps one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ppo_jax.core.envs import (
    action_masks,
    draw_env,
    gymnax_base_step,
    reset_envs,
    step_envs,
    to_env_action,
)
from ppo_jax.core.rollout import DRAWS_AHEAD_BYTES, env_block
from ppo_jax.core.spec import TrainSpec
from ppo_jax.core.types import ActionSpec, Array, CompositeAction, EnvCarry, PRNGKey
from ppo_jax.run import parallel

MATMUL_SIZE_CPU = 1024
"""Side of the float32 matmul timed for the CPU's ceiling."""
MATMUL_SIZE_ACCELERATOR = 8192
"""Side of the float32 matmul timed for a GPU's or TPU's ceiling."""
MATMUL_REPEATS = 10
"""Timed matmuls (after one warm-up); the fastest is kept: a ceiling is what the devices can
do, and other processes on the machine only ever slow a matmul down."""
UNBOUNDED_ACTION_RANGE = (-1.0, 1.0)
"""Where a ``Box`` action bound is infinite, random actions are uniform on this range (then
clipped to the box, as the policy's are)."""


# --------------------------------------------------------------------------- random actions
class ActionNoise(NamedTuple):
    """The random numbers of one step's uniformly random actions for ``n`` environments: one
    entry per action leaf (``jax.tree`` order)."""

    leaves: tuple[Array, ...]
    """Gumbel ``[n, A]`` for a discrete leaf (the action is the argmax over the legal
    actions), uniform ``[n, A]`` on ``[0, 1)`` for a continuous leaf."""


def action_leaves(action: ActionSpec | CompositeAction) -> tuple[ActionSpec, ...]:
    """The leaves of an action space (one for a single ``Discrete`` or ``Box``)."""
    return action.leaves if isinstance(action, CompositeAction) else (action,)


def draw_action_noise(
    action: ActionSpec | CompositeAction,
    key: PRNGKey,
    num_envs: int,
    select: Callable[[Array], Array] | None = None,
) -> ActionNoise:
    """:class:`ActionNoise` for ``num_envs`` environments (then ``select`` of each leaf: a
    device's block of rows, so a split run draws what the unsplit one draws)."""
    out = []
    for i, leaf in enumerate(action_leaves(action)):
        k = jax.random.fold_in(key, i)
        if leaf.continuous:
            x = jax.random.uniform(k, (num_envs, leaf.size))
        else:
            x = jax.random.gumbel(k, (num_envs, leaf.size))
        out.append(x if select is None else select(x))
    return ActionNoise(tuple(out))


def random_actions(
    env: Any, env_params: Any, action: ActionSpec | CompositeAction, noise: ActionNoise, mask: Any
) -> Any:
    """Uniformly random actions, as ``env.step`` takes them, from ``noise``: every legal
    action of a discrete leaf equally likely (``mask``: the environment's legal-action mask,
    as :func:`~ppo_jax.core.envs.action_masks` gives it, or ``None``), uniform on a ``Box``
    (on ``UNBOUNDED_ACTION_RANGE`` where a bound is infinite, then clipped to the box)."""
    leaves = action_leaves(action)
    if mask is None:
        masks: list[Any] = [None] * len(leaves)
    elif isinstance(action, CompositeAction):
        masks = action.treedef.flatten_up_to(mask)
    else:
        masks = [mask]
    out: list[Any] = []
    for leaf, x, leaf_mask in zip(leaves, noise.leaves, masks, strict=True):
        if leaf.continuous:
            low = np.asarray(leaf.low, np.float32)
            high = np.asarray(leaf.high, np.float32)
            bounded = np.isfinite(low) & np.isfinite(high)
            low = np.where(bounded, low, UNBOUNDED_ACTION_RANGE[0]).astype(np.float32)
            high = np.where(bounded, high, UNBOUNDED_ACTION_RANGE[1]).astype(np.float32)
            out.append(low + (high - low) * x)
        else:
            scores = (
                x if leaf_mask is None else jnp.where(jnp.asarray(leaf_mask, bool), x, -jnp.inf)
            )
            out.append(jnp.argmax(scores, axis=-1).astype(jnp.int32))
    picked = action.treedef.unflatten(out) if isinstance(action, CompositeAction) else out[0]
    return to_env_action(env, env_params, picked)


# --------------------------------------------------------------------------- environment only
class EnvOnlyResult(NamedTuple):
    """What the environment-only program returns per run (kept, so that XLA computes every
    step)."""

    reward_sum: Array
    """``[]``: the sum of every reward of the run."""
    episodes: Array
    """``[]``: episodes that ended (terminated or truncated)."""
    obs: Any
    """The last observations ``[n, ...]`` of this device's environments."""


class StepNoise(NamedTuple):
    """The random numbers of one environment-only step (stacked ``[T, ...]`` when drawn
    ahead of the loop)."""

    action: ActionNoise
    env: Any
    """The environments' :class:`~ppo_jax.core.envs.EnvDraws`."""


def _draw_step(
    spec: TrainSpec, env_params: Any, key: PRNGKey, axis_name: str | None, with_reset: bool
) -> StepNoise:
    act_key, step_key = jax.random.split(key)
    num_envs = spec.config.num_envs
    select = None

    if axis_name is not None:

        def select(x: Array) -> Array:
            return env_block(x, axis_name)

    noise = draw_action_noise(spec.network.action, act_key, num_envs, select)
    env = draw_env(spec.env, env_params, step_key, num_envs, select, with_reset)
    return StepNoise(action=noise, env=env)


def _draws_ahead(spec: TrainSpec, env_params: Any, axis_name: str | None) -> bool | None:
    """As the training rollout decides (``ppo_jax.core.rollout``): every step's random numbers
    drawn ahead of the loop with the resets (``True``), without them (``False``), or in the
    loop (``None``) when the ``[T, ...]`` block exceeds ``DRAWS_AHEAD_BYTES``."""
    steps = spec.config.num_steps
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    choices = (True, False) if gymnax_base_step(spec.env) else (False,)
    for with_reset in choices:

        def ahead(k: Array, with_reset: bool = with_reset) -> StepNoise:
            keys = jax.random.split(k, steps)
            return jax.vmap(lambda kk: _draw_step(spec, env_params, kk, None, with_reset))(keys)

        shapes = jax.eval_shape(ahead, key)
        size = sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(shapes))
        if size <= DRAWS_AHEAD_BYTES:
            return with_reset
    del axis_name
    return None


def random_rollout(
    spec: TrainSpec,
    env_params: Any,
    carry: EnvCarry,
    key: PRNGKey,
    axis_name: str | None = None,
    ahead: bool | None = None,
) -> tuple[EnvCarry, tuple[Array, Array]]:
    """``num_steps`` steps of this device's environments with uniformly random actions:
    the carry after them and ``(rewards [T, n], episode ends [T, n])``. ``ahead``: see
    :func:`_draws_ahead` (``None``: in the loop)."""
    env, action = spec.env, spec.network.action
    keys = jax.random.split(key, spec.config.num_steps)

    def step(c: EnvCarry, noise: StepNoise) -> tuple[EnvCarry, tuple[Array, Array]]:
        mask = action_masks(env, env_params, c.env_state)
        act = random_actions(env, env_params, action, noise.action, mask)
        c, out = step_envs(env, env_params, None, c, act, noise.env)
        return c, (out["reward"], out["terminated"] | out["truncated"])

    if ahead is None:

        def step_in_loop(c: EnvCarry, k: PRNGKey) -> tuple[EnvCarry, tuple[Array, Array]]:
            return step(c, _draw_step(spec, env_params, k, axis_name, True))

        return jax.lax.scan(step_in_loop, carry, keys)
    noises = jax.vmap(lambda k: _draw_step(spec, env_params, k, axis_name, ahead))(keys)
    return jax.lax.scan(step, carry, noises)


def env_only_run(
    spec: TrainSpec, env_params: Any, key: PRNGKey, axis_name: str | None = None
) -> EnvOnlyResult:
    """One run's environment-only program: reset ``num_envs`` environments, then
    ``num_updates`` rollouts of ``num_steps`` random-action steps (this device's block of the
    environments with ``axis_name``; the sums cover all of them)."""
    config = spec.config
    reset_key, key = jax.random.split(key)
    carry = env_block(reset_envs(spec.env, env_params, reset_key, config.num_envs), axis_name)
    ahead = _draws_ahead(spec, env_params, axis_name)

    def update(c: EnvCarry, k: PRNGKey) -> tuple[EnvCarry, tuple[Array, Array]]:
        c, (rewards, ends) = random_rollout(spec, env_params, c, k, axis_name, ahead)
        return c, (jnp.sum(rewards), jnp.sum(ends))

    carry, (rewards, ends) = jax.lax.scan(update, carry, jax.random.split(key, config.num_updates))
    reward_sum, episodes = jnp.sum(rewards), jnp.sum(ends)
    if axis_name is not None:
        reward_sum = jax.lax.psum(reward_sum, axis_name)
        episodes = jax.lax.psum(episodes, axis_name)
    return EnvOnlyResult(reward_sum=reward_sum, episodes=episodes, obs=carry.obs)


def env_only_program(spec: TrainSpec, layout: parallel.Layout) -> Any:
    """The jitted environment-only program of ``[R]`` runs on ``layout`` (as the training
    programs are mapped, :func:`ppo_jax.run.parallel.over_runs`): ``fn(keys [R, 2],
    env_params) -> EnvOnlyResult [R]``."""
    axis_name = layout.axis_name

    def run(key: PRNGKey, env_params: Any) -> EnvOnlyResult:
        return env_only_run(spec, env_params, key, axis_name)

    runs = PartitionSpec(parallel.RUNS_AXIS)
    split = PartitionSpec(parallel.RUNS_AXIS, parallel.ENVS_AXIS)
    out = EnvOnlyResult(reward_sum=runs, episodes=runs, obs=split)  # type: ignore[arg-type]
    return parallel.over_runs(run, layout, (0, None), (runs, PartitionSpec()), out)


# --------------------------------------------------------------------------- FLOPs
class FlopCount(NamedTuple):
    """FLOPs of a program with every ``lax.scan`` body counted ``length`` times."""

    flops: float
    while_loops: int
    """``while`` loops found (each counted once: their trip count is not known before
    running); 0 means the count is complete."""


def _inner_jaxprs(eqn: Any) -> list[Any]:
    return list(jex.jaxprs_in_params(eqn.params))


def _has_loop(jaxpr: Any) -> bool:
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("scan", "while"):
            return True
        if any(_has_loop(inner) for inner in _inner_jaxprs(eqn)):
            return True
    return False


def _xla_flops(eqns: Sequence[Any]) -> float:
    """XLA's cost-analysis FLOPs of ``eqns`` lowered on their own: their free variables as
    arguments, every value they produce as an output (so that nothing is dead)."""
    if not eqns:
        return 0.0
    produced = [v for e in eqns for v in e.outvars if not isinstance(v, jex.DropVar)]
    defined = set(produced)
    inputs: list[Any] = []
    for e in eqns:
        for v in e.invars:
            if isinstance(v, jex.Var) and v not in defined and v not in inputs:
                inputs.append(v)
    effects: set[Any] = set()
    for e in eqns:
        effects |= set(e.effects)
    info = jex.DebugInfo(
        "loop_flops",
        "ppo_jax.run.bench_programs",
        tuple(f"x{i}" for i in range(len(inputs))),
        tuple(f"y{i}" for i in range(len(produced))),
    )
    jaxpr = jex.Jaxpr([], inputs, produced, list(eqns), frozenset(effects), info)
    fn = jex.jaxpr_as_fun(jex.ClosedJaxpr(jaxpr, []))
    args = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in inputs]
    cost = jax.jit(fn).lower(*args).cost_analysis()
    if isinstance(cost, list | tuple):  # older jax: one dict per computation
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def jaxpr_flops(jaxpr: Any) -> FlopCount:
    """:class:`FlopCount` of a (closed) jaxpr: each ``scan`` body's count times its length,
    a ``cond`` with loops in a branch as its costliest branch (XLA's convention), and the
    other equations by XLA's cost analysis, lowered once together per jaxpr."""
    jaxpr = jaxpr.jaxpr if isinstance(jaxpr, jex.ClosedJaxpr) else jaxpr
    kept: list[Any] = []
    flops, whiles = 0.0, 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        inner = _inner_jaxprs(eqn)
        if name == "scan":
            body = jaxpr_flops(eqn.params["jaxpr"])
            flops += eqn.params["length"] * body.flops
            whiles += body.while_loops
        elif name == "while" or not any(_has_loop(j) for j in inner):
            kept.append(eqn)
            whiles += name == "while"
        elif name == "cond":
            branches = [jaxpr_flops(j) for j in inner]
            flops += max(b.flops for b in branches)
            whiles += max(b.while_loops for b in branches)
        else:  # a call (jit, custom_jvp, checkpoint, ...) around loops: its body
            for j in inner:
                sub = jaxpr_flops(j)
                flops += sub.flops
                whiles += sub.while_loops
    return FlopCount(flops=flops + _xla_flops(kept), while_loops=whiles)


def loop_flops(fn: Callable[..., Any], *args: Any) -> FlopCount:
    """:class:`FlopCount` of ``fn(*args)`` (traced, not compiled; ``args`` may be shapes)."""
    return jaxpr_flops(jax.make_jaxpr(fn)(*args))


# --------------------------------------------------------------------------- ceiling, memory
def matmul_size(platform: str) -> int:
    """The side of the timed matmul on ``platform``."""
    return MATMUL_SIZE_CPU if platform == "cpu" else MATMUL_SIZE_ACCELERATOR


def matmul_peak_flops(
    devices: Sequence[Any], size: int | None = None, repeats: int = MATMUL_REPEATS
) -> float:
    """FLOP/s of float32 ``[size, size] x [size, size]`` matmuls, one per device of
    ``devices``, all at once (the fastest of ``repeats`` timed calls after a warm-up): the
    ceiling of programs on those devices. On a CPU the host devices share the cores, so two
    devices reach about what one does."""
    devs = list(devices)
    size = matmul_size(devs[0].platform) if size is None else size
    sharding = NamedSharding(Mesh(np.asarray(devs), ("d",)), PartitionSpec("d"))
    key = jax.random.PRNGKey(0)
    shape = (len(devs), size, size)
    a = jax.device_put(jax.random.normal(key, shape, jnp.float32), sharding)
    b = jax.device_put(jax.random.normal(jax.random.fold_in(key, 1), shape, jnp.float32), sharding)
    product = jax.jit(lambda x, y: jnp.einsum("bij,bjk->bik", x, y), out_shardings=sharding)
    product(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2.0 * len(devs) * size**3 / min(times)


def program_memory_bytes(compiled: Any) -> int | None:
    """Device memory one device needs to run ``compiled`` by XLA's memory analysis
    (arguments + outputs + temporaries - aliased), or ``None`` where the backend gives none."""
    try:
        stats = compiled.memory_analysis()
    except Exception:
        return None
    if stats is None:
        return None
    total = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )
    return int(total)


def device_peak_bytes(devices: Sequence[Any]) -> int | None:
    """The largest ``peak_bytes_in_use`` of ``devices`` (``memory_stats``; GPUs and TPUs keep
    it for the process), or ``None`` where the backend keeps no such counter (CPU)."""
    peaks = []
    for device in devices:
        try:
            stats = device.memory_stats()
        except Exception:
            stats = None
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None
