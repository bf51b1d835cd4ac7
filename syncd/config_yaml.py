"""Reading a configuration file: YAML -> plain data, the line of every value, ``${NAME}``.

:func:`read_yaml` composes the document with pyyaml's SafeLoader, records the line of every
mapping key and sequence item (the "line map", keyed by the same paths pydantic reports as
``loc``), reports duplicate keys, then constructs plain Python data.

:func:`expand_env` replaces ``${NAME}`` (and ``${NAME:-default}``) in every string value. When
``NAME`` is unset or empty, ``NAME_FILE`` may name a file holding the value (content stripped),
the Docker and Kubernetes convention for secrets. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syncd.errors import Problem

Loc = tuple[str | int, ...]


def format_path(loc: Loc) -> str:
    """``("okrs", 0, "key_results", 2, "target")`` -> ``okrs[0].key_results[2].target``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass
class LineMap:
    """Where each path sits in the file (1-based lines)."""

    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc``, else of its closest ancestor present in the file."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


@dataclass
class ParsedYaml:
    data: Any
    lines: LineMap
    problems: list[Problem]


_YAML_HINT = (
    "Check the indentation and quoting on this line and the one before it; quote values that "
    "contain ': ' or that start with *, &, !, %, @, `, {, [ or |"
)


def read_yaml(text: str) -> ParsedYaml:
    """Parse ``text``; a syntax error is one problem with its line, and data ``None``."""
    lines = LineMap()
    problems: list[Problem] = []
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return ParsedYaml(None, lines, problems)
        _walk(loader, node, (), lines, problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark is not None:
            what += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        hint = _YAML_HINT + "."
        if "\\t" in what or "\t" in what:
            hint = "Indent with spaces; YAML does not allow tabs."
        elif isinstance(exc, yaml.constructor.ConstructorError):
            hint = "syncd reads plain YAML: remove the tag (the word starting with !)."
        line = mark.line + 1 if mark is not None else None
        problems.append(Problem("", line, f"YAML syntax error: {what}", hint))
        return ParsedYaml(None, LineMap(), problems)
    except yaml.YAMLError as exc:  # reader errors: bytes that are not text
        problems.append(Problem("", None, f"cannot read the file as YAML: {exc}", ""))
        return ParsedYaml(None, LineMap(), problems)
    finally:
        loader.dispose()
    return ParsedYaml(data, lines, problems)


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, lines: LineMap, problems: list[Problem]
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *anchor``: the merged keys keep their own lines
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # a mapping or list used as a key
                problems.append(Problem(format_path(loc), line, "a key must be a plain value"))
                continue
            sub = (*loc, key) if isinstance(key, str | int) else (*loc, str(key))
            if first is not None:
                problems.append(
                    Problem(
                        format_path(sub),
                        line,
                        f"the key {key!s} appears twice (first on line {first})",
                        "Keep one of them; YAML would silently use the last.",
                    )
                )
            else:
                seen[key] = line
            lines.lines[sub] = line
            _walk(loader, value_node, sub, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            sub = (*loc, index)
            lines.lines[sub] = item.start_mark.line + 1
            _walk(loader, item, sub, lines, problems)


# --------------------------------------------------------------------------- ${NAME}

_REF_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


@dataclass
class Expanded:
    data: Any
    #: path -> names of the variables its value was built from (never show such a value)
    from_env: dict[Loc, tuple[str, ...]]
    #: paths whose value could not be resolved (already reported: report nothing else there)
    failed: set[Loc]
    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class Unresolved:
    message: str
    hint: str


def resolve_env(name: str, environ: Mapping[str, str]) -> str | Unresolved | None:
    """The value of ``name`` from ``name`` or the file ``name_FILE``; None when neither is set."""
    value = environ.get(name, "")
    file_name = environ.get(f"{name}_FILE", "")
    if value and file_name:
        return Unresolved(
            f"both {name} and {name}_FILE are set",
            f"Unset one of them so that it is clear which {name} is used.",
        )
    if value:
        return value
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
            return Unresolved(
                f"cannot read {name}_FILE ({file_name}): {reason}",
                f"Point {name}_FILE at a readable file that holds the value, or export {name}.",
            )
    if name in environ:
        return ""
    return None


def expand_env(data: Any, environ: Mapping[str, str], lines: LineMap) -> Expanded:
    result = Expanded(None, {}, set(), [])
    result.data = _expand(data, (), environ, lines, result)
    return result


def _expand(value: Any, loc: Loc, environ: Mapping[str, str], lines: LineMap, out: Expanded) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, (*loc, k), environ, lines, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*loc, i), environ, lines, out) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    names: list[str] = []
    failed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            failed = True
            out.problems.append(
                Problem(
                    format_path(loc),
                    lines.line_of(loc),
                    "a ${...} reference is malformed",
                    "Write ${NAME} with letters, digits and _ (write $${ for a literal ${).",
                )
            )
            return ""
        names.append(name)
        resolved = resolve_env(name, environ)
        if isinstance(resolved, Unresolved):
            failed = True
            out.problems.append(
                Problem(format_path(loc), lines.line_of(loc), resolved.message, resolved.hint)
            )
            return ""
        if (resolved is None or resolved == "") and default is not None:
            return default
        if resolved is None:
            failed = True
            out.problems.append(
                Problem(
                    format_path(loc),
                    lines.line_of(loc),
                    f"environment variable {name} is not set",
                    f"Export it or set {name}_FILE to a file that holds it.",
                )
            )
            return ""
        return resolved

    expanded = _REF_RE.sub(replace, value)
    if names:
        out.from_env[loc] = tuple(names)
    if failed:
        out.failed.add(loc)
    return expanded
