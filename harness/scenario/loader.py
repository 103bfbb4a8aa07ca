"""Reading scenario files: YAML in, a validated :class:`Scenario` or a :class:`ScenarioError` out.

The loader never raises anything else, whatever the bytes (a Hypothesis test feeds it arbitrary
YAML and mutations of valid scenarios). It rejects duplicate keys (PyYAML silently keeps the
last one), bounds alias expansion (a "billion laughs" document), and points each problem at its
field path and its line in the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from harness.errors import ScenarioError
from harness.scenario.faults import BUILTIN_FAULT_KINDS
from harness.scenario.model import (
    Scenario,
    ScenarioProblems,
    default_adapter,
    format_path,
    keys_at,
)

__all__ = ["MAX_BYTES", "MAX_NODES", "format_path", "load_scenario", "parse_scenario"]

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 100
"""Nesting a scenario may have (the deepest real one is under 10): deeper input is refused as
the composer reaches it, instead of after Python's recursion limit (seconds for 100k brackets)."""
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping repeats a key; ``node`` is the repeated key."""

    def __init__(self, key: Any, node: yaml.Node) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", node.start_mark)
        self.key = key
        self.node = node


class _TooDeep(Exception):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (merge keys ``<<`` still work: a key
    given explicitly overrides a merged one, as YAML says) and nesting beyond ``MAX_DEPTH``."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)  # a full key in messages
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from None
        if duplicate:
            raise _DuplicateKey(key, key_node)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _expanded_size(node: yaml.Node, budget: int = MAX_NODES) -> int:
    """Nodes after alias expansion, counting at most ``budget`` (then stops)."""
    count = 0
    stack: list[yaml.Node] = [node]
    while stack and count <= budget:
        current = stack.pop()
        count += 1
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return count


def _path_to(root: yaml.Node, target: yaml.Node) -> list[int | str] | None:
    """The field path of the mapping holding the key node ``target`` (aliases visited once)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, list[int | str]]] = [(root, [])]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key is target:
                    return path
                if isinstance(key, yaml.ScalarNode):
                    stack.append((value, [*path, key.value]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, [*path, i]) for i, item in enumerate(node.value))
    return None


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the node at ``loc`` (or of its closest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # the last one: an explicit key overrides one merged in with ``<<``
            matches = [
                v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part
            ]
            match = matches[-1] if matches else None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            match = node.value[part] if 0 <= part < len(node.value) else None
        else:
            match = None
        if match is None:
            continue  # a discriminator tag or a missing field: keep the parent's line
        node = match
        line = node.start_mark.line + 1
    return line


UNKNOWN_KIND = "unknown fault kind"  # how the problem of a kind no plugin declares begins


def _describe(error: dict[str, Any], adapter: TypeAdapter[Scenario]) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        loc = error["loc"]
        key = str(loc[-1])
        allowed = keys_at(adapter, loc[:-1])
        if not allowed:
            return f"unknown key {key!r} (not part of the scenario schema)"
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{hint}; expected one of: {', '.join(allowed)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        tag = str(ctx.get("tag", ""))
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        close = difflib.get_close_matches(tag, expected, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{UNKNOWN_KIND} {tag!r}{hint}; expected one of: {', '.join(expected)}"
    if kind == "union_tag_not_found":
        return "a fault needs a 'kind' (http_status, latency, timeout, ...)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    got = error.get("input")
    if kind not in ("union_tag_invalid", "value_error") and not isinstance(got, dict | list):
        msg += f" (got {got!r})"
    return msg


def _problems(
    error: dict[str, Any], root: yaml.Node | None, adapter: TypeAdapter[Scenario]
) -> list[tuple[str, str]]:
    """``(where, message)`` for one pydantic error; cross-field problems expand to several."""
    loc: tuple[int | str, ...] = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ScenarioProblems):
        items = [((*loc, *sub), message) for sub, message in cause.problems]
    else:
        items = [(loc, _describe(error, adapter))]
    kinds = _fault_tags(adapter)
    out = []
    for where, message in items:
        path = format_path(where, kinds)
        line = _line_of(root, where)
        out.append((f"{path} (line {line})" if line and path else path, message))
    return out


def _read_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """Compose the document (bounded), then construct it: ``(root node, data)``."""
    try:
        loader = _StrictLoader(text)  # reads the stream: refuses control characters
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [("", f"invalid YAML: {' '.join(str(exc).split())}")]) from None
    root: yaml.Node | None = None
    try:
        root = loader.get_single_node()
        if root is not None and _expanded_size(root) > MAX_NODES:
            raise ScenarioError(source, [("", f"document expands to more than {MAX_NODES} nodes")])
        data = loader.construct_document(root) if root is not None else None
    except _DuplicateKey as exc:
        path = format_path([*(_path_to(root, exc.node) or []), str(exc.key)]) if root else ""
        where = f"{path} (line {exc.node.start_mark.line + 1})"
        raise ScenarioError(
            source, [(where, f"duplicate key {exc.key!r} (a key may appear once in a mapping)")]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(source, [("", f"invalid YAML: {where}{exc.problem or exc}")]) from None
    except ScenarioError:
        raise
    except (RecursionError, _TooDeep):
        message = f"invalid YAML: nested too deeply (more than {MAX_DEPTH} levels)"
        raise ScenarioError(source, [("", message)]) from None
    except Exception as exc:  # PyYAML's constructors raise anything on bad tagged scalars
        raise ScenarioError(source, [("", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return root, data


def parse_scenario(
    text: str | bytes,
    source: str = "<scenario>",
    *,
    adapter: TypeAdapter[Scenario] | None = None,
) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in errors."""
    adapter = adapter or default_adapter()
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise ScenarioError(source, [("", f"file is larger than {MAX_BYTES} bytes")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(source, [("", f"not UTF-8 text: {exc.reason}")]) from None
    if len(text) > MAX_BYTES:
        raise ScenarioError(source, [("", f"file is larger than {MAX_BYTES} characters")])
    root, data = _read_yaml(text, source)
    if not isinstance(data, dict):
        raise ScenarioError(
            source,
            [("", f"expected a mapping with name, target, phases, ... got {type(data).__name__}")],
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            problems.extend(_problems(dict(error), root, adapter))
        raise ScenarioError(source, problems) from None
    except RecursionError:
        raise ScenarioError(source, [("", "document is nested too deeply")]) from None


def _fault_tags(adapter: TypeAdapter[Scenario]) -> set[str]:
    return set(BUILTIN_FAULT_KINDS) | set(getattr(adapter, "_harness_kinds", ()))


def load_scenario(path: str | Path, *, adapter: TypeAdapter[Scenario] | None = None) -> Scenario:
    """Read and validate the scenario file at ``path``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(str(path), [("", f"cannot read file: {exc.strerror or exc}")]) from None
    return parse_scenario(data, str(path), adapter=adapter)
