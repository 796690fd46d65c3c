"""Command-line flags generated from the :class:`~ppo_jax.core.config.PPOConfig` dataclass: one
``--field-name`` per field, parsed by its type, with the field's documentation as help."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any

from ppo_jax.core.config import (
    INT32_MAX,
    TRACED_FIELDS,
    PPOConfig,
    config_field_names,
    field_docs,
)

MAX_ARG_TEXT = 80


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ARG_TEXT else text[:MAX_ARG_TEXT] + "..."


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {_clip(text)!r}")


def parse_int(text: str, low: int = -INT32_MAX, high: int = INT32_MAX) -> int:
    """Ints, also written as 1e6 or 1_000_000, within ``[low, high]``."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {_clip(text)!r}") from None
        if not number.is_integer() or abs(number) > 2**63:
            raise argparse.ArgumentTypeError(f"expected an integer, got {_clip(text)!r}") from None
        value = int(number)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [{low}, {high}], got {_clip(text)}"
        )
    return value


def bounded_int(low: int, high: int = INT32_MAX) -> Any:
    """An argparse type: an int in ``[low, high]``."""

    def parse(text: str) -> int:
        return parse_int(text, low, high)

    parse.__name__ = "int"
    return parse


def parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {_clip(text)!r}") from None


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(parse_int(part, 1) for part in text.split(",") if part.strip())
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive ints like 64,64, got {_clip(text)!r}"
        ) from None


class _ExplicitNone:
    def __repr__(self) -> str:
        return "none"


EXPLICIT_NONE: Any = _ExplicitNone()
"""What an optional field's flag parses ``none`` to (``None`` itself means "flag not given")."""


def parse_optional_float(text: str) -> Any:
    if text.strip().lower() in ("none", "off", ""):
        return EXPLICIT_NONE
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'none', got {_clip(text)!r}"
        ) from None


def parse_env_kwarg(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {_clip(text)!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, list | dict):
        raise argparse.ArgumentTypeError(f"--env-kwarg {name}: give a number or a string")
    return name, value


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` flag per :class:`PPOConfig` field (but the fields in ``skip``: a
    command that gives one of them a flag of its own), with its documentation as help.
    Unset flags stay ``None`` (the tuned config of ``--env`` fills them in)."""
    docs = field_docs()
    hints = typing.get_type_hints(PPOConfig)
    traced = parser.add_argument_group(
        "PPO hyperparameters (traced: a new value never recompiles, and ppo-jax sweep can vary "
        "them; unset ones come from the tuned config of --env, see ppo_jax.get_config)"
    )
    static = parser.add_argument_group(
        "PPO config (static: shapes, loop lengths, the environment and the network; unset "
        "fields come from the tuned config of --env; the package defaults solve CartPole-v1)"
    )
    for f in dataclasses.fields(PPOConfig):
        if f.name in skip:
            continue
        group = traced if f.name in TRACED_FIELDS else static
        flag = "--" + f.name.replace("_", "-")
        # argparse %-formats help strings: a literal "%" in a docstring must be doubled.
        help_text = f"{docs[f.name]} (default: {f.default})".replace("%", "%%")
        hint = hints[f.name]
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if f.name == "env_name":
            group.add_argument(flag, "--env", metavar="ENV", **kwargs)
        elif f.name == "env_kwargs":
            kwargs["help"] = "Extra environment keyword argument NAME=VALUE (repeatable)."
            group.add_argument("--env-kwarg", action="append", type=parse_env_kwarg, **kwargs)
        elif origin is tuple:
            group.add_argument(flag, type=parse_sizes, metavar="W1,W2", **kwargs)
        elif hint is bool:
            group.add_argument(flag, type=parse_bool, metavar="BOOL", **kwargs)
        elif hint is int:
            group.add_argument(flag, type=parse_int, metavar="INT", **kwargs)
        elif hint is float:
            group.add_argument(flag, type=parse_float, metavar="FLOAT", **kwargs)
        elif origin is typing.Literal:
            group.add_argument(flag, choices=args, **kwargs)
        elif origin in (types.UnionType, typing.Union) and float in args:
            group.add_argument(flag, type=parse_optional_float, metavar="FLOAT|none", **kwargs)
        elif origin in (types.UnionType, typing.Union):
            choices = [
                a
                for arg in args
                if typing.get_origin(arg) is typing.Literal
                for a in typing.get_args(arg)
            ]
            kwargs["help"] += " ('none' for None)"
            group.add_argument(
                flag, type=_literal_or_none(choices), metavar="|".join([*choices, "none"]), **kwargs
            )
        else:  # pragma: no cover - a new field type must be given a parser here
            raise TypeError(f"no command-line parser for PPOConfig.{f.name}: {hint}")


def _literal_or_none(choices: list[str]) -> Any:
    def parse(text: str) -> Any:
        if text.strip().lower() == "none":
            return EXPLICIT_NONE
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"expected one of {[*choices, 'none']}, got {_clip(text)!r}"
            )
        return text

    return parse


def config_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (env kwargs as a tuple of pairs; an
    optional field given as ``none`` as ``None``)."""
    out = {n: getattr(args, n) for n in config_field_names() if getattr(args, n, None) is not None}
    if "env_kwargs" in out:
        out["env_kwargs"] = tuple(out["env_kwargs"])
    return {k: None if v is EXPLICIT_NONE else v for k, v in out.items()}
