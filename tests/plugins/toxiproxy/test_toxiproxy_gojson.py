"""Go ``encoding/json`` compatibility: decoder messages, typed decoding and float32 output."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness_toxiproxy._addr import AddrError, resolve_tcp_addr, split_host_port
from harness_toxiproxy._gojson import (
    GoField,
    GoJSONError,
    GoNumber,
    GoObject,
    GoStruct,
    decode_first,
    dumps,
    float32_repr,
    to_float32,
    unmarshal,
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b" \n\t", "EOF"),
        (b"{", "unexpected EOF"),
        (b'{"a":', "unexpected EOF"),
        (b"tru", "unexpected EOF"),
        (b'"abc', "unexpected EOF"),
        (b"{bad}", "invalid character 'b' looking for beginning of object key string"),
        (b"x", "invalid character 'x' looking for beginning of value"),
        (b"}", "invalid character '}' looking for beginning of value"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b"}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"[1,]", "invalid character ']' looking for beginning of value"),
        (b'"a\x01"', "invalid character '\\x01' in string literal"),
        (b'"\\q"', "invalid character 'q' in string escape code"),
        (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
        (b"-a", "invalid character 'a' in numeric literal"),
        (b"1.e5", "invalid character 'e' after decimal point in numeric literal"),
        (b"1e+", "unexpected EOF"),
        (b"1ex", "invalid character 'x' in exponent of numeric literal"),
        (b"trux", "invalid character 'x' in literal true (expecting 'e')"),
        (b"fals0", "invalid character '0' in literal false (expecting 'e')"),
        (b"nul", "unexpected EOF"),
        (b"NaN", "invalid character 'N' looking for beginning of value"),
        (b"01", "invalid character '1' after top-level value"),
        (b"\xc3\xa9", "invalid character '\u00c3' looking for beginning of value"),
        (b"'a'", "invalid character '\\'' looking for beginning of value"),
    ],
)
def test_decoder_errors_match_go(body: bytes, message: str) -> None:
    with pytest.raises(GoJSONError) as info:
        decode_first(body)
    assert str(info.value) == message


def test_decoder_reads_only_the_first_value() -> None:
    assert decode_first(b'{"a": 1} trailing garbage') == GoObject([("a", GoNumber("1"))])
    assert decode_first(b"[1][2]") == [GoNumber("1")]
    assert decode_first(b" true ") is True
    assert decode_first(b'"\\ud800"') == "\ufffd"


_PROXY = GoStruct(
    "Proxy",
    "toxiproxy.Proxy",
    (GoField("name", "string"), GoField("enabled", "bool"), GoField("rate", "int64")),
)
ZERO: dict[str, Any] = {"name": "", "enabled": False, "rate": 0}  # a Proxy's zero value


@pytest.mark.parametrize(
    ("body", "expected", "error"),
    [
        (b'{"name":"x"}', {**ZERO, "name": "x"}, None),
        (b'{"NAME":"x","Name":"y"}', {**ZERO, "name": "y"}, None),
        (b'{"name":null,"rate":null}', ZERO, None),
        (
            b'{"name":1,"enabled":true}',
            {**ZERO, "enabled": True},
            "json: cannot unmarshal number into Go struct field Proxy.name of type string",
        ),
        (
            b'{"rate":1e3}',
            ZERO,
            "json: cannot unmarshal number 1e3 into Go struct field Proxy.rate of type int64",
        ),
        (
            b'{"rate":9223372036854775808}',
            ZERO,
            "json: cannot unmarshal number 9223372036854775808 into Go struct field "
            "Proxy.rate of type int64",
        ),
        (
            b'{"rate":{}, "name":[]}',
            ZERO,
            "json: cannot unmarshal object into Go struct field Proxy.rate of type int64",
        ),
        (
            b'"x"',
            ZERO,
            "json: cannot unmarshal string into Go value of type toxiproxy.Proxy",
        ),
    ],
)
def test_unmarshal_like_go(body: bytes, expected: dict[str, Any], error: str | None) -> None:
    target: dict[str, Any] = dict(ZERO)
    assert unmarshal(decode_first(body), _PROXY, target) == error
    assert target == expected


def test_float32_overflow_is_a_type_error() -> None:
    struct_ = GoStruct("T", "t.T", (GoField("f", "float32"),))
    target: dict[str, Any] = {"f": 1.0}
    assert unmarshal(decode_first(b'{"f": 1e39}'), struct_, target) == (
        "json: cannot unmarshal number 1e39 into Go struct field T.f of type float32"
    )
    assert target == {"f": 1.0}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.0, "0"),
        (0.5, "0.5"),
        (0.1, "0.1"),
        (0.3, "0.3"),
        (-1.0, "-1"),
        (2.5, "2.5"),
        (100.0, "100"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e21, "1e+21"),
        (123456789.0, "123456790"),
        (1e20, "100000000000000000000"),
        (0.000001, "0.000001"),
    ],
)
def test_float32_repr_matches_go(value: float, text: str) -> None:
    assert float32_repr(to_float32(value)) == text


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_repr_round_trips_shortest(value: float) -> None:
    text = float32_repr(value)
    assert to_float32(float(text)) == value or (value == 0 and float(text) == 0)
    digits = text.lstrip("-").split("e")[0].replace(".", "").strip("0")
    # No shorter decimal reads back as the same float32.
    if len(digits) > 1:
        shorter = f"{value:.{len(digits) - 2}e}"
        assert to_float32(float(shorter)) != value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _plain(value: Any) -> Any:
    if isinstance(value, GoObject):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, GoNumber):
        return int(value)
    return value


@given(json_values)
def test_decoder_accepts_what_json_writes(value: Any) -> None:
    assert _plain(decode_first(json.dumps(value).encode())) == value


@given(json_values)
def test_dumps_is_valid_json_with_go_escaping(value: Any) -> None:
    text = dumps(value).decode()
    assert json.loads(text) == value
    assert not any(ch in text for ch in "<>&\u2028\u2029")


def test_dumps_escapes_html_like_go() -> None:
    assert dumps({"a": "<b>&\u2028"}) == b'{"a":"\\u003cb\\u003e\\u0026\\u2028"}'


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("local373", "address local373: missing port in address"),
        ("a:b:c", "address a:b:c: too many colons in address"),
        ("[::1", "address [::1: missing ']' in address"),
        ("[::1]", "address [::1]: missing port in address"),
        ("[::1]x:1", "address [::1]x:1: missing port in address"),
        ("1]:2", "address 1]:2: unexpected ']' in address"),
        ("127.0.0.1:99999", "address 99999: invalid port"),
        ("127.0.0.1:-1", "address -1: invalid port"),
        ("127.0.0.1:nosuchservice", "lookup tcp/nosuchservice: unknown port"),
    ],
)
def test_address_errors_match_go(address: str, message: str) -> None:
    with pytest.raises(AddrError) as info:
        resolve_tcp_addr(address)
    assert str(info.value) == message


def test_address_resolution() -> None:
    assert str(resolve_tcp_addr("localhost:80")) == "127.0.0.1:80"
    assert str(resolve_tcp_addr("127.0.0.1:http")) == "127.0.0.1:80"
    assert str(resolve_tcp_addr("[::1]:5")) == "[::1]:5"
    assert str(resolve_tcp_addr(":5")) == ":5"
    assert str(resolve_tcp_addr("")) == ":0"
    assert split_host_port("[::1]:80") == ("::1", "80")
    assert struct.calcsize("ii") == 8
