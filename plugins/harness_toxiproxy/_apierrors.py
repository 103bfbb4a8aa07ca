"""The API's errors: a message and an HTTP status, rendered as ``{"error": ..., "status": ...}``.

The texts are Toxiproxy 2.x's (``api.go``), byte for byte. Errors that are not an
:class:`ApiError` (bind failures, address resolution) become status 500 with their text.
"""

from __future__ import annotations

__all__ = [
    "BAD_REQUEST_BODY",
    "INVALID_STREAM",
    "INVALID_TOXIC_TYPE",
    "MISSING_FIELD",
    "PROXY_ALREADY_EXISTS",
    "PROXY_NOT_FOUND",
    "TOXIC_ALREADY_EXISTS",
    "TOXIC_NOT_FOUND",
    "ApiError",
    "as_api_error",
]


class ApiError(Exception):
    """An error the API answers with ``status`` and ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def join(self, detail: str) -> ApiError:
        """Go's ``joinError``: ``"<message>: <detail>"`` with the same status."""
        return ApiError(f"{self.message}: {detail}", self.status)

    def to_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)


def as_api_error(exc: BaseException) -> ApiError:
    """Go's ``apiError``: anything that is not an :class:`ApiError` is a 500 with its text."""
    if isinstance(exc, ApiError):
        return exc
    return ApiError(str(exc), 500)
