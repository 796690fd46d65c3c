"""One process of the two-process loopback sweep test (run by tests/test_sweep.py)."""

from __future__ import annotations

import ast
import sys

import numpy as np


def main() -> None:
    address, out = sys.argv[1], sys.argv[4]
    num_processes, process_id = int(sys.argv[2]), int(sys.argv[3])
    import ppo_jax.distributed

    ppo_jax.distributed.initialize(address, num_processes, process_id)
    import jax

    from ppo_jax import PPOConfig
    from ppo_jax.sweep import sweep

    assert jax.process_count() == num_processes and jax.local_device_count() == 1
    config = PPOConfig(**ast.literal_eval(sys.argv[5]))
    result = sweep(config, {"learning_rate": [1e-3, 3e-3], "clip_eps": [0.1, 0.3]}, [0, 7])
    assert result.num_devices == num_processes
    if process_id == 0:
        flat = {f"m_{k}": v for k, v in result.metrics.items()}
        leaves = {f"p_{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(result.params))}
        np.savez(out, **flat, **leaves)
    print(f"process {process_id} done", flush=True)


if __name__ == "__main__":
    main()
