"""Peer libraries on the same workload as a ``PPOConfig``: rejax (JAX) and Stable-Baselines3
(PyTorch), measured by ``python -m benchmarks.throughput --compare rejax,sb3``.

Both are optional (``pip install -e ".[compare]"``); a peer that is not installed is reported
as skipped, never an error. Each peer gets the config's workload: the same environment,
``num_envs`` x ``num_steps`` rollouts, ``update_epochs`` x ``num_minibatches`` updates, the same
actor and critic MLPs (``hidden_sizes``, ``activation``) and learning settings. Throughput
counts training only: rejax's periodic evaluation is switched off while timing, and
Stable-Baselines3's ``learn`` is timed alone. Whether a run solved the environment is judged
afterwards by each library's own evaluation of the final policy (128 episodes for rejax,
``SB3_EVAL_EPISODES`` for Stable-Baselines3), so a peer's "solved" is a final-policy figure,
not the training-return criterion of our rows.

Differences the peers impose, kept as they are: rejax 0.1.x targets gymnax 0.0.x, so it steps
gymnax >= 1.0 environments through ``FiveTupleEnv`` (``done = terminated or truncated``, as
rejax treats every episode end), clips gradients element-wise (``optax.clip``), and has no
learning-rate annealing. Stable-Baselines3 steps gymnasium's own environments on the CPU in
Python, one process, whatever the devices.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import timed_runs, timing_row
from ppo_jax import PPOConfig, make_env
from ppo_jax.io.stats import solved_threshold

PEERS = ("rejax", "sb3")
PEER_MODULES = {"rejax": "rejax", "sb3": "stable_baselines3"}
REJAX_EVAL_EPISODES = 128
SB3_EVAL_EPISODES = 32


def parse_peers(text: str) -> list[str]:
    """``"rejax,sb3"`` -> ``["rejax", "sb3"]``; ``ValueError`` names an unknown peer."""
    peers = [p for p in text.split(",") if p]
    for peer in peers:
        if peer not in PEERS:
            raise ValueError(f"--compare: {peer!r} is not one of {', '.join(PEERS)}")
    return peers


def installed(peer: str) -> bool:
    """Whether ``peer``'s package can be imported."""
    return importlib.util.find_spec(PEER_MODULES[peer]) is not None


class FiveTupleEnv:
    """A gymnax >= 1.0 environment seen through the gymnax 0.0.x API that rejax calls:
    ``step`` returns ``(obs, state, reward, done, info)`` with ``done = terminated | truncated``.
    Everything else is the wrapped environment's."""

    def __init__(self, env: Any) -> None:
        self.env = env

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not set yet (copy.deepcopy builds the object without __init__)
            raise AttributeError(name)
        return getattr(self.env, name)

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any = None) -> Any:
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info

    def reset(self, key: jax.Array, params: Any = None) -> Any:
        return self.env.reset(key, params)


def rejax_ppo(config: PPOConfig) -> Any:
    """A ``rejax.PPO`` with ``config``'s workload and learning settings, evaluation off."""
    from rejax import PPO

    env, env_params = make_env(config)
    algo = PPO.create(
        env=FiveTupleEnv(env),
        env_params=env_params,
        num_envs=config.num_envs,
        num_steps=config.num_steps,
        num_epochs=config.update_epochs,
        num_minibatches=config.num_minibatches,
        learning_rate=config.learning_rate,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_eps=config.clip_eps,
        vf_coef=config.vf_coef,
        ent_coef=config.ent_coef,
        max_grad_norm=config.max_grad_norm,
        total_timesteps=config.total_timesteps,
        eval_freq=config.total_timesteps,
        skip_initial_evaluation=True,
        agent_kwargs={"activation": config.activation, "hidden_layer_sizes": config.hidden_sizes},
    )
    return algo.replace(eval_callback=_no_evaluation)


def _no_evaluation(algo: Any, train_state: Any, key: jax.Array) -> jax.Array:
    return jnp.zeros(())


def bench_rejax(config: PPOConfig, num_seeds: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """rejax's own multi-seed recipe, ``jit(vmap(algo.train))(keys)`` on the default device:
    compile time, median run time of ``repeats`` runs after a warm-up, and its final-policy
    evaluation per seed."""
    algo = rejax_ppo(config)
    keys = rejax_keys(num_seeds, seed)
    t0 = time.perf_counter()
    run = jax.jit(jax.vmap(algo.train)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    train_state, _ = run(keys)
    jax.block_until_ready(train_state)
    times = timed_runs(lambda: run(keys), repeats)
    returns = rejax_final_returns(algo, train_state, seed)
    return _peer_row("rejax", config, num_seeds, compile_s, times, returns)


def rejax_keys(num_seeds: int, seed: int = 0) -> jax.Array:
    """The ``[S]`` training keys of :func:`bench_rejax`."""
    return jax.random.split(jax.random.PRNGKey(seed), num_seeds)


def rejax_final_returns(algo: Any, train_state: Any, seed: int = 0) -> np.ndarray:
    """Mean return of ``REJAX_EVAL_EPISODES`` episodes of each trained policy (``[S]`` train
    states from ``vmap(algo.train)``), by rejax's own ``evaluate``."""
    from rejax.evaluate import evaluate

    def final_return(ts: Any, key: jax.Array) -> jax.Array:
        max_steps = algo.env_params.max_steps_in_episode
        _, returns = evaluate(
            algo.make_act(ts), key, algo.env, algo.env_params, REJAX_EVAL_EPISODES, max_steps
        )
        return returns.mean()

    num_seeds = jax.tree.leaves(train_state)[0].shape[0]
    eval_keys = jax.random.split(jax.random.PRNGKey(seed + 1), num_seeds)
    return np.asarray(jax.jit(jax.vmap(final_return))(train_state, eval_keys))


def gymnasium_id(env_name: str) -> str:
    """The gymnasium id of a gymnax environment name; ``ValueError`` if gymnasium has none."""
    import gymnasium

    if env_name not in gymnasium.registry:
        raise ValueError(
            f"sb3 comparison: gymnasium has no environment {env_name!r} (it steps gymnasium's "
            "own environments); compare on one gymnasium also registers, e.g. CartPole-v1"
        )
    return env_name


def sb3_ppo(config: PPOConfig, seed: int = 0) -> Any:
    """A Stable-Baselines3 ``PPO`` with ``config``'s workload and learning settings on
    ``num_envs`` gymnasium environments in one process, on the CPU."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    activations = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu": torch.nn.GELU}
    activations["silu"] = torch.nn.SiLU
    hidden = list(config.hidden_sizes)
    rate = config.learning_rate
    learning_rate: Any = (lambda remaining: remaining * rate) if config.anneal_lr else rate
    env = make_vec_env(gymnasium_id(config.env_name), n_envs=config.num_envs, seed=seed)
    return PPO(
        "MlpPolicy",
        env,
        learning_rate=learning_rate,
        n_steps=config.num_steps,
        batch_size=config.minibatch_size,
        n_epochs=config.update_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_eps,
        normalize_advantage=config.normalize_advantages,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs={
            "net_arch": {"pi": hidden, "vf": hidden},
            "activation_fn": activations[config.activation],
        },
        device="cpu",
        seed=seed,
        verbose=0,
    )


def bench_sb3(config: PPOConfig, seed: int = 0) -> dict[str, Any]:
    """One Stable-Baselines3 run of ``config.total_timesteps`` steps: the wall time of
    ``learn`` (no compile step) and the final policy's mean return over ``SB3_EVAL_EPISODES``
    episodes of gymnasium's environment (SB3's ``evaluate_policy``)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    model = sb3_ppo(config, seed)
    t = time.perf_counter()
    model.learn(total_timesteps=config.total_timesteps)
    run_s = time.perf_counter() - t
    eval_env = make_vec_env(gymnasium_id(config.env_name), n_envs=8, seed=seed + 1)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=SB3_EVAL_EPISODES)
    return _peer_row("sb3", config, 1, None, [run_s], np.array([mean_return]))


def _peer_row(
    library: str,
    config: PPOConfig,
    num_seeds: int,
    compile_s: float | None,
    times: list[float],
    final_returns: np.ndarray,
) -> dict[str, Any]:
    threshold = solved_threshold(config.env_name)
    solved = None if threshold is None else int(np.sum(final_returns >= threshold))
    return {
        **timing_row(library, config, num_seeds, compile_s, times),
        "sharded_over": 1,
        "layout": "one",
        "solve_threshold": threshold,
        "seeds_solved": solved,
        "solve_s_all": None,
        "final_return_mean": [float(r) for r in final_returns],
    }
