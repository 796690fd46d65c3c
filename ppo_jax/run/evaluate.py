"""Trained policies at work: evaluation episodes (one compiled call), export as a plain
function, and the policy/value at given observations.

Every function takes ``params`` as :func:`~ppo_jax.train` returns them, optionally with a
leading seed axis (as :func:`~ppo_jax.train_seeds` returns them; results then have a leading
seed axis too), or a whole result (``TrainResult``/``RunResult``, whose observation statistics
are then used). Observation statistics (``obs_norm=``) are required exactly when the config
normalises observations. Parameters that do not fit the network or the environment raise a
``ValueError`` naming the first array that differs and both shapes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppo_jax.core.config import PPOConfig
from ppo_jax.core.distributions import (
    Categorical,
    DiagGaussian,
    dist_mode,
    dist_outputs,
    dist_sample,
)
from ppo_jax.core.envs import has_action_mask, to_env_action
from ppo_jax.core.episodes import DEFAULT_EVAL_STEPS, run_episodes
from ppo_jax.core.networks import CRITIC_KEY
from ppo_jax.core.normalize import init_obs_stats
from ppo_jax.core.spec import Problem, ProblemKeywords, TrainSpec, problem_of
from ppo_jax.core.types import Array, CompositeAction, ObsTree, Params, PRNGKey, RunningStats
from ppo_jax.run import backend
from ppo_jax.run.plan import check_key, resolve_spec

if TYPE_CHECKING:
    from typing import Unpack


class EvalResult(NamedTuple):
    """Returns and lengths of ``num_episodes`` complete episodes, each ``[num_episodes]``
    (``[S, num_episodes]`` for seed-batched parameters)."""

    returns: Array
    lengths: Array


class PolicyInputs(NamedTuple):
    """Checked ``params`` and ``obs_norm`` of a policy, and the number of seeds (0: no seed
    axis)."""

    params: Params
    obs_norm: RunningStats | None
    seeds: int


def unpack(params: Any, obs_norm: Any) -> tuple[Any, Any]:
    """``(params, obs_norm)`` from parameters or a result object with ``.params`` (and
    ``.obs_norm``)."""
    if hasattr(params, "params") and not isinstance(params, dict):
        if obs_norm is None:
            obs_norm = getattr(params, "obs_norm", None)
        params = params.params
    return params, obs_norm


def check_policy_inputs(
    spec: TrainSpec, config: PPOConfig, params: Any, obs_norm: Any
) -> PolicyInputs:
    """Check ``params`` (and ``obs_norm``) against the network's and the environment's shapes,
    with or without a leading seed axis."""
    params, obs_norm = unpack(params, obs_norm)
    params = jax.tree.map(jnp.asarray, params)
    template = jax.eval_shape(spec.network.init, jax.ShapeDtypeStruct((2,), jnp.uint32))
    want = jax.tree_util.tree_flatten_with_path(template)[0]
    try:
        got_leaves = jax.tree_util.tree_flatten_with_path(params)[0]
        same = str(jax.tree.structure(params)) == str(jax.tree.structure(template))
    except Exception:
        same = False
    if not same:
        missing = sorted(
            {jax.tree_util.keystr(p) for p, _ in want}
            - {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
        )
        raise ValueError(
            "params do not fit the network for this environment (observations "
            f"{spec.network.obs_shape}, {spec.network.action.size} "
            f"{'continuous' if spec.network.action.continuous else 'discrete'} action(s)): "
            + (f"missing {missing[:4]}" if missing else "other arrays than the network's")
        )
    seeds: int | None = None
    for (path, w), (_, g) in zip(want, got_leaves, strict=True):
        if tuple(g.shape) == tuple(w.shape):
            lead = 0
        elif g.ndim == len(w.shape) + 1 and tuple(g.shape[1:]) == tuple(w.shape) and g.shape[0]:
            lead = int(g.shape[0])
        else:
            lead = -1
        if lead < 0 or (seeds is not None and lead != seeds):
            raise ValueError(
                f"params{jax.tree_util.keystr(path)} has shape {list(g.shape)}; the network for "
                f"observations {spec.network.obs_shape} needs {list(w.shape)}"
                + (
                    f" (with {seeds} seeds: [{seeds}, {', '.join(map(str, w.shape))}])"
                    if seeds
                    else " (or [S, ...] for S seeds)"
                )
            )
        seeds = lead
    seeds = seeds or 0
    if config.normalize_observations and obs_norm is None:
        raise ValueError(
            "the config normalises observations (normalize_observations=True), but no "
            "observation statistics were given: pass obs_norm=result.obs_norm (or the result "
            "itself); without them the policy would play on un-normalised observations"
        )
    if obs_norm is not None:
        if not config.normalize_observations:
            raise ValueError(
                "obs_norm was given, but the config does not normalise observations "
                "(normalize_observations=False)"
            )
        obs_norm = _checked_obs_norm(spec.network.obs_shape, obs_norm, seeds)
    return PolicyInputs(params, obs_norm, seeds)


def _checked_obs_norm(obs_shape: Any, obs_norm: Any, seeds: int) -> Any:
    """``obs_norm`` as float32 statistics shaped for ``obs_shape`` (``ValueError`` naming the
    shapes otherwise): one :class:`RunningStats`, or the tree of them of pytree
    observations."""
    lead = (seeds,) if seeds else ()
    if not isinstance(obs_shape, ObsTree):
        obs_norm = RunningStats(*[jnp.asarray(x, jnp.float32) for x in obs_norm])
        want_mean = lead + tuple(obs_shape)
        if tuple(obs_norm.mean.shape) != want_mean or tuple(obs_norm.var.shape) != want_mean:
            raise ValueError(
                f"obs_norm statistics have shape {list(obs_norm.mean.shape)}, the observations "
                f"need {list(want_mean)}"
            )
        return obs_norm
    template = jax.eval_shape(lambda: init_obs_stats(obs_shape))
    try:
        obs_norm = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), obs_norm)
        same: bool = str(jax.tree.structure(obs_norm)) == str(jax.tree.structure(template))
        fits = same and all(
            tuple(g.shape) == lead + tuple(w.shape)
            for g, w in zip(jax.tree.leaves(obs_norm), jax.tree.leaves(template), strict=True)
        )
    except (TypeError, ValueError):
        fits = False
    if not fits:
        raise ValueError(
            "obs_norm statistics do not fit the observations: they need "
            f"{jax.tree.map(lambda w: list(lead + tuple(w.shape)), template)}"
        )
    return obs_norm


def _max_steps(env_params: Any, max_steps: int | None) -> int:
    if max_steps is None:
        max_steps = int(getattr(env_params, "max_steps_in_episode", DEFAULT_EVAL_STEPS))
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 1 <= max_steps <= 10**7:
        raise ValueError(f"max_steps must be an int in [1, 10**7], got {max_steps!r}")
    return max_steps


@functools.lru_cache(maxsize=16)
def _eval_program(
    spec: TrainSpec, num_episodes: int, max_steps: int, greedy: bool, batched: bool
) -> Any:
    def fn(params: Params, obs_norm: Any, key: PRNGKey, env_params: Any) -> EvalResult:
        episodes = run_episodes(
            spec, env_params, params, obs_norm, key, num_episodes, max_steps, greedy
        )
        return EvalResult(returns=episodes.returns, lengths=episodes.lengths)

    if batched:
        fn = jax.vmap(fn, in_axes=(0, 0, None, None))
    return backend.jit(fn)


def evaluate(
    config: PPOConfig,
    params: Any,
    key: Any,
    num_episodes: int,
    greedy: bool = True,
    *,
    max_steps: int | None = None,
    obs_norm: Any = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> EvalResult:
    """Returns of ``num_episodes`` episodes of the trained policy (one compiled call).

    ``greedy`` takes the most probable action (the Gaussian mean); otherwise actions are
    sampled. Episodes run to their first termination or truncation; ``max_steps`` (default:
    the environment's ``max_steps_in_episode``) bounds the loop. A recurrent policy carries its
    state through each episode; a masked environment's illegal actions are never taken.
    Seed-batched ``params`` play the same ``num_episodes`` episode starts (the same ``key``)
    for every seed, and the results get a leading seed axis.
    """
    key = check_key(key)
    if (
        isinstance(num_episodes, bool)
        or not isinstance(num_episodes, int)
        or not 1 <= num_episodes <= 10**6
    ):
        raise ValueError(f"num_episodes must be an int in [1, 10**6], got {num_episodes!r}")
    spec, params_env = resolve_spec(config, problem_of(problem, keywords))
    steps = _max_steps(params_env, max_steps)
    inputs = check_policy_inputs(spec, config, params, obs_norm)
    return evaluate_spec(spec, params_env, inputs, key, num_episodes, bool(greedy), steps)


def evaluate_spec(
    spec: TrainSpec,
    env_params: Any,
    inputs: PolicyInputs,
    key: Array,
    num_episodes: int,
    greedy: bool,
    max_steps: int,
) -> EvalResult:
    """:func:`evaluate` of checked inputs on a :class:`TrainSpec`'s environment and network
    (one compiled call, cached by its static arguments)."""
    program = _eval_program(spec, num_episodes, max_steps, greedy, inputs.seeds > 0)
    return program(inputs.params, inputs.obs_norm, key, env_params)


def _policy_fn(
    config: PPOConfig, params: Any, obs_norm: Any, problem: Problem
) -> tuple[TrainSpec, Any, PolicyInputs]:
    spec, params_env = resolve_spec(config, problem)
    return spec, params_env, check_policy_inputs(spec, config, params, obs_norm)


def policy_logits(
    config: PPOConfig,
    params: Any,
    obs: Any,
    *,
    obs_norm: Any = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> Array:
    """Actor output ``[..., A]`` for one observation ``[*obs_shape]`` or a batch of them: the
    action logits (discrete), or the Gaussian mean (continuous; a tanh-Gaussian's pre-squash
    mean); a Beta policy's ``(alpha, beta)``; a tuple of these, one per leaf, for a composite
    action (:func:`~ppo_jax.core.distributions.dist_outputs`). Feed-forward policies."""
    spec, _, inputs = _policy_fn(config, params, obs_norm, problem_of(problem, keywords))
    _feed_forward(spec, "policy_logits")
    dist, _ = _apply(spec, inputs, obs)
    return dist_outputs(dist)


def state_value(
    config: PPOConfig,
    params: Any,
    obs: Any,
    *,
    obs_norm: Any = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> Array:
    """State values ``[...]`` for one observation ``[*obs_shape]`` or a batch of them."""
    spec, _, inputs = _policy_fn(config, params, obs_norm, problem_of(problem, keywords))
    _feed_forward(spec, "state_value")
    return _apply(spec, inputs, obs)[1]


def _feed_forward(spec: TrainSpec, what: str) -> None:
    if spec.network.recurrent:
        raise ValueError(
            f"{what} evaluates a feed-forward policy; a recurrent one needs its state: use "
            "export_policy(...).step(obs, state)"
        )


def _apply(spec: TrainSpec, inputs: PolicyInputs, obs: Any) -> Any:
    net = spec.network
    if inputs.seeds:
        return jax.vmap(lambda p, n: net.apply(p, obs, n))(inputs.params, inputs.obs_norm)
    return net.apply(inputs.params, obs, inputs.obs_norm)


class Policy:
    """A trained policy as a plain function of numpy observations (from :func:`export_policy`).

    ``policy(obs)`` (or ``policy(obs, action_mask)`` for a masked environment) returns an int
    for one discrete observation, an int array for a batch, or float32 actions ``[A]`` /
    ``[batch, A]`` inside the environment's bounds (clipped, or squashed by a tanh-Gaussian);
    for a composite action space, the action pytree (tuple or dict) of these. Observations may
    be a pytree (dict/tuple of arrays) like the environment's; an asymmetric critic's
    ``"critic"`` entry may be left out (the actor never reads it). With seed-batched
    parameters every result gets a leading seed axis. A recurrent policy keeps its state
    between calls (one episode at a time; :meth:`reset` at an episode start), or is used
    explicitly: ``action, state = policy.step(obs, state)`` from ``state =
    policy.initial_state(batch)``.
    """

    def __init__(
        self,
        spec: TrainSpec,
        env_params: Any,
        inputs: PolicyInputs,
        greedy: bool,
        seed: int,
    ) -> None:
        self.spec, self.greedy, self.seeds = spec, greedy, inputs.seeds
        self.recurrent = spec.network.recurrent
        self.masked = has_action_mask(spec.env)
        self._rng = np.random.default_rng(seed)
        self._state: Any = None
        net, env = spec.network, spec.env
        params = jax.device_get(inputs.params)
        obs_norm = inputs.obs_norm

        def dist_fn(p: Any, n: Any, state: Any, obs: Array, mask: Any) -> Any:
            if self.recurrent:
                first = jnp.zeros(jax.tree.leaves(obs)[0].shape[:1], bool)
                state, dist, _ = net.step(p, state, obs, first, n, mask)
                return state, dist
            return state, net.apply(p, obs, n, mask)[0]

        def act_fn(key: PRNGKey, dist: Any) -> Any:
            action = dist_mode(dist) if greedy else dist_sample(key, dist)
            return to_env_action(env, env_params, net.env_action(dist, action))

        if self.seeds:
            dist_fn = jax.vmap(dist_fn, in_axes=(0, 0, 0, None, None))
            act_fn = jax.vmap(act_fn, in_axes=(None, 0))
        self._dist = backend.jit(functools.partial(dist_fn, params, obs_norm))
        self._bound = backend.jit(lambda a: to_env_action(env, env_params, a))
        self._act_jax = backend.jit(act_fn)

    def initial_state(self, batch_size: int = 1) -> Any:
        """The recurrent state at an episode start for ``batch_size`` observations (``None``
        for a feed-forward policy)."""
        if not self.recurrent:
            return None
        state = self.spec.network.initial_state(batch_size)
        if self.seeds:
            state = jax.tree.map(lambda x: jnp.broadcast_to(x, (self.seeds, *x.shape)), state)
        return state

    def reset(self) -> None:
        """Start a new episode (recurrent policies forget their state)."""
        self._state = None

    def step(self, obs: Any, state: Any, action_mask: Any = None) -> tuple[Any, Any]:
        """``(action, new_state)`` for ``obs`` (one observation or a batch) from ``state``."""
        batch, single = self._batch(obs)
        size = jax.tree.leaves(batch)[0].shape[0]
        mask = self._mask(action_mask, size, single)
        if state is None:
            state = self.initial_state(size)
        state, dist = self._dist(state, batch, mask)
        action = self._act(dist)
        if single:
            action = jax.tree.map(lambda a: a[:, 0] if self.seeds else a[0], action)
            if not self.seeds:
                action = jax.tree.map(
                    lambda a: int(a) if np.issubdtype(a.dtype, np.integer) else a, action
                )
        return action, state

    def __call__(self, obs: Any, action_mask: Any = None) -> Any:
        if self.recurrent:
            action, self._state = self.step(obs, self._state, action_mask)
            return action
        return self.step(obs, None, action_mask)[0]

    def _batch(self, obs: Any) -> tuple[Any, bool]:
        """``(observations with a batch axis, whether one observation was given)``."""
        obs_shape = self.spec.network.obs_shape
        if not isinstance(obs_shape, ObsTree):
            obs = np.asarray(obs, np.float32)
            single = obs.ndim == len(obs_shape)
            return (obs[None] if single else obs), single
        obs = jax.tree.map(lambda x: np.asarray(x, np.float32), obs)
        given = [
            shape
            for path, shape in zip(obs_shape.paths, obs_shape.shapes, strict=True)
            if not (isinstance(obs, dict) and path.split("/")[0] not in obs)
        ]
        leaves = jax.tree.leaves(obs)
        if not leaves or not given:
            raise ValueError(f"observation {obs!r} has none of the entries {obs_shape.paths}")
        single = leaves[0].ndim == len(given[0])
        obs = jax.tree.map(lambda x: x[None] if single else x, obs)
        critic = any(path.split("/")[0] == CRITIC_KEY for path in obs_shape.paths)
        if critic and isinstance(obs, dict) and CRITIC_KEY not in obs:
            # The actor never reads the critic's entry: zeros stand in for it.
            dummy = self.spec.network.dummy_obs(jax.tree.leaves(obs)[0].shape[0])
            obs = dict(obs, **{CRITIC_KEY: jax.tree.map(np.asarray, dummy[CRITIC_KEY])})
        return obs, single

    def _mask(self, action_mask: Any, batch: int, single: bool) -> Any:
        if action_mask is None:
            if self.masked:
                raise ValueError(
                    "this environment restricts its actions: call policy(obs, action_mask)"
                )
            return None
        if isinstance(self.spec.network.action, CompositeAction):
            return jax.tree.map(
                lambda m: np.asarray(m, bool)[None] if single else np.asarray(m, bool), action_mask
            )
        mask = np.asarray(action_mask, bool)
        mask = mask[None] if single else mask
        want = (batch, self.spec.network.action.size)
        if mask.shape != want:
            raise ValueError(f"action_mask has shape {list(mask.shape)}, expected {list(want)}")
        return mask

    def _act(self, dist: Any) -> Any:
        if isinstance(dist, DiagGaussian):
            mean = np.asarray(dist.mean, np.float64)
            if not self.greedy:
                std = np.exp(np.asarray(dist.log_std, np.float64))
                mean = mean + std * self._rng.standard_normal(mean.shape)
            return np.asarray(self._bound(mean.astype(np.float32)))
        if not isinstance(dist, Categorical):  # bounded, Beta, composite: sampled by jax
            key = jax.random.PRNGKey(int(self._rng.integers(2**31)))
            return jax.tree.map(np.asarray, self._act_jax(key, dist))
        logits = np.asarray(dist.logits, np.float64)
        if self.greedy:
            return np.argmax(logits, axis=-1)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        flat = probs.reshape(-1, probs.shape[-1])
        return np.array([self._rng.choice(len(p), p=p) for p in flat]).reshape(probs.shape[:-1])


def export_policy(
    config: PPOConfig,
    params: Any,
    *,
    greedy: bool = True,
    seed: int = 0,
    obs_norm: Any = None,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> Policy:
    """A plain function ``numpy observation -> action`` (a :class:`Policy`), e.g. for a
    gymnasium environment loop.

    Observation normalisation is applied (``obs_norm``, or the result's statistics). Greedy
    takes the most probable action (the Gaussian mean); with ``greedy=False`` actions are
    sampled from a generator seeded with ``seed``. Compiled once per input shape.
    """
    problem = problem_of(problem, keywords)
    spec, params_env, inputs = _policy_fn(config, params, obs_norm, problem)
    return Policy(spec, params_env, inputs, bool(greedy), seed)


RENDERABLE_ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "Pendulum-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    "Catch-bsuite",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
    "Pong-misc",
    "PointRobot-misc",
    "MetaMaze-misc",
    "FourRooms-misc",
)
"""Environments gymnax's ``Visualizer`` can draw."""


def check_gif_request(config: PPOConfig, gif: str) -> None:
    """``ValueError`` unless an episode of ``config``'s environment can be drawn to ``gif``."""
    import importlib.util

    if config.env_name not in RENDERABLE_ENVS:
        raise ValueError(
            f"--gif: gymnax cannot render {config.env_name}; renderable: {list(RENDERABLE_ENVS)}"
        )
    classic = ("-v0", "-v1")
    if config.env_name.endswith(classic) and importlib.util.find_spec("pygame") is None:
        raise ValueError(
            "--gif: rendering classic-control envs needs pygame: pip install 'ppo-jax[render]'"
        )
    if not str(gif).lower().endswith(".gif"):
        raise ValueError(f"--gif must name a .gif file, got {gif!r}")
    import os

    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def record_episode(
    config: PPOConfig,
    params: Any,
    key: Any,
    *,
    max_steps: int,
    greedy: bool = True,
    obs_norm: Any = None,
) -> tuple[list[Any], list[float]]:
    """One episode of the policy as ``(states, cumulative_returns)`` (pre-reset states, at most
    ``max_steps``), for rendering with gymnax's ``Visualizer``."""
    spec, env_params, inputs = _policy_fn(config, params, obs_norm, Problem())
    env = spec.env
    policy = Policy(spec, env_params, inputs, greedy, 0)
    key = check_key(key)
    key, reset_key = jax.random.split(key)
    obs, state = env.reset(reset_key, env_params)
    step = backend.jit(lambda k, s, a: env.step(k, s, a, env_params))
    states, returns, total = [state], [0.0], 0.0
    mask_of = jax.jit(lambda s: env.action_mask(s, env_params)) if policy.masked else None
    for _ in range(max_steps):
        key, sub = jax.random.split(key)
        mask = None if mask_of is None else np.asarray(mask_of(state))
        action = policy(np.asarray(obs), mask) if policy.masked else policy(np.asarray(obs))
        obs, next_state, reward, terminated, truncated, _ = step(sub, state, jnp.asarray(action))
        total += float(reward)
        if bool(terminated) or bool(truncated):
            returns.append(total)
            break
        state = next_state
        states.append(state)
        returns.append(total)
    return states, returns[: len(states)]


def evaluate_run(
    run: Any,
    num_episodes: int,
    *,
    greedy: bool = True,
    seed: int = 1000,
    best: bool = False,
    problem: Problem | None = None,
    **keywords: Unpack[ProblemKeywords],
) -> list[dict[str, Any]]:
    """``ppo-jax eval``: ``num_episodes`` episodes of every row of a loaded run folder
    (:func:`ppo_jax.load_run`; rows are seeds, sweep rows or PBT members), row ``i`` played
    with ``PRNGKey((seed + seeds[i]) % 2**32)``. Returns ``[{"seed": s, "returns": [...]}]``;
    ``ValueError`` when the folder has no checkpoint. The folder's environment is built from
    its config (a ``module:attribute`` one only when loaded with ``trust_env_module=True``),
    or is ``problem.env`` (or ``env=``, and ``env_params``) when given. ``best``: the
    parameters of each row's best evaluation during training (``RunResult.best_params``; the
    absolute metric) instead of the newest ones."""
    if best and run.best_params is None:
        raise ValueError(
            f"{str(run.out_dir)!r} holds no best parameters: they are kept by runs trained "
            "with eval_every > 0"
        )
    weights, stats = (run.best_params, run.best_obs_norm) if best else (run.params, run.obs_norm)
    if weights is None:
        raise ValueError(
            f"{str(run.out_dir)!r} has no checkpoint to evaluate (none was written, or "
            "load_run warned that the newest is damaged)"
        )
    results = []
    for i, row_seed in enumerate(run.seeds):
        params, obs_norm = jax.tree.map(lambda x, i=i: x[i], (weights, stats))
        key = jax.random.PRNGKey((seed + row_seed) % 2**32)
        res = evaluate(
            run.config,
            params,
            key,
            num_episodes,
            greedy=greedy,
            obs_norm=obs_norm,
            problem=problem_of(problem, keywords),
        )
        results.append({"seed": row_seed, "returns": np.asarray(res.returns).tolist()})
    return results


def evaluated_parameters(run: Any, *, best: bool = False) -> tuple[str, list[int]]:
    """What :func:`evaluate_run` plays for ``run`` (a folder read by ``load_run``): the file
    of the parameters and the update (1-based) each row's parameters come from: the newest
    checkpoint's, or with ``best`` each row's best evaluation (``best/best.msgpack``).
    ``ValueError`` when there is no such file."""
    from pathlib import Path

    from ppo_jax.io import checkpoint, rundir
    from ppo_jax.io.runload import read_best

    out = Path(run.out_dir or ".")
    if best:
        stored = read_best(out, len(run.seeds))
        if stored is None:
            raise ValueError(
                f"{str(out)!r} holds no best parameters: they are kept by runs trained with "
                "eval_every > 0"
            )
        return str(out / rundir.BEST_FILE), [int(u) + 1 for u in stored["best_update"]]
    newest = checkpoint.latest(out)
    return str(newest), [int(checkpoint.load(newest).update)] * len(run.seeds)


def record_run_episode(
    run: Any, *, max_steps: int, greedy: bool = True, seed: int = 1000
) -> tuple[list[Any], list[float]]:
    """:func:`record_episode` of the first row of a loaded run folder, with
    ``PRNGKey(seed)``."""
    if run.params is None:
        raise ValueError(f"{str(run.out_dir)!r} has no checkpoint to evaluate")
    params, obs_norm = jax.tree.map(lambda x: x[0], (run.params, run.obs_norm))
    return record_episode(
        run.config,
        params,
        jax.random.PRNGKey(seed),
        max_steps=max_steps,
        greedy=greedy,
        obs_norm=obs_norm,
    )
