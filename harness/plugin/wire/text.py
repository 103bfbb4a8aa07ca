"""The deterministic answer of the fake vendors, and its token counts.

The answer is an echo of the last user message (``echo: <text>``) so a test can assert what it
gets back. A "token" is a word with the whitespace that follows it: the answer is split into
those pieces for streaming, and every count in ``usage`` is a number of pieces, so usage never
depends on a real tokenizer and is the same in both backends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

_PIECE_RE = re.compile(r"\s*\S+\s*|\s+")

EMPTY_PROMPT_REPLY = "Hello from the fake vendor."

Reply = Callable[[str], str]
"""Turns the last user message into the answer text."""


def echo_reply(prompt: str) -> str:
    """The default answer: ``echo: <prompt>`` (or a greeting for an empty prompt)."""
    return f"echo: {prompt}" if prompt else EMPTY_PROMPT_REPLY


def split_tokens(text: str) -> list[str]:
    """Split text into "tokens" (a word and its trailing whitespace); ``"".join`` restores it."""
    return _PIECE_RE.findall(text)


def count_tokens(text: str) -> int:
    """The number of :func:`split_tokens` pieces in ``text``."""
    return len(_PIECE_RE.findall(text))


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of parts with ``text`` keys."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return " ".join(texts)
    return ""


def last_user_text(messages: Sequence[Any]) -> str:
    """The text of the last message whose role is ``user`` (empty when there is none)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def prompt_tokens(messages: Sequence[Any], system: Any = None) -> int:
    """Token count of every message text plus the system prompt."""
    total = count_tokens(content_text(system)) if system is not None else 0
    for message in messages:
        if isinstance(message, dict):
            total += count_tokens(content_text(message.get("content")))
    return total


class Completion(NamedTuple):
    """What the fake model answers: text, its stream pieces and the usage counts."""

    pieces: tuple[str, ...]
    prompt_tokens: int
    truncated: bool

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)


def complete(
    messages: Sequence[Any],
    *,
    system: Any = None,
    max_tokens: int | None = None,
    reply: Reply = echo_reply,
) -> Completion:
    """Answer ``messages``: the reply to the last user text, cut at ``max_tokens`` pieces."""
    pieces = split_tokens(reply(last_user_text(messages)))
    truncated = max_tokens is not None and len(pieces) > max_tokens
    if truncated:
        pieces = pieces[: max(max_tokens or 0, 0)]
    return Completion(tuple(pieces), prompt_tokens(messages, system), truncated)
