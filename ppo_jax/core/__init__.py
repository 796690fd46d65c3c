"""The pure, jittable core of ppo_jax: no I/O, no caches, no devices, no globals.

Modules, in the order a training step uses them: ``config`` (the static config, traced
hyperparameters), ``envs`` (the environment contract as Protocols, one abstract trace per
environment, the one batched step with named strategies; ``suites`` adapts Brax, Navix,
Jumanji, Craftax and XLand-MiniGrid, ``envpool`` EnvPool), ``networks`` and ``distributions``
(the policy), ``spec`` (the problem, and the static objects a program closes over),
``rollout``, ``gae``, ``loss``, ``update``, ``normalize``, ``episodes`` (evaluation episodes),
``train`` (``init_runner``, ``update_step``, ``make_train``), ``search`` (search spaces and
settings) and ``exploit`` (PBT's exploit and explore steps). Nothing here imports ``ppo_jax.run``,
``ppo_jax.io`` or ``ppo_jax.cli``.
"""
