"""Fuzzing the embedded Toxiproxy's API with hostile bodies: always Toxiproxy's answer.

For every body sent to ``POST /proxies``, ``POST /proxies/{name}/toxics`` and ``POST
/populate`` (random bytes, JSON nested past Go's 10,000-level limit, numbers no Go type
holds, the known fields with the wrong types), the server answers within the client's
timeout with a 2xx, or with Toxiproxy's error shape ``{"error": <message>, "status": <the
status>}`` and a 4xx. The one 5xx allowed is the one real Toxiproxy gives: 500 for a
``listen`` address that does not parse or bind (``listen tcp: address local373: missing port
in address``), which the conformance tests pin. Listen addresses never name a fixed port
(they are ``:0``, refused, or unparsable), so the fuzzing binds no port another test needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzz_support import FUZZ, any_json, nested
from hypothesis import given
from hypothesis import strategies as st

from harness_toxiproxy import EmbeddedToxiproxy

GO_ADDRESS_ERROR = re.compile(r"^(listen tcp|address |lookup )")
TARGET = "fuzz_target"

json_values = any_json(st.integers(min_value=2**63 - 5, max_value=2**70))


def _no_fixed_port(listen: str) -> bool:
    found = re.search(r":\+?(\d+)\s*$", listen)
    return found is None or int(found.group(1)) == 0


listens = st.sampled_from(
    [
        "",
        ":0",
        "127.0.0.1:0",
        "localhost:0",
        "0.0.0.0:0",
        "[::]:0",
        "10.1.2.3:0",
        "example.com:0",
        "local373",
        "127.0.0.1:99999",
        "127.0.0.1:-1",
        "127.0.0.1:nosuchservice",
        "[::1",
        "a:b:c",
    ]
) | st.text(max_size=15).filter(_no_fixed_port)


deep_bodies = st.builds(
    nested,
    st.integers(1, 12_000),
    st.sampled_from(["array", "object"]),
    st.sampled_from([b"", b'{"name":', b'{"attributes":', b'{"listen":']),
)
huge_numbers = st.builds(
    lambda field, digits: b'{"%s": 1%s}' % (field.encode(), b"0" * digits),
    st.sampled_from(["toxicity", "name", "enabled", "attributes"]),
    st.integers(20, 5_000),
)
proxy_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=12) | json_values,
        "listen": listens,
        "upstream": st.sampled_from(["127.0.0.1:9", "localhost:9", ""]) | json_values,
        "enabled": st.booleans() | json_values,
        "toxics": json_values,
    },
)
toxic_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=12) | json_values,
        "type": st.sampled_from(
            ["latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "noop"]
        )
        | json_values,
        "stream": st.sampled_from(["upstream", "downstream", "UpStream", "sideways"]) | json_values,
        "toxicity": st.floats(allow_nan=False) | json_values,
        "attributes": st.dictionaries(
            st.sampled_from(
                ["latency", "jitter", "rate", "delay", "timeout", "average_size", "bytes"]
            ),
            st.integers(-(2**64), 2**64) | json_values,
            max_size=3,
        )
        | json_values,
    },
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


common = st.one_of(st.binary(max_size=2_000), deep_bodies, huge_numbers, json_values.map(_dumps))


@pytest.fixture(scope="module")
def fuzz_api() -> Iterator[httpx.Client]:
    """One server for the module: created proxies pile up in it and go with it."""
    with (
        EmbeddedToxiproxy() as server,
        httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as client,
    ):
        created = client.post("/proxies", json={"name": TARGET, "upstream": "127.0.0.1:9"})
        assert created.status_code == 201
        yield client


def assert_toxiproxy_answer(response: httpx.Response) -> None:
    status = response.status_code
    if status in (200, 201, 204):
        return
    body = response.json()
    assert isinstance(body["error"], str), body
    assert body["error"], body
    assert body["status"] == status, body
    if status >= 500:
        assert status == 500, body
        assert GO_ADDRESS_ERROR.match(body["error"]), body
    else:
        assert 400 <= status < 500, body


@FUZZ
@given(body=st.one_of(common, proxy_like.map(_dumps)))
def test_creating_proxies_answers_like_toxiproxy(fuzz_api: httpx.Client, body: bytes) -> None:
    assert_toxiproxy_answer(fuzz_api.post("/proxies", content=body))


@FUZZ
@given(body=st.one_of(common, proxy_like.map(_dumps)))
def test_updating_a_proxy_answers_like_toxiproxy(fuzz_api: httpx.Client, body: bytes) -> None:
    try:
        assert_toxiproxy_answer(fuzz_api.post(f"/proxies/{TARGET}", content=body))
    finally:  # put it back where it was, for the next example
        fuzz_api.post(f"/proxies/{TARGET}", json={"upstream": "127.0.0.1:9", "enabled": True})


@FUZZ
@given(body=st.one_of(common, toxic_like.map(_dumps)))
def test_creating_toxics_answers_like_toxiproxy(fuzz_api: httpx.Client, body: bytes) -> None:
    assert_toxiproxy_answer(fuzz_api.post(f"/proxies/{TARGET}/toxics", content=body))
    assert fuzz_api.post("/reset").status_code == 204  # removes every toxic


@FUZZ
@given(body=st.one_of(common, st.lists(proxy_like, max_size=4).map(_dumps), proxy_like.map(_dumps)))
def test_populate_answers_like_toxiproxy(fuzz_api: httpx.Client, body: bytes) -> None:
    response = fuzz_api.post("/populate", content=body)
    assert_toxiproxy_answer(response)
    assert "proxies" in response.json()
