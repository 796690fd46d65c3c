"""Multi-process (multi-host) runs on JAX's own multi-controller runtime.

Every process runs the same program; :func:`ppo_jax.sweep.sweep` then shards its runs over the
devices of all processes and gathers the results on each of them.
"""

from __future__ import annotations

import jax


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Join a ``jax.distributed`` job (call before any other JAX work in the process).

    On CPU this also selects the gloo collectives, which cross-process gathers need there.
    """
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise ValueError(f"coordinator_address must be 'HOST:PORT', got {coordinator_address!r}")
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be an int >= 1, got {num_processes!r}")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
