"""The host side: turns a config and a problem into compiled programs and runs them.

``plan`` (every input checked and resolved: the problem, the device layout, the memory a run
needs), ``programs`` (the compiled init and update-range programs and their caches; ``train``,
``train_seeds``), ``parallel`` (the one device-mesh helper, CPU devices, multi-process),
``backend`` (per-backend choices), ``evaluate`` (``evaluate``, ``export_policy``), ``progress``,
``compare`` (``ppo-jax compare``), ``benchmark`` (``ppo_jax.benchmark``: timing grids through
the same programs) with ``bench_programs`` (what it measures beside them).

Experiments (checkpointed, resumable, logged runs in a run folder) all run through ONE
pipeline, ``experiment`` (plan -> compile -> update loop with checkpoints, logging,
evaluation and stopping -> run folder): a train run (``run_experiment``), a sweep
(``sweep``: ``run_sweep_experiment``) and population-based training (``pbt``:
``run_pbt_experiment``) differ only in the :class:`~ppo_jax.run.experiment.Experiment` value
they build. Imports go one way: ``plan`` -> ``programs`` -> ``experiment`` -> ``sweep`` /
``pbt`` (``tests/unit/test_import_graph.py`` checks that the package has no circle).
"""
