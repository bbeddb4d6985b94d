"""Command-line flags generated from a recipe dataclass (``TrainConfig``, ``KindConfig``).

Every field becomes ``--field-name`` (booleans also ``--no-field-name``, lists
repeat, dicts take ``NAME=VALUE`` pairs), so a new recipe key is one edit: the
field. Unset flags stay ``None`` and leave the recipe file's value alone.
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from ...core.errors import ConfigError

SCALARS = {"int": int, "float": float, "str": str}


def _pair(value_type: type):
    def parse(text: str) -> tuple[str, Any]:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
        try:
            return name, value_type(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a {value_type.__name__}") from None
    return parse


def add_recipe_flags(parser: argparse.ArgumentParser, recipe_cls: type, skip: tuple[str, ...] = (),
                     aliases: dict[str, list[str]] | None = None, help: dict[str, str] | None = None,
                     choices: dict[str, list[str]] | None = None) -> None:
    """One flag per field of ``recipe_cls`` (except ``skip``); ``aliases`` keep older flag names working."""
    aliases, help, choices = aliases or {}, help or {}, choices or {}
    group = parser.add_argument_group("recipe keys (override the recipe file)")
    for f in fields(recipe_cls):
        if f.name in skip:
            continue
        kind = str(f.type).replace(" ", "")
        kw: dict[str, Any] = dict(dest=f.name, default=None, help=help.get(f.name, f"recipe key {f.name}"))
        if kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction
        elif kind.startswith("list["):
            kw.update(action="append", type=SCALARS[kind[5:-1]])
        elif kind.startswith("dict["):
            value = kind[4:-1].split(",", 1)[1]
            kw.update(action="append", metavar="NAME=VALUE", type=_pair(SCALARS.get(value, str)))
        elif kind in SCALARS:
            kw["type"] = SCALARS[kind]
        else:
            raise TypeError(f"{recipe_cls.__name__}.{f.name}: no flag for type {kind}")
        if f.name in choices:
            kw["choices"] = choices[f.name]
        group.add_argument(f"--{f.name.replace('_', '-')}", *aliases.get(f.name, []), **kw)


def recipe_overrides(args: argparse.Namespace, recipe_cls: type) -> dict[str, Any]:
    """The recipe fields given on the command line (dict flags gathered into dicts)."""
    out = {}
    for f in fields(recipe_cls):
        value = getattr(args, f.name, None)
        if value is not None and str(f.type).startswith("dict["):
            names = [name for name, _ in value]
            if len(set(names)) < len(names):
                raise ConfigError(f"--{f.name.replace('_', '-')}: a name is given twice in {names}")
            value = dict(value)
        out[f.name] = value
    return out
