from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.plugin.wire.text import (
    EMPTY_PROMPT_REPLY,
    complete,
    content_text,
    count_tokens,
    echo_reply,
    last_user_text,
    split_tokens,
)


@given(st.text())
def test_split_tokens_joins_back_to_the_text(text: str) -> None:
    assert "".join(split_tokens(text)) == text
    assert count_tokens(text) == len(split_tokens(text))


def test_tokens_are_words_with_their_whitespace() -> None:
    assert split_tokens("echo: hello  world") == ["echo: ", "hello  ", "world"]
    assert count_tokens("") == 0


def test_content_text_reads_strings_and_text_parts() -> None:
    assert content_text("hi") == "hi"
    parts = [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]
    assert content_text(parts) == "a b"
    assert content_text(None) == ""


def test_last_user_text_skips_assistant_turns() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
        {"role": "assistant", "content": "prefill"},
    ]
    assert last_user_text(messages) == "second"
    assert last_user_text([]) == ""


def test_complete_echoes_and_counts() -> None:
    answer = complete([{"role": "user", "content": "hello there"}], system="be nice")
    assert answer.text == "echo: hello there"
    assert answer.completion_tokens == 3
    assert answer.prompt_tokens == 4  # "hello there" + "be nice"
    assert not answer.truncated


def test_complete_truncates_at_max_tokens() -> None:
    answer = complete([{"role": "user", "content": "one two three four"}], max_tokens=2)
    assert answer.pieces == ("echo: ", "one ")
    assert answer.truncated


def test_echo_of_an_empty_prompt_is_a_greeting() -> None:
    assert echo_reply("") == EMPTY_PROMPT_REPLY
    assert complete([{"role": "user", "content": "x"}], reply=str.upper).text == "X"
