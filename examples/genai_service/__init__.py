"""The example GenAI service: a FastAPI app built on the resilient core (the default target).

``POST /chat`` loads the conversation from memory (``SQLiteMemory.async_store/async_load``),
looks facts up with a tool (``SQLTool``-style catalog on SQLite), asks the LLM chain (primary
plus fallback through ``BaseLLMWrapper``) and stores the exchange. ``GET /healthz``;
``GET /metrics`` in Prometheus format. Configuration comes from the environment (see
:mod:`examples.genai_service.config`), which is how the harness points it at fake vendors and
proxies.
"""
