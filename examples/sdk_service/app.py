"""A FastAPI service on the official ``openai`` SDK with an ``anthropic`` fallback.

Written the way most teams write it, **not** on :mod:`harness.core`: ``AsyncOpenAI`` with its
default retries (2, honouring ``Retry-After``), and on any exception one call to
``AsyncAnthropic``. The SDKs read their usual environment::

    OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY
    OPENAI_MODEL (gpt-4o-mini), ANTHROPIC_MODEL (claude-3-5-haiku-latest)

The harness starts it as a ``command`` target and points those variables at its fake vendors
(``scenarios/own_service/chaos_sdk_service_outage.yaml``)::

    uvicorn examples.sdk_service.app:app --port 8000
"""

from __future__ import annotations

import logging
import os

import anthropic
import openai
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

app = FastAPI(title="sdk service")
logger = logging.getLogger("sdk_service")
primary = openai.AsyncOpenAI()  # OPENAI_BASE_URL / OPENAI_API_KEY from the environment
backup = anthropic.AsyncAnthropic()  # ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
ANTHROPIC_MODEL = os.environ.get("ANTHROPIC_MODEL", "claude-3-5-haiku-latest")


class ChatIn(BaseModel):
    session_id: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=20_000)


class ChatOut(BaseModel):
    answer: str
    provider: str


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/chat")
async def chat(body: ChatIn) -> ChatOut:
    messages = [{"role": "user", "content": body.message}]
    try:
        completion = await primary.chat.completions.create(
            model=OPENAI_MODEL,
            messages=messages,  # type: ignore[arg-type]
            user=body.session_id,
        )
        return ChatOut(answer=completion.choices[0].message.content or "", provider="openai")
    except Exception as exc:  # "anything went wrong: try the other vendor"
        logger.info("primary failed (%s): falling back to anthropic", type(exc).__name__)
    try:
        message = await backup.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=256,
            messages=messages,  # type: ignore[arg-type]
        )
    except anthropic.APIError as exc:
        raise HTTPException(status_code=503, detail=f"both vendors failed: {exc}") from exc
    text = "".join(block.text for block in message.content if block.type == "text")
    return ChatOut(answer=text, provider="anthropic")
