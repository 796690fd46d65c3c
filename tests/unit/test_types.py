"""ppo_jax.core.types: the metric names and the flattening of built-in and custom metrics."""

from __future__ import annotations

import jax.numpy as jnp

from ppo_jax.core.types import METRIC_NAMES, Metrics, metrics_dict


def test_metrics_dict_puts_custom_metrics_after_the_built_in_ones():
    values = {name: jnp.float32(i) for i, name in enumerate(METRIC_NAMES)}
    m = Metrics(**values, custom={"zeta": jnp.float32(1), "alpha": jnp.float32(2)})
    flat = metrics_dict(m)
    assert list(flat) == [*METRIC_NAMES, "zeta", "alpha"]
    assert "custom" not in METRIC_NAMES and len(METRIC_NAMES) == 12
    assert metrics_dict(Metrics(**values)).keys() == set(METRIC_NAMES)
