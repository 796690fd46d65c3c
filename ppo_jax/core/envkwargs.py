"""What ``env_kwargs`` may reach an environment suite's constructor, and from where.

``env_kwargs`` are handed to a suite's constructor (``brax.envs.get_environment``,
``envpool.make``, the fields of a Craftax ``EnvParams`` ...). Typed by the user, they are the
user's choice; read from a run folder's ``config.json`` (a config with an
:attr:`~ppo_jax.PPOConfig.env_origin`), they are data that may come from someone else, and
some of them steer what native code loads: EnvPool's ``base_path`` (where its ROMs and MuJoCo
models are read from), VizDoom's ``vzd_path`` (an executable), Atari's ``task`` (the ROM's
name). So :func:`check_env_kwargs`, run before anything is imported or built:

1. For every config, a kwarg listed in :data:`SUITE_KWARGS` must have its documented type and
   lie in its range (``max_timesteps=10**12`` for Craftax is refused naming the kwarg, not
   traced into an ``OverflowError``).
2. For a config read from a folder (and not trusted for the call):

   - a kwarg listed in :data:`NATIVE_KWARGS` (paths, file and task names, thread settings)
     needs the same explicit trust as a ``module:attribute`` environment
     (``--trust-env-module``, Python ``trust_env_module=True``);
   - EnvPool runs C++ with its settings: only the kwargs of its table may come from a
     folder;
   - the JAX suites (and gymnax) compute with their kwargs: any other kwarg must be a plain
     value (a bool, an int32, a finite float, or a short tuple of those); a string or a
     nested value needs trust.

Every refusal is one ``ValueError`` naming the kwarg, what it may be, and (for a folder) how
to trust it. This module imports nothing: the tables are the constructors' documented
arguments, written down.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

INT32_MAX = 2**31 - 1
"""Largest int a traced environment parameter (int32) or a C++ ``int`` holds."""
FLOAT32_MAX = 3.4028234663852886e38
MAX_TUPLE = 16
"""Longest tuple of numbers a folder may give as one kwarg (``healthy_z_range=(0.2, 1.0)``)."""


class KwargRule(NamedTuple):
    """The type and range a documented kwarg takes."""

    kind: str
    """``"int"``, ``"float"``, ``"bool"`` or ``"choice"``."""
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[str, ...] = ()
    doc: str = ""
    """What it sets (shown in refusals)."""

    def describe(self) -> str:
        if self.kind == "bool":
            return "a bool"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        article = "an" if self.kind == "int" else "a"
        return f"{article} {self.kind} in [{_number(self.low)}, {_number(self.high)}]"

    def accepts(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return math.isfinite(value) and self.low <= value <= self.high


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _int(low: int, high: int = INT32_MAX, doc: str = "") -> KwargRule:
    return KwargRule("int", low, high, doc=doc)


def _float(low: float, high: float, doc: str = "") -> KwargRule:
    return KwargRule("float", low, high, doc=doc)


BOOL = KwargRule("bool")
TIME_LIMIT = _int(1, doc="steps per episode")

SUITE_KWARGS: dict[str, dict[str, KwargRule]] = {
    "gymnax": {"max_steps_in_episode": TIME_LIMIT},
    "brax": {
        "episode_length": _int(1, 10**7, "ppo_jax's time limit of an episode"),
        "backend": KwargRule("choice", choices=("generalized", "positional", "spring", "mjx")),
        "n_frames": _int(1, 1000, "physics steps per environment step"),
        "debug": BOOL,
    },
    "navix": {"max_steps": TIME_LIMIT},
    "jumanji": {"time_limit": TIME_LIMIT},
    "craftax": {
        "reset_ratio": _int(1, 10**7, "environments per fresh world drawn each step"),
        "max_timesteps": TIME_LIMIT,
    },
    "xminigrid": {
        "max_steps": TIME_LIMIT,
        "render_mode": KwargRule("choice", choices=("rgb_array", "rich_text")),
    },
    "envpool": {
        "seed": _int(0, 2**30, "EnvPool seeds environment i with seed + i"),
        "max_episode_steps": TIME_LIMIT,
        "episodic_life": BOOL,
        "reward_clip": BOOL,
        "zero_discount_on_life_loss": BOOL,
        "use_fire_reset": BOOL,
        "gray_scale": BOOL,
        "use_inter_area_resize": BOOL,
        "full_action_space": BOOL,
        "repeat_action_probability": _float(0.0, 1.0, "sticky actions"),
        "stack_num": _int(1, 64, "frames stacked per observation"),
        "frame_skip": _int(1, 64, "emulator frames per step"),
        "noop_max": _int(0, 10**5, "random no-ops at a reset"),
        "img_height": _int(1, 1024, "observation height"),
        "img_width": _int(1, 1024, "observation width"),
    },
}
"""Per suite: the kwargs whose type and range ppo_jax checks for every config, and the only
ones (for EnvPool) or the named ones (for the JAX suites) a run folder may set untrusted. The
types and defaults are the constructors' (``PipelineEnv``, ``navix.make``, Craftax's and
XLand-MiniGrid's ``EnvParams``, EnvPool's task specs); where a constructor documents no
range, the bound is what the value feeds (an int32 time limit, a C++ allocation of
``stack_num * img_height * img_width`` bytes per environment)."""

NATIVE_KWARGS: dict[str, dict[str, str]] = {
    "envpool": {
        "base_path": "the folder EnvPool loads its ROMs and models from",
        "task": "the name of the Atari ROM file loaded",
        "task_name": "the task EnvPool builds",
        "xml_file": "the MuJoCo model file loaded",
        "cfg_path": "the VizDoom config file loaded",
        "wad_path": "the VizDoom WAD file loaded",
        "iwad_path": "the VizDoom IWAD file loaded",
        "vzd_path": "the VizDoom executable run",
        "lmp_save_dir": "a folder VizDoom writes to",
        "game_args": "arguments of the VizDoom executable",
        "num_threads": "the pool's threads",
        "thread_affinity_offset": "the CPUs the pool's threads are pinned to",
        "max_num_players": "the pool's players",
        "env_seed": "the seed of each environment",
    },
}
"""Per suite: kwargs that steer native code (files and executables loaded, threads), with what
they steer. From a run folder they need ``--trust-env-module`` (``trust_env_module=True``)."""


def suite_of(env_name: str) -> str | None:
    """``"gymnax"`` for a plain id, the prefix of ``suite:id``, ``None`` for anything else."""
    from ppo_jax.core.config import SUITE_PREFIXES

    prefix, sep, _ = env_name.partition(":")
    if not sep:
        return "gymnax"
    return prefix if prefix in SUITE_PREFIXES else None


def is_plain(value: Any) -> bool:
    """A value that names no code, file or object: a bool, an int32, a finite float32, or a
    tuple of at most :data:`MAX_TUPLE` of those."""
    if isinstance(value, tuple):
        return len(value) <= MAX_TUPLE and all(
            not isinstance(v, tuple) and is_plain(v) for v in value
        )
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -INT32_MAX - 1 <= value <= INT32_MAX
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= FLOAT32_MAX
    return False


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def check_env_kwargs(env_name: str, env_kwargs: Any, origin: str | None = None) -> None:
    """``ValueError`` (one line) for ``env_kwargs`` of a gymnax or suite id that cannot reach
    its constructor (see the module docstring); ``origin``: where the config was read from
    (a run folder, untrusted), ``None`` for a config made on this call. ``module:attribute``
    names pass: their kwargs go to a factory the user trusts as a whole
    (:func:`~ppo_jax.core.envs.check_env_trusted`)."""
    suite = suite_of(env_name)
    if suite is None:
        return
    rules = SUITE_KWARGS.get(suite, {})
    native = NATIVE_KWARGS.get(suite, {})
    for key, value in env_kwargs:
        rule = rules.get(key)
        if rule is not None and not rule.accepts(value):
            what = f" ({rule.doc})" if rule.doc else ""
            raise ValueError(
                f"PPOConfig.env_kwargs {key}={_shown(value)} for {env_name}: need "
                f"{rule.describe()}{what}"
            )
        if origin is None or rule is not None:
            continue
        if key in native:
            reason = f"{key} sets {native[key]}"
        elif suite == "envpool":
            reason = (
                f"EnvPool runs C++ with {key}, which ppo_jax does not check (it checks "
                f"{', '.join(sorted(rules))})"
            )
        elif not is_plain(value):
            reason = (
                f"{key} is not a plain value (a bool, an int32, a finite float or a tuple of those)"
            )
        else:
            continue
        raise ValueError(
            f"{origin} gives env_kwargs {key}={_shown(value)} for {env_name}: {reason}; a run "
            "folder is data and never steers what is loaded or run on its own. If you trust "
            "it, pass --trust-env-module (Python: trust_env_module=True), or give the "
            "environment object (env=, env_params=)"
        )


def needs_trust(env_name: str, env_kwargs: Any) -> bool:
    """Whether a folder holding this environment needs ``--trust-env-module`` to be built
    again (a ``module:attribute`` name, or a kwarg :func:`check_env_kwargs` refuses from a
    folder)."""
    if suite_of(env_name) is None:
        return ":" in env_name
    try:
        check_env_kwargs(env_name, env_kwargs, origin="a run folder")
    except ValueError:
        return True
    return False


def check_params_fields(env_name: str, params: Any, kwargs: dict[str, Any]) -> None:
    """``ValueError`` naming the kwarg when a value in ``kwargs`` replacing a field of the
    environment parameters ``params`` (gymnax's, Craftax's ``EnvParams``: traced int32 and
    float32 values) does not have the field's type or does not fit its dtype: a bool field
    takes a bool, an int field an int32, a float field a finite float32."""
    for key, value in kwargs.items():
        if not hasattr(params, key):
            continue
        default = getattr(params, key)
        if isinstance(default, bool):
            ok, need = isinstance(value, bool), "a bool"
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and is_plain(value)
            need = f"an int in [{-INT32_MAX - 1}, {INT32_MAX}]"
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and is_plain(float(value))
            need = "a finite float (float32)"
        else:
            ok, need = is_plain(value), "a plain value (numbers, bools, tuples of them)"
        if not ok:
            raise ValueError(
                f"PPOConfig.env_kwargs {key}={_shown(value)} for {env_name}: its EnvParams."
                f"{key} is {type(default).__name__} {_shown(default)}; need {need}"
            )
