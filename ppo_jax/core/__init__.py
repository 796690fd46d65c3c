"""The pure, jittable core of ppo_jax: no I/O, no caches, no devices, no globals.

Modules, in the order a training step uses them: ``config`` (static settings and traced
hyperparameters), ``envs`` (environments and vmapped steps; ``suites`` adapts Brax, Navix,
Jumanji and Craftax), ``networks`` and ``distributions`` (the policy), ``spec`` (the static objects
a program closes over), ``rollout``, ``gae``, ``loss``, ``update``, ``normalize``, and ``train``
(``init_runner``, ``update_step``, ``make_train``). Nothing here imports ``ppo_jax.run``,
``ppo_jax.io`` or ``ppo_jax.cli``.
"""
