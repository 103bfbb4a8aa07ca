"""Wiring a target to the run's stack: the placeholders a scenario's ``target`` may use.

A ``command`` target, its ``cwd`` and every ``target.env`` value may name the run's endpoints::

    target:
      command: "uvicorn mysvc:app --port {port}"
      env:
        OPENAI_BASE_URL: "{upstreams.primary.openai_base_url}"
        ANTHROPIC_BASE_URL: "{proxies.backup_net.anthropic_base_url}"

Each upstream and proxy offers the address each official SDK expects: ``openai_base_url``
ends in ``/v1`` (``AsyncOpenAI(base_url=...)``), ``anthropic_base_url`` is bare
(``AsyncAnthropic(base_url=...)`` appends ``/v1/messages`` itself); ``url`` is the endpoint's own
base URL, ``address`` its ``host:port``, and ``host`` / ``port`` the parts. A proxy's URLs reach
its upstream through the proxy. Run values: ``{port}`` (a free loopback port for the target),
``{python}`` (the harness's interpreter, whose environment has the harness and its
dependencies), ``{run_id}``, ``{seed}``, ``{workdir}`` (a scratch directory for this run).
``{{`` and ``}}`` are literal braces. A name that does not exist is bad input (exit 2) naming the
field and the names that do.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Protocol

from harness.errors import InputError


class Reachable(Protocol):
    """What a placeholder can tell of an endpoint (a started ``harness.plugin.Endpoint``)."""

    name: str
    url: str | None
    address: str | None


ENDPOINT_FIELDS = ("url", "openai_base_url", "anthropic_base_url", "address", "host", "port")
RUN_FIELDS = ("port", "python", "run_id", "seed", "workdir")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def placeholders(text: str) -> list[str]:
    """The names ``text`` refers to, in order (escaped braces are not placeholders)."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(text) if m.group(1) is not None]


def known_names(upstreams: Iterable[str], proxies: Iterable[str]) -> list[str]:
    """Every placeholder a scenario with these endpoints can fill."""
    names = list(RUN_FIELDS)
    for kind, endpoints in (("upstreams", upstreams), ("proxies", proxies)):
        names += [f"{kind}.{name}.{field}" for name in endpoints for field in ENDPOINT_FIELDS]
    return names


def unknown_placeholders(text: str, known: Iterable[str]) -> list[str]:
    known_set = set(known)
    return [name for name in placeholders(text) if name not in known_set]


def describe_known(known: list[str]) -> str:
    """The known names, shortened: run fields, then one pattern per endpoint."""
    run = [n for n in known if "." not in n]
    endpoints = sorted({n.rsplit(".", 1)[0] for n in known if "." in n})
    fields = "{" + ",".join(ENDPOINT_FIELDS) + "}"
    return ", ".join([*run, *(f"{e}.{fields}" for e in endpoints)])


def endpoint_values(kind: str, endpoint: Reachable) -> dict[str, str]:
    """``{kind}.{name}.{field}`` for one started endpoint (fields it cannot offer are absent)."""
    values: dict[str, str] = {}
    if endpoint.url:
        values["url"] = endpoint.url
        if endpoint.url.startswith(("http://", "https://")):
            root = endpoint.url.rstrip("/").removesuffix("/v1")
            values["openai_base_url"] = f"{root}/v1"
            values["anthropic_base_url"] = root
    if endpoint.address:
        values["address"] = endpoint.address
        host, _, port = endpoint.address.rpartition(":")
        values["host"], values["port"] = host.strip("[]"), port
    return {f"{kind}.{endpoint.name}.{field}": value for field, value in values.items()}


def run_values(
    endpoints: Mapping[str, Reachable],
    proxies: Iterable[str],
    *,
    port: int | None,
    run_id: str,
    seed: int,
    workdir: str,
) -> dict[str, str]:
    """Every value a target of this run can use (see the module docstring); ``proxies`` names
    the endpoints that are proxies."""
    values = {"run_id": run_id, "seed": str(seed), "workdir": workdir, "python": sys.executable}
    if port is not None:
        values["port"] = str(port)
    proxies = set(proxies)
    for name, endpoint in endpoints.items():
        values.update(endpoint_values("proxies" if name in proxies else "upstreams", endpoint))
    return values


def fill(text: str, values: Mapping[str, str], field: str) -> str:
    """``text`` with its placeholders filled; an unknown name (or one this run cannot offer,
    e.g. the address of an in-process respx upstream) is an :class:`InputError`."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]  # {{ or }}
        if name not in values:
            raise InputError(
                f"{field}: unknown placeholder {{{name}}}; this run offers: "
                f"{', '.join(sorted(values))}"
            )
        return values[name]

    return _PLACEHOLDER.sub(replace, text)
