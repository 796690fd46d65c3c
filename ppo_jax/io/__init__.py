"""Host-side input and output: checkpoints (``checkpoint``), the run folder's schema and
:class:`RunResult` (``rundir``), metric sinks (``sinks``: JSON lines, TensorBoard, W&B), plots
(``plotting``), console progress (``console``), config files (``configfile``) and the tuned
configs with their targets (``tuned``), and what ``ppo-jax bench`` writes (``bench_report``)."""
