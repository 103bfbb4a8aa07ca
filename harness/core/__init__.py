"""The resilient core: LLM, tool and memory clients that survive vendors and networks failing.

Everything here imports nothing from the rest of the project, nor pytest, Locust or Toxiproxy:
it is what you ship. The harness observes it only through resilience events (:func:`subscribe`).

Quick start::

    from harness.core import AnthropicProvider, BaseLLMWrapper, OpenAIProvider

    llm = BaseLLMWrapper([OpenAIProvider(model="gpt-4o-mini"),
                          AnthropicProvider(model="claude-3-5-haiku-latest")])
    answer = await llm.complete("Hello")
    print(answer.text, answer.provider, answer.attempts)
"""

from harness.core._anthropic import AnthropicProvider
from harness.core._breaker import BreakerConfig, BreakerPermit, CircuitBreaker
from harness.core._budget import BudgetConfig, RetryBudget
from harness.core._clock import Clock, SystemClock, VirtualClock, get_clock, use_clock
from harness.core._deadline import Deadline
from harness.core._errors import (
    AllProvidersFailed,
    AuthError,
    BadRequest,
    CircuitOpen,
    ConnectError,
    ContextWindowExceeded,
    DeadlineExceeded,
    Locked,
    NotFound,
    Overloaded,
    PermanentError,
    PoolTimeout,
    QuotaExhausted,
    RateLimited,
    ResilienceError,
    RetryBudgetExhausted,
    ServerError,
    StreamInterrupted,
    Timeout,
    TransientError,
    UpstreamError,
    is_retryable,
)
from harness.core._events import (
    GLOBAL_EVENTS,
    AttemptFailed,
    AttemptStarted,
    BreakerStateChanged,
    BudgetExhausted,
    CallFinished,
    EventBus,
    FallbackUsed,
    ResilienceEvent,
    RetryScheduled,
    subscribe,
)
from harness.core._executor import AttemptInfo, Resilience, Served
from harness.core._gate import RateLimitGate
from harness.core._http import Secret
from harness.core._httptool import HTTPTool
from harness.core._llm import BaseLLMWrapper, Completion, CompletionStream
from harness.core._memory import BaseMemory, MemoryRecord, SQLiteMemory
from harness.core._openai import OpenAIProvider
from harness.core._policy import RetryPolicy
from harness.core._providers import HTTPProvider, Provider, Reply, Timeouts, Usage
from harness.core._retry_after import parse_retry_after, parse_should_retry
from harness.core._sqltool import SQLTool
from harness.core._tool import BaseTool
from harness.core._transport import mount, pooled_client

__all__ = [
    "GLOBAL_EVENTS",
    "AllProvidersFailed",
    "AnthropicProvider",
    "AttemptFailed",
    "AttemptInfo",
    "AttemptStarted",
    "AuthError",
    "BadRequest",
    "BaseLLMWrapper",
    "BaseMemory",
    "BaseTool",
    "BreakerConfig",
    "BreakerPermit",
    "BreakerStateChanged",
    "BudgetConfig",
    "BudgetExhausted",
    "CallFinished",
    "CircuitBreaker",
    "CircuitOpen",
    "Clock",
    "Completion",
    "CompletionStream",
    "ConnectError",
    "ContextWindowExceeded",
    "Deadline",
    "DeadlineExceeded",
    "EventBus",
    "FallbackUsed",
    "HTTPProvider",
    "HTTPTool",
    "Locked",
    "MemoryRecord",
    "NotFound",
    "OpenAIProvider",
    "Overloaded",
    "PermanentError",
    "PoolTimeout",
    "Provider",
    "QuotaExhausted",
    "RateLimitGate",
    "RateLimited",
    "Reply",
    "Resilience",
    "ResilienceError",
    "ResilienceEvent",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryPolicy",
    "RetryScheduled",
    "SQLTool",
    "SQLiteMemory",
    "Secret",
    "Served",
    "ServerError",
    "StreamInterrupted",
    "SystemClock",
    "Timeout",
    "Timeouts",
    "TransientError",
    "UpstreamError",
    "Usage",
    "VirtualClock",
    "get_clock",
    "is_retryable",
    "mount",
    "parse_retry_after",
    "parse_should_retry",
    "pooled_client",
    "subscribe",
    "use_clock",
]
