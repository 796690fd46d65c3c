"""The host side: turns a config into compiled programs and runs them.

``backend`` (per-backend choices), ``parallel`` (the one device-mesh helper, CPU devices,
multi-process), ``drivers`` (``train``, ``train_seeds`` and their compile caches), ``sweep``,
``population`` (``pbt``: population-based training in one compiled program), ``evaluate``
(``evaluate``, ``export_policy``), ``progress`` and ``summary`` (IQM, confidence intervals:
arrays in, numbers out), ``benchmark`` (``ppo_jax.benchmark``: timing grids through the same
programs) with ``bench_programs`` (what it measures beside them).

Sessions (checkpointed, resumable, logged runs in a run folder): ``session``
(``run_experiment``) and ``pbt`` (``run_pbt_experiment``) each build a
``session_setup.SessionSetup`` and run it with ``session_loop.run_session``, which writes its
results through ``session_outputs``. ``folders`` reads any run folder back (``load_run``,
``replot``); ``compare`` is ``ppo-jax compare``. Imports go one way, in this order:
``summary`` -> ``sweep`` -> ``population`` -> ``folders`` -> ``session_setup`` ->
``session_outputs`` -> ``session_loop`` -> ``session`` / ``pbt``
(``tests/unit/test_import_graph.py`` checks that the package has no circle).
"""
