"""JSON the way Toxiproxy's Go ``encoding/json`` (Go 1.23) reads and writes it.

Real Toxiproxy puts Go's decoder messages verbatim into its 400 answers
(``bad request body: invalid character 'b' looking for beginning of object key string``), so
this module reproduces them:

* :func:`decode_first` reads the *first* JSON value of a body like ``json.Decoder.Decode``:
  an empty body is ``EOF``, a cut one ``unexpected EOF``, anything after a complete object or
  array is ignored, and syntax errors carry Go's scanner wording, nesting deeper than Go's
  10,000 levels included (``invalid character '[' exceeded max depth``). A well-formed
  object or array is parsed by Python's C decoder; the byte-by-byte Go scanner runs only for
  what that refuses (to find Go's error text) or nests too deeply for it. Containers nested
  deeper than any Toxiproxy type looks are read as empty ones of the same kind (a type
  mismatch there is reported by kind alone, as Go does), so no later step can recurse deeply.
* :func:`unmarshal` stores a parsed value into a :class:`GoStruct` description like
  ``reflect``-based unmarshalling: keys match fields case-insensitively (exact match first),
  unknown keys are ignored, ``null`` leaves a field alone, a wrongly typed value does not stop
  decoding (the other fields are still stored) and the *first* such problem is reported as
  ``json: cannot unmarshal string into Go struct field Proxy.name of type string``.
* :func:`dumps` writes compact JSON with Go's escaping (``<``, ``>``, ``&``, U+2028/2029) and
  :func:`float32_repr` formats a ``float32`` the way Go does (``1`` not ``1.0``).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GoField",
    "GoJSONError",
    "GoNumber",
    "GoObject",
    "GoStruct",
    "decode_first",
    "dumps",
    "float32_repr",
    "to_float32",
    "unmarshal",
]

_SPACE = frozenset(b" \t\r\n")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_MAX_DEPTH = 10_000
"""Go's ``maxNestingDepth``: one more open bracket is a syntax error."""
_KEEP_DEPTH = 32
"""Containers deeper than this are read as empty: no Toxiproxy struct is nested that far."""


class GoJSONError(ValueError):
    """A decoding problem; ``str()`` is exactly Go's error text."""


class GoNumber(str):
    """A JSON number kept as its literal text, as Go's decoder sees it before conversion."""

    __slots__ = ()


class GoObject(list[tuple[str, Any]]):
    """A JSON object as its ordered ``(key, value)`` pairs (duplicates kept, last one wins)."""

    __slots__ = ()


# --------------------------------------------------------------------------- scanner


def _quote_char(c: int) -> str:
    """Go's ``quoteChar``: how the scanner names an offending byte."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    ch = chr(c)
    if ch.isprintable() and c != 0x5C:
        return f"'{ch}'"
    specials = {
        7: "\\a",
        8: "\\b",
        12: "\\f",
        10: "\\n",
        13: "\\r",
        9: "\\t",
        11: "\\v",
        0x5C: "\\\\",
    }
    if c in specials:
        return f"'{specials[c]}'"
    if c < 0x80:
        return f"'\\x{c:02x}'"
    return f"'\\u{c:04x}'"


class _Scanner:
    """A port of the state machine in Go's ``encoding/json/scanner.go`` (messages included).

    Each state is a method taking the next byte; it returns ``True`` when that byte completed
    the top-level value (the caller then stops), ``False`` to continue, and raises
    :class:`GoJSONError` on a syntax error.
    """

    _OBJ_KEY, _OBJ_VALUE, _ARR_VALUE = 0, 1, 2

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.step: Callable[[int], bool] = self._begin_value
        self.done = False
        self.index = 0  # offset of the byte being stepped (set by the caller)
        self.cuts: list[tuple[int, int, bytes]] = []  # (start, stop, empty) of too-deep values
        self._cut_start = 0

    def _push(self, c: int, state: int) -> None:
        self.stack.append(state)
        depth = len(self.stack)
        if depth > _KEEP_DEPTH:
            if depth > _MAX_DEPTH:
                raise self._error(c, "exceeded max depth")
            if depth == _KEEP_DEPTH + 1:
                self._cut_start = self.index

    def _error(self, c: int, context: str) -> GoJSONError:
        return GoJSONError(f"invalid character {_quote_char(c)} {context}")

    # values
    def _begin_value_or_empty(self, c: int) -> bool:
        if c in _SPACE:
            return False
        if c == 0x5D:  # ]
            return self._end_value(c)
        return self._begin_value(c)

    def _begin_value(self, c: int) -> bool:
        if c in _SPACE:
            return False
        if c == 0x7B:  # {
            self.step = self._begin_string_or_empty
            self._push(c, self._OBJ_KEY)
            return False
        if c == 0x5B:  # [
            self.step = self._begin_value_or_empty
            self._push(c, self._ARR_VALUE)
            return False
        if c == 0x22:
            self.step = self._in_string
        elif c == 0x2D:  # -
            self.step = self._neg
        elif c == 0x30:
            self.step = self._zero
        elif 0x31 <= c <= 0x39:
            self.step = self._one
        elif c == 0x74:
            self.step = self._lit("rue", "true", self._end_value)
        elif c == 0x66:
            self.step = self._lit("alse", "false", self._end_value)
        elif c == 0x6E:
            self.step = self._lit("ull", "null", self._end_value)
        else:
            raise self._error(c, "looking for beginning of value")
        return False

    def _begin_string_or_empty(self, c: int) -> bool:
        if c in _SPACE:
            return False
        if c == 0x7D:  # }
            self.stack[-1] = self._OBJ_VALUE
            return self._end_value(c)
        return self._begin_string(c)

    def _begin_string(self, c: int) -> bool:
        if c in _SPACE:
            return False
        if c == 0x22:
            self.step = self._in_string
            return False
        raise self._error(c, "looking for beginning of object key string")

    def _end_value(self, c: int) -> bool:
        if not self.stack:
            self.step = self._end_top
            return self._end_top(c)
        if c in _SPACE:
            self.step = self._end_value
            return False
        top = self.stack[-1]
        if top == self._OBJ_KEY:
            if c == 0x3A:  # :
                self.stack[-1] = self._OBJ_VALUE
                self.step = self._begin_value
                return False
            raise self._error(c, "after object key")
        if top == self._OBJ_VALUE:
            if c == 0x2C:
                self.stack[-1] = self._OBJ_KEY
                self.step = self._begin_string
                return False
            if c == 0x7D:
                return self._pop()
            raise self._error(c, "after object key:value pair")
        if c == 0x2C:
            self.step = self._begin_value
            return False
        if c == 0x5D:
            return self._pop()
        raise self._error(c, "after array element")

    def _pop(self) -> bool:
        if len(self.stack) == _KEEP_DEPTH + 1:
            empty = b"{}" if self.stack[-1] != self._ARR_VALUE else b"[]"
            self.cuts.append((self._cut_start, self.index + 1, empty))
        self.stack.pop()
        self.step = self._end_value
        # Go's Decoder stops right after the closing bracket of the top-level value.
        return not self.stack

    def _end_top(self, c: int) -> bool:
        if c in _SPACE:
            return True
        raise self._error(c, "after top-level value")

    # strings
    def _in_string(self, c: int) -> bool:
        if c == 0x22:
            self.step = self._end_value
        elif c == 0x5C:
            self.step = self._in_string_esc
        elif c < 0x20:
            raise self._error(c, "in string literal")
        return False

    def _in_string_esc(self, c: int) -> bool:
        if c in b'bfnrt\\/"':
            self.step = self._in_string
            return False
        if c == 0x75:  # u
            self.step = self._hex(4)
            return False
        raise self._error(c, "in string escape code")

    def _hex(self, remaining: int) -> Callable[[int], bool]:
        def state(c: int) -> bool:
            if c not in _HEX:
                raise self._error(c, "in \\u hexadecimal character escape")
            self.step = self._in_string if remaining == 1 else self._hex(remaining - 1)
            return False

        return state

    # numbers
    def _neg(self, c: int) -> bool:
        if c == 0x30:
            self.step = self._zero
            return False
        if 0x31 <= c <= 0x39:
            self.step = self._one
            return False
        raise self._error(c, "in numeric literal")

    def _one(self, c: int) -> bool:
        if c in _DIGITS:
            return False
        return self._zero(c)

    def _zero(self, c: int) -> bool:
        if c == 0x2E:
            self.step = self._dot
            return False
        if c in (0x65, 0x45):
            self.step = self._exp
            return False
        return self._end_value(c)

    def _dot(self, c: int) -> bool:
        if c in _DIGITS:
            self.step = self._dot0
            return False
        raise self._error(c, "after decimal point in numeric literal")

    def _dot0(self, c: int) -> bool:
        if c in _DIGITS:
            return False
        if c in (0x65, 0x45):
            self.step = self._exp
            return False
        return self._end_value(c)

    def _exp(self, c: int) -> bool:
        if c in (0x2B, 0x2D):
            self.step = self._exp_sign
            return False
        return self._exp_sign(c)

    def _exp_sign(self, c: int) -> bool:
        if c in _DIGITS:
            self.step = self._exp0
            return False
        raise self._error(c, "in exponent of numeric literal")

    def _exp0(self, c: int) -> bool:
        if c in _DIGITS:
            return False
        return self._end_value(c)

    # literals
    def _lit(self, rest: str, word: str, after: Callable[[int], bool]) -> Callable[[int], bool]:
        def state(c: int) -> bool:
            if c != ord(rest[0]):
                raise self._error(c, f"in literal {word} (expecting '{rest[0]}')")
            self.step = self._lit(rest[1:], word, after) if len(rest) > 1 else after
            return False

        return state


def _value_end(data: bytes) -> tuple[int, list[tuple[int, int, bytes]]]:
    """Length of the first JSON value in ``data`` (Go ``Decoder`` rules) or a Go error.

    Also returns the spans of the containers nested deeper than :data:`_KEEP_DEPTH`, each
    with the empty container of its kind.
    """
    scanner = _Scanner()
    seen = False
    for i, c in enumerate(data):
        if not seen and c not in _SPACE:
            seen = True
        scanner.index = i
        if scanner.step(c):
            # A container ends on its closing bracket; a bare literal on the byte after it.
            return (i + 1 if c in b"}]" else i), scanner.cuts
    # Go's Decoder feeds one space at EOF: it ends a bare literal, anything else is cut short.
    if seen:
        try:
            if scanner.step(0x20):
                return len(data), scanner.cuts
        except GoJSONError:
            pass
        raise GoJSONError("unexpected EOF")
    raise GoJSONError("EOF")


def _fix_string(s: str) -> str:
    # Go replaces invalid UTF-16 surrogate escapes with U+FFFD.
    return _LONE_SURROGATE.sub("\ufffd", s) if _LONE_SURROGATE.search(s) else s


def _restring(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, GoNumber):
        return _fix_string(value)
    if isinstance(value, list):
        if isinstance(value, GoObject):
            return GoObject((_fix_string(k), _restring(v)) for k, v in value)
        return [_restring(v) for v in value]
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; Go does not


_DECODER = json.JSONDecoder(
    object_pairs_hook=GoObject,
    parse_int=GoNumber,
    parse_float=GoNumber,
    parse_constant=_no_constant,
)
_SLOW = object()


def _decode_fast(body: bytes) -> Any:
    """A body that starts with ``{`` or ``[`` through Python's C decoder, or :data:`_SLOW`.

    Inside a container, what Python's decoder accepts Go's accepts too, with the same value
    (bare top-level literals differ: ``1.`` is ``1`` to Python, an error to Go).
    """
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text) or text[start] not in "{[":
        return _SLOW
    try:
        value, _ = _DECODER.raw_decode(text, start)
        return _restring(value)
    except (ValueError, RecursionError):  # not JSON, or too deep: Go's scanner decides
        return _SLOW


def decode_first(body: bytes) -> Any:
    """Parse the first JSON value of ``body`` as Go's ``json.Decoder`` does.

    Objects come back as :class:`GoObject`, numbers as :class:`GoNumber`. Raises
    :class:`GoJSONError` with Go's message (``EOF``, ``unexpected EOF``, ``invalid character
    ...``).
    """
    value = _decode_fast(body)
    if value is not _SLOW:
        return value
    end, cuts = _value_end(body)
    if cuts:
        pieces, at = [], 0
        for start, stop, empty in cuts:
            pieces += [body[at:start], empty]
            at = stop
        pieces.append(body[at:end])
        head = b"".join(pieces)
    else:
        head = body[:end]
    return _restring(_DECODER.decode(head.decode("utf-8", errors="replace")))


# --------------------------------------------------------------------------- unmarshal


@dataclass(frozen=True)
class GoField:
    """One field of a Go struct as ``encoding/json`` sees it.

    ``kind`` is ``string``, ``bool``, ``int64``, ``int``, ``float32``, ``*bool`` (a pointer:
    ``null`` stores ``None``) or ``struct`` (then ``struct`` describes it).
    """

    json_name: str
    kind: str
    struct: GoStruct | None = None


@dataclass(frozen=True)
class GoStruct:
    """A Go struct type: ``name`` for field errors (``""`` if anonymous), ``type_string`` for
    top-level errors (``toxiproxy.Proxy``) and its JSON-visible fields in declaration order."""

    name: str
    type_string: str
    fields: tuple[GoField, ...] = field(default_factory=tuple)

    def lookup(self, key: str) -> GoField | None:
        for f in self.fields:
            if f.json_name == key:
                return f
        folded = key.casefold()
        for f in self.fields:
            if f.json_name.casefold() == folded:
                return f
        return None


def _kind_of(value: Any) -> str:
    if isinstance(value, GoObject):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoNumber):
        return "number"
    return "string"


def to_float32(value: float) -> float:
    """Round a Python float to the nearest ``float32`` (as a Python float)."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


class _Unmarshaller:
    def __init__(self) -> None:
        self.first_error: str | None = None
        self.struct_name: str | None = None
        self.field_stack: list[str] = []

    def save(self, value_desc: str, type_string: str) -> None:
        if self.first_error is not None:
            return
        if self.struct_name is not None or self.field_stack:
            where = f"Go struct field {self.struct_name or ''}.{'.'.join(self.field_stack)}"
        else:
            where = "Go value"
        self.first_error = f"json: cannot unmarshal {value_desc} into {where} of type {type_string}"

    def scalar(self, value: Any, kind: str, current: Any) -> Any:
        """Return the new value of a scalar field (``current`` when it cannot be stored)."""
        if value is None:
            return None if kind == "*bool" else current
        type_string = "bool" if kind == "*bool" else kind
        if kind in ("bool", "*bool"):
            if isinstance(value, bool):
                return value
        elif kind == "string":
            if isinstance(value, str) and not isinstance(value, GoNumber):
                return value
        elif isinstance(value, GoNumber):
            if kind in ("int64", "int"):
                if _INT_RE.match(value) and -(2**63) <= int(value) < 2**63:
                    return int(value)
                self.save(f"number {value}", type_string)
                return current
            if kind == "float32":
                try:
                    rounded = to_float32(float(value))
                except OverflowError:
                    rounded = math.inf
                if math.isinf(rounded):
                    self.save(f"number {value}", type_string)
                    return current
                return rounded
        self.save(_kind_of(value), type_string)
        return current

    def struct(self, value: Any, struct: GoStruct, target: dict[str, Any]) -> None:
        if value is None:
            return
        if not isinstance(value, GoObject):
            self.save(_kind_of(value), struct.type_string)
            return
        saved_struct, saved_depth = self.struct_name, len(self.field_stack)
        for key, item in value:
            f = struct.lookup(key)
            if f is None:
                continue
            self.struct_name = struct.name
            self.field_stack.append(f.json_name)
            if f.kind == "struct":
                assert f.struct is not None
                sub = target.get(f.json_name)
                if not isinstance(sub, dict):
                    sub = {}
                if item is not None:
                    self.struct(item, f.struct, sub)
                    target[f.json_name] = sub
            else:
                target[f.json_name] = self.scalar(item, f.kind, target.get(f.json_name))
            self.struct_name = saved_struct
            del self.field_stack[saved_depth:]


def unmarshal(value: Any, struct: GoStruct, target: dict[str, Any]) -> str | None:
    """Store ``value`` into ``target`` (field values keyed by JSON name) like Go would.

    ``target`` holds the defaults and is updated in place, even when an error is returned
    (Go keeps decoding after a type mismatch). Returns the first error text or ``None``.
    """
    state = _Unmarshaller()
    state.struct(value, struct, target)
    return state.first_error


def unmarshal_list(
    value: Any, element: GoStruct, list_type: str, make: Callable[[], dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Decode a JSON array of ``element`` structs (``null`` is an empty list)."""
    state = _Unmarshaller()
    if value is None:
        return [], None
    if not isinstance(value, list) or isinstance(value, GoObject):
        state.save(_kind_of(value), list_type)
        return [], state.first_error
    items: list[dict[str, Any]] = []
    for item in value:
        target = make()
        if item is None:
            items.append(target)
            continue
        state.struct(item, element, target)
        items.append(target)
    return items, state.first_error


# --------------------------------------------------------------------------- encoding


def _go_string(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    if any(ch in out for ch in "<>&\u2028\u2029"):
        out = (
            out.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return out


class Float32(float):
    """A float that :func:`dumps` writes the way Go writes a ``float32``."""

    __slots__ = ()


def _shortest_float32_digits(value: float) -> tuple[str, int]:
    """Shortest decimal digits and exponent that read back as the same ``float32``."""
    for precision in range(1, 10):
        text = f"{value:.{precision - 1}e}"
        try:
            same = to_float32(float(text)) == value
        except OverflowError:  # rounded past the largest float32
            same = False
        if same:
            mantissa, exp = text.split("e")
            digits = mantissa.replace(".", "").lstrip("-").rstrip("0") or "0"
            return digits, int(exp)
    mantissa, exp = f"{value:.8e}".split("e")  # pragma: no cover - 9 digits always suffice
    return mantissa.replace(".", "").lstrip("-").rstrip("0") or "0", int(exp)


_F32_1E_6 = to_float32(1e-6)
_F32_1E21 = to_float32(1e21)


def float32_repr(value: float) -> str:
    """Format a ``float32`` exactly as Go's ``encoding/json`` does (``1``, ``0.5``, ``1e-7``)."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits, exp = _shortest_float32_digits(abs(value))
    # Go compares in float32: float32(1e-6) itself is written as 0.000001.
    if abs(value) < _F32_1E_6 or abs(value) >= _F32_1E21:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_text = f"{exp:+03d}"
        if exp_text.startswith("-0"):
            exp_text = "-" + exp_text[2:]
        return f"{sign}{mantissa}e{exp_text}"
    point = exp + 1  # position of the decimal point within digits
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif isinstance(value, Float32):
        out.append(float32_repr(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(json.dumps(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_go_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Iterable):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:  # pragma: no cover - programming error
        raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Compact JSON in Go's style (key order as given; no trailing newline)."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
