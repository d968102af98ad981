"""One configuration style for every command: flags, optionally from a YAML file.

``surrogate run --config run.yaml --steps 5000``: the file's keys are the
long flag names (``timestep-fs`` or ``timestep_fs``), its values are typed
YAML; flags given on the command line override the file. Unknown keys and
ill-typed values are errors that name the file and the key. After a command
resolves its options it writes them as ``config.yaml`` next to its outputs,
which can be passed back with ``--config`` to repeat the run.

A file may also hold one section per command (``run: {...}``, ``train-egnn:
{...}``); the section of the running command is used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from systems.atomic_file import atomic_write_text
from systems.errors import InputError

#: Namespace entries that are plumbing, not configuration.
_INTERNAL = {"config", "func", "_parser", "_section", "command", "help"}


def load_yaml_mapping(path) -> dict:
    """Read a YAML file holding a mapping; raises :class:`InputError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"config file {str(path)!r} must hold a mapping of option: value, got {type(data).__name__}")
    return data


def _actions_by_key(parser: argparse.ArgumentParser) -> dict:
    out = {}
    for action in parser._actions:  # argparse exposes no public accessor
        if action.dest in _INTERNAL or action.dest == argparse.SUPPRESS \
                or isinstance(action, argparse._SubParsersAction):
            continue
        out[action.dest] = action
    return out


def _convert(action: argparse.Action, value, where: str):
    """A YAML value checked and converted the way argparse would treat the flag (null stays None: "not given")."""
    if value is None:
        return None
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, got {value!r}")
        return value
    many = action.nargs in ("+", "*") or (isinstance(action.nargs, int) and action.nargs > 1) or \
        isinstance(action, argparse._AppendAction)
    if many:
        items = value if isinstance(value, list) else [value]
        return [_convert_one(action, v, where) for v in items]
    if isinstance(value, (list, dict)):
        raise InputError(f"{where} takes a single value, got {value!r}")
    return _convert_one(action, value, where)


def _convert_one(action, value, where: str):
    if value is None:
        return None
    kind = action.type
    try:
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(f"not a whole number: {value!r}")
            value = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError(f"not a number: {value!r}")
            value = float(value)
        elif callable(kind):
            value = kind(str(value))
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise InputError(f"{where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise InputError(f"{where} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    return value


def apply_config_file(parser: argparse.ArgumentParser, path, section: str | None = None) -> dict:
    """Set ``parser``'s defaults from a YAML file (so explicit flags still win); returns the applied values."""
    data = load_yaml_mapping(path)
    if section and isinstance(data.get(section), dict):
        data = data[section]
    actions = _actions_by_key(parser)
    values = {}
    for key, value in data.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest in _INTERNAL:
            continue
        if dest not in actions:
            known = ", ".join(sorted(k.replace("_", "-") for k in actions))
            raise InputError(f"config file {str(path)!r}: unknown option {key!r} for `{parser.prog}` (known: {known})")
        values[dest] = _convert(actions[dest], value, f"config file {str(path)!r}: option {key!r}")
    parser.set_defaults(**values)
    return values


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; when the chosen (sub)command got ``--config FILE``, re-parse
    with the file's values as defaults so that flags override the file.

    Subcommand parsers mark themselves with ``set_defaults(_parser=p, _section=name)``.
    Bad config files end in ``parser.error`` (exit status 2).
    """
    args = parser.parse_args(argv)
    config = getattr(args, "config", None)
    if config:
        leaf = getattr(args, "_parser", parser)
        try:
            apply_config_file(leaf, config, getattr(args, "_section", None))
        except InputError as exc:
            leaf.error(str(exc))
        args = parser.parse_args(argv)
    return args


def resolved_config(args: argparse.Namespace) -> dict:
    """The options a command ran with, as plain YAML-able values (paths as strings)."""
    out = {}
    for key, value in sorted(vars(args).items()):
        if key in _INTERNAL or key.startswith("_"):
            continue
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, (list, tuple)):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        out[key.replace("_", "-")] = value
    return out


def write_resolved_config(args: argparse.Namespace, out_dir, name: str = "config.yaml") -> Path:
    """Write :func:`resolved_config` as ``out_dir/config.yaml`` (atomically); returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    command = getattr(args, "_section", None)
    header = (f"# surrogate {command.replace('-', ' ')}: resolved options; rerun with --config {name}\n"
              if command else "")
    threads = getattr(args, "_threads", None)  # what surrogate.threads chose at the start of the command
    if threads:
        header += f"# threads: {threads['threads']} ({threads['rule']})\n"
    return atomic_write_text(path, header + yaml.safe_dump(resolved_config(args), sort_keys=False))
