"""A proxy's toxics: the two chains (upstream, downstream) and their effect on open links.

Mirrors ``toxic_collection.go``, including its order of checks and its quirks:

* a toxic is looked up by name across *both* directions; listings show the upstream chain
  first, then the downstream one, each in insertion order;
* a new toxic is checked in this order: body syntax/types, stream, (default name
  ``<type>_<stream>`` with the stream as written), type, duplicate name, then attributes;
* an update decodes straight into the live toxic, so on a type error the fields that did
  decode are already applied (Go does the same); ``toxicity`` only changes on success;
* toxicity is not range-checked: above 1 always applies, 0 or below never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _schema
from ._apierrors import (
    BAD_REQUEST_BODY,
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_ALREADY_EXISTS,
    TOXIC_NOT_FOUND,
)
from ._gojson import Float32, GoJSONError, decode_first, unmarshal
from ._toxics import DOWNSTREAM, TOXIC_TYPES, UPSTREAM, ToxicType, parse_direction

if TYPE_CHECKING:
    from ._link import Link
    from ._proxy import Proxy

__all__ = ["ToxicCollection", "ToxicSpec", "decode_body"]


def decode_body(body: bytes) -> Any:
    try:
        return decode_first(body)
    except GoJSONError as exc:
        raise BAD_REQUEST_BODY.join(str(exc)) from None


@dataclass(slots=True, eq=False, kw_only=True)
class ToxicSpec:
    """A toxic as the API knows it; every link's stage for it reads ``attrs`` live.

    Compared by identity: two toxics with equal settings are still two toxics."""

    name: str
    type: ToxicType
    stream: str
    direction: int
    toxicity: float
    attrs: dict[str, Any]
    hits: int = field(default=0, init=False)
    """Links this toxic acted on (active after its toxicity roll, and data or a close
    went through it); served by the harness-only ``GET /_harness/hits``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": {
                f.json_name: self.attrs[f.json_name] for f in self.type.attributes.fields
            },
            "name": self.name,
            "type": self.type.name,
            "stream": self.stream,
            "toxicity": Float32(self.toxicity),
        }


class ToxicCollection:
    """The two toxic chains of one proxy, applied to its connections as they change."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self._chains: tuple[list[ToxicSpec], list[ToxicSpec]] = ([], [])

    def chain(self, direction: int) -> list[ToxicSpec]:
        return list(self._chains[direction])

    def all(self) -> list[ToxicSpec]:
        return [*self._chains[UPSTREAM], *self._chains[DOWNSTREAM]]

    def find(self, name: str) -> ToxicSpec | None:
        for chain in self._chains:
            for spec in chain:
                if spec.name == name:
                    return spec
        return None

    def get(self, name: str) -> ToxicSpec:
        spec = self.find(name)
        if spec is None:
            raise TOXIC_NOT_FOUND
        return spec

    def _links(self, direction: int) -> list[Link]:
        links = []
        for conn in list(self.proxy.connections):
            link = conn.link(direction)
            if link is not None:
                links.append(link)
        return links

    def add_json(self, body: bytes) -> ToxicSpec:
        value = decode_body(body)
        wrapper: dict[str, Any] = {
            "attributes": {},
            "name": "",
            "type": "",
            "stream": "downstream",
            "toxicity": 1.0,
        }
        error = unmarshal(value, _schema.TOXIC_WRAPPER, wrapper)
        if error is not None:
            raise BAD_REQUEST_BODY.join(error)
        stream: str = wrapper["stream"]
        direction = parse_direction(stream)
        if direction is None:
            raise INVALID_STREAM
        name: str = wrapper["name"] or f"{wrapper['type']}_{stream}"
        toxic_type = TOXIC_TYPES.get(wrapper["type"])
        if toxic_type is None:
            raise INVALID_TOXIC_TYPE
        if self.find(name) is not None:
            raise TOXIC_ALREADY_EXISTS
        attrs = {"attributes": toxic_type.default_attributes()}
        error = unmarshal(value, _schema.attributes_wrapper(toxic_type.attributes), attrs)
        if error is not None:
            raise BAD_REQUEST_BODY.join(error)
        spec = ToxicSpec(
            name=name,
            type=toxic_type,
            stream=stream,
            direction=direction,
            toxicity=float(wrapper["toxicity"]),
            attrs=attrs["attributes"],
        )
        self._chains[direction].append(spec)
        for link in self._links(direction):
            link.add_toxic(spec)
        return spec

    def update_json(self, name: str, body: bytes) -> ToxicSpec:
        spec = self.get(name)
        value = decode_body(body)
        fields: dict[str, Any] = {"attributes": spec.attrs, "toxicity": spec.toxicity}
        error = unmarshal(value, _schema.toxic_update(spec.type.attributes), fields)
        if error is not None:
            raise BAD_REQUEST_BODY.join(error)
        spec.toxicity = float(fields["toxicity"])
        for link in self._links(spec.direction):
            link.update_toxic(spec)
        return spec

    def remove(self, name: str) -> None:
        self._remove(self.get(name))

    def _remove(self, spec: ToxicSpec) -> None:
        self._chains[spec.direction].remove(spec)
        for link in self._links(spec.direction):
            link.remove_toxic(spec)

    def reset(self) -> None:
        for chain in self._chains:
            while chain:
                self._remove(chain[0])
