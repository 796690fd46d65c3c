"""Host-side input and output: checkpoints (``checkpoint``), the run folder's schema and its one
writer (``rundir``) and one reader (``runload``), metric sinks (``sinks``: JSON lines,
TensorBoard, W&B), plots (``plotting``), console progress (``console``), statistics with their
n and method (``stats``), config files (``configfile``), the tuned configs with their targets
(``tuned``), and what ``ppo-jax bench`` writes (``bench_report``)."""
