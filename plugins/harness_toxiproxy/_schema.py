"""The Go types Toxiproxy decodes request bodies into, as :class:`~._gojson.GoStruct` values.

Their names appear in Go's error texts, e.g. ``json: cannot unmarshal number into Go struct
field Proxy.name of type string`` or ``... into Go value of type toxiproxy.Proxy``.

Surprises kept from Go: ``toxiproxy.Proxy`` has an exported ``Logger`` field without a JSON
tag, so it is *written* as ``"Logger":{}`` and *read* as an (ignored) object; ``toxics`` in a
proxy body is ignored; the populate element type is an anonymous struct, so its field
errors read ``Go struct field .name``.
"""

from __future__ import annotations

from ._gojson import GoField, GoStruct

__all__ = [
    "POPULATE_ELEMENT",
    "POPULATE_LIST_TYPE",
    "PROXY",
    "TOXIC_WRAPPER",
    "attributes_wrapper",
    "toxic_update",
]

_LOGGER = GoStruct("Logger", "zerolog.Logger")

PROXY = GoStruct(
    "Proxy",
    "toxiproxy.Proxy",
    (
        GoField("name", "string"),
        GoField("listen", "string"),
        GoField("upstream", "string"),
        GoField("enabled", "bool"),
        GoField("Logger", "struct", _LOGGER),
    ),
)

_POPULATE_ELEMENT_TYPE = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'

POPULATE_ELEMENT = GoStruct(
    "",
    _POPULATE_ELEMENT_TYPE,
    (
        GoField("name", "string"),
        GoField("listen", "string"),
        GoField("upstream", "string"),
        GoField("Logger", "struct", _LOGGER),
        GoField("enabled", "*bool"),
    ),
)
POPULATE_LIST_TYPE = f"[]{_POPULATE_ELEMENT_TYPE}"

TOXIC_WRAPPER = GoStruct(
    "ToxicWrapper",
    "toxics.ToxicWrapper",
    (
        GoField("attributes", "struct", GoStruct("NoopToxic", "toxics.NoopToxic")),
        GoField("name", "string"),
        GoField("type", "string"),
        GoField("stream", "string"),
        GoField("toxicity", "float32"),
    ),
)


def attributes_wrapper(attributes: GoStruct) -> GoStruct:
    """The second decode of a new toxic: only its attributes, into the type's own struct."""
    return GoStruct(
        "",
        'struct { Attributes interface {} "json:\\"attributes\\"" }',
        (GoField("attributes", "struct", attributes),),
    )


def toxic_update(attributes: GoStruct) -> GoStruct:
    """The body of a toxic update: attributes (into the live toxic) and toxicity."""
    return GoStruct(
        "",
        'struct { Attributes interface {} "json:\\"attributes\\""; '
        'Toxicity float32 "json:\\"toxicity\\"" }',
        (GoField("attributes", "struct", attributes), GoField("toxicity", "float32")),
    )
