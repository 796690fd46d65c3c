"""Tuned PPO configurations per environment, and the ONE table of target returns.

``get_config("Acrobot-v1")`` returns the settings this project measured to reach the
environment's target return (``TARGETS``, also what "solved" means in summaries; every entry is
backed by a learning test). Environments without an entry get the defaults of
:class:`~ppo_jax.core.config.PPOConfig` with ``env_name`` set. ``ppo-jax train --env X`` starts
from ``get_config(X)``; explicit flags and ``--config`` files override its fields.
"""

from __future__ import annotations

import functools
from typing import Any

from ppo_jax.core.config import PPOConfig

#: Mean episode return at which an environment counts as solved, and which its tuned config is
#: expected to reach (gymnasium's reward thresholds where they exist, else a common target).
TARGETS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -150.0,
    "Pendulum-v1": -250.0,
    "MountainCarContinuous-v0": 90.0,
    "MemoryChain-bsuite": 0.9,
    # Other suites (optional extras; ppo_jax.core.suites). Navix and XLand-MiniGrid pay 1 (or
    # 1 - 0.9 t/T) at the goal, so 0.9 means "reaches it, quickly"; 1000 is Brax's episode
    # length with reward 1 per balanced step. Snake: fruit eaten per episode, as measured here
    # (the tuned config's training return passes 15 within 1M steps on this CPU).
    "navix:Navix-Empty-5x5-v0": 0.9,
    "xminigrid:MiniGrid-Empty-5x5": 0.9,
    "brax:inverted_pendulum": 800.0,
    "jumanji:Snake-v1": 10.0,
    # Tetris: Jumanji's line-clearing reward per episode; a uniformly random legal policy scores
    # 6.1 in Jumanji's own loop (256 episodes), the tuned config 50-160 (greedy, 10 seeds) after
    # 2M steps (after 1M, two seeds of 10 were judged exactly 15).
    "jumanji:Tetris-v0": 15.0,
    # GPU scale, not measured on this project's CPU: Brax ant's PPO return with Brax's published
    # settings (a conservative floor), and Craftax-Classic at 90% of its optimal return of 22
    # (one per achievement), what PPO averages after 1B steps in the Craftax paper (Matthews et
    # al., ICML 2024).
    "brax:ant": 3000.0,
    "craftax:Craftax-Classic-Symbolic-v1": 19.8,
    # EnvPool (ppo_jax.core.envpool): CartPole's own threshold (measured on this CPU, 4 seeds,
    # judged again by gymnasium's CartPole). GPU scale, not measured on this project's CPU
    # (10M steps of the Nature CNN are ~9 hours here): Atari PPO's published returns at 10M
    # steps with CleanRL's settings, as conservative floors (the training returns with
    # episodic_life and reward_clip are clipped returns of one life), and HalfCheetah's return
    # with CleanRL's MuJoCo settings at 1M steps.
    "envpool:CartPole-v1": 475.0,
    "envpool:Breakout-v5": 20.0,
    "envpool:Pong-v5": 15.0,
    "envpool:HalfCheetah-v4": 1000.0,
}


# The configs below are built on first use, never at import: validating a gymnax env_name
# imports gymnax, whose import runs JAX computations, and ``import ppo_jax`` must leave the
# backend untouched (``jax.distributed.initialize`` refuses to start after it).


def _pendulum_v1_gaussian() -> PPOConfig:
    # Pendulum-v1's tuned config up to 0.3.0 (a state-independent log-std).
    return PPOConfig(
        env_name="Pendulum-v1",
        total_timesteps=1_048_576,
        update_epochs=10,
        num_minibatches=8,
        learning_rate=1e-3,
        gamma=0.95,
        clip_eps=0.2,
        ent_coef=0.0,
        normalize_observations=True,
        normalize_rewards=True,
    )


def _acrobot_v1() -> PPOConfig:
    # Acrobot-v1's tuned config up to 0.3.0.
    return PPOConfig(
        env_name="Acrobot-v1",
        total_timesteps=524_288,
        clip_eps=0.2,
        ent_coef=0.0,
        normalize_observations=True,
    )


def _mountaincar_v0() -> PPOConfig:
    # MountainCar-v0's tuned config up to 0.3.0.
    return PPOConfig(
        env_name="MountainCar-v0",
        num_envs=16,
        num_steps=16,
        total_timesteps=1_048_576,
        learning_rate=1e-3,
        gae_lambda=0.98,
        clip_eps=0.2,
        ent_coef=0.0,
        normalize_observations=True,
    )


def _tetris_v0() -> PPOConfig:
    return PPOConfig(
        env_name="jumanji:Tetris-v0",
        num_envs=64,
        num_steps=32,
        total_timesteps=2_097_152,
        learning_rate=5e-4,
        clip_eps=0.2,
        ent_coef=0.01,
        hidden_sizes=(128, 128),
    )


@functools.cache
def cartpole_v1() -> PPOConfig:
    """CartPole-v1's tuned config (also ``CARTPOLE_V1``): the package defaults
    (``PPOConfig()``: 32 envs x 64 steps, 4 epochs x 4 minibatches, lr 2.5e-3 annealed to 0,
    clip 0.1) trained 1.5x longer, 393,216 env-steps (192 updates). It is the defaults' compiled
    program with a longer loop, so it runs at the same env-steps/s and compiles as fast."""
    # Judged by gymnasium's CartPole-v1 (16 greedy episodes per seed), every one of seeds 0-143
    # scored 500, trained 16 seeds per call as benchmarks/results.py trains them. The defaults
    # at 262,144 steps (LEGACY["CartPole-v1"], the tuned config up to 0.3.0) collapsed late on
    # seed 15 of 0-47 (judged 380). rl-baselines3-zoo's CartPole settings (8 envs x 32 steps,
    # 20 epochs) also solved 48 of 48 but ran ~2.8x fewer env-steps/s and compiled ~10x longer.
    return PPOConfig(total_timesteps=393_216)


@functools.cache
def legacy_configs() -> dict[str, PPOConfig]:
    """Tuned configs that were replaced (also ``LEGACY``), kept under this explicit name to
    reproduce earlier results (``LEGACY["Pendulum-v1"]``); ``get_config`` never returns them.
    Each missed its target on at least one seed when judged independently
    (``docs/results.md``)."""
    return {
        "CartPole-v1": PPOConfig(),
        "Acrobot-v1": _acrobot_v1(),
        "MountainCar-v0": _mountaincar_v0(),
        "Pendulum-v1": _pendulum_v1_gaussian(),
        "jumanji:Tetris-v0": _tetris_v0_1m(),
    }


def _tetris_v0_1m() -> PPOConfig:
    return _tetris_v0().replace(total_timesteps=1_048_576)


def __getattr__(name: str) -> Any:
    """``CARTPOLE_V1`` and ``LEGACY``, built on first use (module attributes, PEP 562)."""
    if name == "CARTPOLE_V1":
        return cartpole_v1()
    if name == "LEGACY":
        return legacy_configs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _classic_control() -> list[PPOConfig]:
    return [
        # Acrobot-v1: the CartPole settings with normalised observations and a smaller step
        # size (1e-3, not 2.5e-3): judged by gymnasium over 16 seeds, every seed between -78
        # and -87. The previous config (LEGACY) left 2 seeds of 16 at -500, never reaching
        # the goal; its entropy bonus of 0 alone was not the cause (0.01 left one there).
        _acrobot_v1().replace(learning_rate=1e-3, ent_coef=0.01),
        # MountainCar-v0: normalised observations are what makes it learnable (the position and
        # velocity differ in scale by ~20x); GAE lambda 0.98, short rollouts, no entropy bonus,
        # step size 5e-4: judged by gymnasium over 16 seeds, every seed between -105 and -118.
        # With 1e-3 (LEGACY) one seed of 16 reached the goal and then lost it (-200).
        _mountaincar_v0().replace(learning_rate=5e-4),
        # Pendulum-v1: a Gaussian whose log-std is a head of the actor (state-dependent std),
        # short horizon (gamma 0.95), 10 epochs, both normalisations. Judged by gymnasium's
        # Pendulum-v1 over 16 seeds, every seed's greedy mean passes the target by ~60; the
        # state-independent std it replaces (LEGACY) missed it on one seed in 16 (-345, an
        # episode of -1492), a tanh-Gaussian passed on all 16 but by as little as 6
        # (docs/results.md).
        _pendulum_v1_gaussian().replace(state_dependent_std=True),
        # MountainCarContinuous-v0: the goal bonus must be found first. A wide initial Gaussian
        # (log std 1: most actions clip to +-1, a random walk that reaches the goal in ~14% of
        # episodes) finds it; reward scaling keeps the +100 bonus from swamping the critic.
        PPOConfig(
            env_name="MountainCarContinuous-v0",
            num_envs=64,
            num_steps=64,
            total_timesteps=2_097_152,
            learning_rate=3e-4,
            clip_eps=0.2,
            ent_coef=0.0,
            log_std_init=1.0,
            normalize_observations=True,
            normalize_rewards=True,
        ),
    ]


def _minatar() -> list[PPOConfig]:
    """MinAtar: CNN torso (16 3x3 filters) + one 64-unit layer, 10M steps (an accelerator's
    budget). On this project's 2-core CPU, Breakout-MinAtar with these settings went from a
    return of 1.2 to 6.0 (2 seeds) in its first 262k steps, at ~5.6k env-steps/s."""
    return [
        PPOConfig(
            env_name=name,
            num_envs=32,
            num_steps=64,
            total_timesteps=10_000_000,
            learning_rate=1e-3,
            clip_eps=0.2,
            ent_coef=0.01,
            hidden_sizes=(64,),
            cnn_channels=(16,),
        )
        for name in MINATAR_ENVS
    ]


def _memory() -> list[PPOConfig]:
    """bsuite's MemoryChain: the context bit is shown only at the first of 6 steps and must be
    given back at the last (return +1 or -1). Only a policy with memory can score above 0, so
    the tuned config is recurrent: ``get_config("MemoryChain-bsuite")`` (a GRU of 32 units)
    solves it (greedy return 1.0 on every seed tested, tests/learning/test_memory.py); the
    feed-forward policy with the same settings (``recurrent=None``) stays at chance (0)."""
    return [
        PPOConfig(
            env_name="MemoryChain-bsuite",
            num_envs=32,
            num_steps=32,
            total_timesteps=131_072,
            learning_rate=1e-3,
            clip_eps=0.2,
            ent_coef=0.01,
            hidden_sizes=(64,),
            recurrent="gru",
            recurrent_size=32,
        )
    ]


def _suites() -> list[PPOConfig]:
    """Environments of the optional suites (``ppo_jax.core.suites``): CPU-sized configs backed
    by learning tests (Navix, XLand-MiniGrid, Brax's inverted pendulum, Jumanji's Snake) and
    GPU-sized ones from the suites' own published settings (Brax ant, Craftax-Classic)."""
    # Navix and XLand-MiniGrid Empty-5x5: the goal is a few steps away; greedy return 1.0
    # (0.96) on every seed tested.
    grid = PPOConfig(
        num_envs=16,
        num_steps=64,
        total_timesteps=131_072,
        normalize_observations=True,
        torso="mlp",
    )
    return [
        grid.replace(env_name="navix:Navix-Empty-5x5-v0"),
        grid.replace(env_name="xminigrid:MiniGrid-Empty-5x5"),
        # Brax inverted pendulum: Gaussian policy, 10 epochs, both normalisations; balanced for
        # the whole 1000-step episode (greedy) after ~150k steps.
        PPOConfig(
            env_name="brax:inverted_pendulum",
            num_envs=32,
            num_steps=64,
            total_timesteps=524_288,
            update_epochs=10,
            num_minibatches=8,
            learning_rate=1e-3,
            clip_eps=0.2,
            ent_coef=0.0,
            normalize_observations=True,
            normalize_rewards=True,
        ),
        # Jumanji Snake: the grid, step count and action mask flattened (ObservationMask), the
        # mask applied to the policy; normalised observations (the step count reaches 4000).
        PPOConfig(
            env_name="jumanji:Snake-v1",
            num_envs=64,
            num_steps=64,
            total_timesteps=1_048_576,
            learning_rate=5e-4,
            clip_eps=0.2,
            normalize_observations=True,
        ),
        # Jumanji Tetris: MultiDiscrete (rotation, column) with a joint legality mask, so one
        # masked Discrete(40) over the pairs (ppo_jax.core.suites.JumanjiEnv); grid, tetromino
        # and step count flattened; a wider MLP and a small entropy bonus; 2M steps (LEGACY:
        # 1M, which left two seeds of 10 exactly at the target).
        _tetris_v0(),
        # Brax ant, Brax's published PPO settings mapped onto ours: 4096 envs x 40 steps (its
        # batch 1024 x 32 minibatches of 5-step unrolls), 4 epochs x 32 minibatches, gamma
        # 0.97, entropy 1e-2, 50M steps; reward normalisation in place of its reward scaling.
        PPOConfig(
            env_name="brax:ant",
            num_envs=4096,
            num_steps=40,
            total_timesteps=50_000_000,
            update_epochs=4,
            num_minibatches=32,
            learning_rate=3e-4,
            gamma=0.97,
            clip_eps=0.3,
            ent_coef=1e-2,
            hidden_sizes=(256, 256, 256),
            activation="relu",
            normalize_observations=True,
            normalize_rewards=True,
        ),
        # Craftax-Classic (symbolic), the Craftax paper's PPO settings: 1024 envs x 64 steps,
        # 4 epochs x 8 minibatches, lr 2e-4, GAE lambda 0.8, three 512-unit layers, 1B steps.
        PPOConfig(
            env_name="craftax:Craftax-Classic-Symbolic-v1",
            num_envs=1024,
            num_steps=64,
            total_timesteps=1_000_000_000,
            update_epochs=4,
            num_minibatches=8,
            learning_rate=2e-4,
            gae_lambda=0.8,
            clip_eps=0.2,
            ent_coef=0.01,
            max_grad_norm=1.0,
            hidden_sizes=(512, 512, 512),
        ),
    ]


ATARI_ENVPOOL_KWARGS = (("episodic_life", True), ("reward_clip", True))
"""EnvPool settings of Atari PPO (CleanRL's ``ppo_atari_envpool_xla_jax.py``): a lost life ends
the training episode, rewards clipped to their sign."""


def _envpool() -> list[PPOConfig]:
    """EnvPool tasks (``envpool:<task id>``, ``ppo_jax.core.envpool``). Atari: CleanRL's Atari
    PPO settings (``ppo_atari_envpool_xla_jax.py``: 8 envs x 128 steps, 4 epochs x 4
    minibatches, lr 2.5e-4 annealed, clip 0.1, no value clipping, entropy 0.01, 10M steps) with
    the Nature CNN; a GPU-sized budget. HalfCheetah: CleanRL's MuJoCo PPO settings (2048-step
    batches, 10 epochs x 32 minibatches, lr 3e-4, clip 0.2, no entropy bonus, both
    normalisations, 1M steps) over 8 environments."""
    atari = PPOConfig(
        env_kwargs=ATARI_ENVPOOL_KWARGS,
        torso="nature",
        num_envs=8,
        num_steps=128,
        total_timesteps=10_000_000,
        update_epochs=4,
        num_minibatches=4,
        learning_rate=2.5e-4,
        clip_eps=0.1,
        vf_clip_eps=None,
        ent_coef=0.01,
    )
    return [
        # CartPole through EnvPool: CartPole-v1's tuned settings.
        cartpole_v1().replace(env_name="envpool:CartPole-v1"),
        atari.replace(env_name="envpool:Breakout-v5"),
        atari.replace(env_name="envpool:Pong-v5"),
        PPOConfig(
            env_name="envpool:HalfCheetah-v4",
            num_envs=8,
            num_steps=256,
            total_timesteps=1_000_000,
            update_epochs=10,
            num_minibatches=32,
            learning_rate=3e-4,
            clip_eps=0.2,
            ent_coef=0.0,
            normalize_observations=True,
            normalize_rewards=True,
        ),
    ]


MINATAR_ENVS = ("Breakout-MinAtar", "Asterix-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar")


@functools.cache
def tuned_configs() -> dict[str, PPOConfig]:
    """``env_name -> PPOConfig`` of every tuned environment (built once, on first use)."""
    configs = [
        cartpole_v1(),
        *_classic_control(),
        *_minatar(),
        *_memory(),
        *_suites(),
        *_envpool(),
    ]
    return {c.env_name: c for c in configs}


def tuned_env_names() -> list[str]:
    """Environments with a tuned config."""
    return list(tuned_configs())


def target(env_name: str) -> float | None:
    """The target (solve) return of ``env_name``, or ``None`` if none is known."""
    return TARGETS.get(env_name)


def get_config(env_name: str, **overrides: Any) -> PPOConfig:
    """The tuned config of ``env_name`` (or the defaults with ``env_name`` set), with
    ``overrides`` applied. Unknown environments and invalid overrides raise like
    :class:`PPOConfig` does (``ValueError``/``TypeError`` naming the field)."""
    base = tuned_configs().get(env_name) if isinstance(env_name, str) else None
    if base is None:
        base = PPOConfig(env_name=env_name)
    return base.replace(**overrides) if overrides else base
