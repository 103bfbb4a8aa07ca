"""Reading scenario files: YAML in, a validated :class:`Scenario` or a :class:`ScenarioError` out.

The loader never raises anything else, whatever the bytes (a Hypothesis test feeds it arbitrary
YAML and mutations of valid scenarios). It rejects duplicate keys (PyYAML silently keeps the
last one), bounds alias expansion (a "billion laughs" document), and points each problem at its
line in the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from harness._errors import ScenarioError
from harness._faults import BUILTIN_FAULT_KINDS
from harness._scenario import Scenario, default_adapter

MAX_BYTES = 1_000_000
MAX_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
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


def format_path(loc: Sequence[int | str], kinds: Iterable[str] = ()) -> str:
    """``('phases', 2, 'faults', 0, 'http_status', 'rate')`` -> ``phases[2].faults[0].rate``.

    The discriminator tag pydantic inserts after a union item is dropped.
    """
    tags = set(kinds)
    out = ""
    previous_was_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            previous_was_index = True
            continue
        if previous_was_index and part in tags:
            previous_was_index = False
            continue
        previous_was_index = False
        out += f".{part}" if out else str(part)
    return out


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the node at ``loc`` (or of its closest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(
                (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part),
                None,
            )
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            match = node.value[part] if 0 <= part < len(node.value) else None
        else:
            match = None
        if match is None:
            continue  # a discriminator tag or a missing field: keep the parent's line
        node = match
        line = node.start_mark.line + 1
    return line


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown key (not part of the scenario schema)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        tag = str(ctx.get("tag", ""))
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        close = difflib.get_close_matches(tag, expected, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown fault kind {tag!r}{hint}; expected one of: {', '.join(expected)}"
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
    try:
        root = yaml.compose(text, Loader=_StrictLoader)
        if root is not None and _expanded_size(root) > MAX_NODES:
            raise ScenarioError(source, [("", f"document expands to more than {MAX_NODES} nodes")])
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(source, [("", f"invalid YAML: {where}{exc.problem or exc}")]) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise ScenarioError(source, [("", f"invalid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            source,
            [("", f"expected a mapping with name, target, phases, ... got {type(data).__name__}")],
        )
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        kinds = _fault_tags(adapter)
        problems = []
        for error in exc.errors(include_url=False):
            loc = error["loc"]
            path = format_path(loc, kinds)
            line = _line_of(root, loc)
            where = f"{path} (line {line})" if line and path else path
            problems.append((where, _describe(dict(error))))
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
