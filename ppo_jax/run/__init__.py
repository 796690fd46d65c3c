"""The host side: turns a config into compiled programs and runs them.

``backend`` (per-backend choices), ``parallel`` (the one device-mesh helper, CPU devices,
multi-process), ``drivers`` (``train``, ``train_seeds`` and their compile caches), ``sweep``,
``evaluate`` (``evaluate``, ``export_policy``), ``session`` (``run_experiment``, ``load_run``:
checkpointed, resumable, logged runs), ``progress`` and ``summary``.
"""
