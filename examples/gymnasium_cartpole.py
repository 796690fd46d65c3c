"""Train on gymnax CartPole-v1, then balance gymnasium's own CartPole-v1 with the policy.

    python examples/gymnasium_cartpole.py            # trains (~40 s on a laptop CPU), then plays

`ppo_jax.export_policy` turns trained parameters into a plain function: numpy observation in,
int action out. Nothing of JAX leaks into the environment loop.
"""

from __future__ import annotations

import sys

import gymnasium as gym
import jax

import ppo_jax


def main(episodes: int = 5) -> float:
    config = ppo_jax.PPOConfig()  # the defaults solve CartPole-v1
    result = ppo_jax.train(config, jax.random.PRNGKey(0))
    act = ppo_jax.export_policy(config, result.params)  # greedy: argmax of the logits

    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        print(f"gymnasium CartPole-v1 episode {episode}: return {total:.0f}")
    env.close()
    mean = sum(returns) / len(returns)
    print(f"mean return over {episodes} episodes: {mean:.1f} (500 is the maximum)")
    return mean


if __name__ == "__main__":
    sys.exit(0 if main() >= 475 else 1)
