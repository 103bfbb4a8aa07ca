"""The ``/_harness/`` control API: script faults and read counters over HTTP.

==========================  =========================================================
``POST   /_harness/faults``        add a fault (JSON spec as ``harness.plugin.parse_fault`` reads
                                   it); 201 with the fault's id, label, spec and counters
``GET    /_harness/faults``        ``{"faults": [...]}`` in insertion (matching) order
``GET    /_harness/faults/{id}``   one fault; 404 if unknown
``DELETE /_harness/faults/{id}``   remove one; 404 if unknown
``DELETE /_harness/faults``        remove all: ``{"removed": n}``
``GET    /_harness/counters``      requests total and by route, answers by status,
                                   faults fired by label
``POST   /_harness/reset``         zero the counters and the rate-limit window; with
                                   ``{"faults": true}`` also remove every fault
``GET    /_harness/health``        ``{"status": "ok", "faults": n}``
``POST   /_harness/phase``         ``{"phase": name | null, "run": id}``: a phase starts now
                                   (null: the run ended); a mark after the end or for another
                                   run starts a new ledger
``GET    /_harness/ledger``        ``{"run", "phase", "phases": {name: stats}}``: per phase,
                                   what reached the vendor (``VendorStats``)
==========================  =========================================================

Errors are ``{"error": {"message", "field"}}`` (plus ``errors``: one ``{field, message}`` per
problem for a spec that fails validation): 400 for a body that is not JSON (nested too deeply
for the parser included), 413 for a body over the vendor's ``max_body_bytes``, 422 for a spec
that is not valid or not an HTTP fault kind, 404/405 for unknown routes and methods. A value
quoted in a message is cut short (``reprlib``), so a hostile spec cannot make a huge answer.
"""

from __future__ import annotations

import json
import reprlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from harness.plugin import HttpFault, VendorLedger, parse_fault
from harness.plugin.wire.common import WireResponse, json_response
from harness_fake_vendor._state import SUPPORTED_KINDS, Counters, FaultBook, RateLimiter

PREFIX = "/_harness"


_SHORT = reprlib.Repr()
_SHORT.maxstring = 80
_SHORT.maxother = 80


def _error(status: int, message: str, field: str | None = None, **extra: Any) -> WireResponse:
    return json_response(status, {"error": {"message": message, "field": field, **extra}})


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(spec)"


def validation_problems(exc: ValidationError) -> list[dict[str, str]]:
    """One ``{field, message}`` per pydantic error, with the rejected value in the message."""
    problems = []
    for err in exc.errors():
        message = err["msg"]
        if "input" in err and err["type"] != "missing":
            message = f"{message} (got {_SHORT.repr(err['input'])})"
        problems.append({"field": _field(tuple(err["loc"])), "message": message})
    return problems


def too_large(size: int, limit: int) -> WireResponse:
    """413 for a control request whose body is over the limit (it was not parsed)."""
    return _error(413, f"request body of {size} bytes is larger than the limit of {limit}")


def _loads(body: bytes) -> Any:
    """The JSON of a body; ValueError also for nesting too deep for the parser."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None


@dataclass(eq=False)
class ControlApi:
    """Routes control requests to the fault book, counters and rate limiter."""

    faults: FaultBook
    counters: Counters
    limiter: RateLimiter
    ledger: VendorLedger = field(default_factory=VendorLedger)

    def handle(self, method: str, path: str, body: bytes) -> WireResponse:
        route = path[len(PREFIX) :].rstrip("/")
        if route == "/faults":
            if method == "POST":
                return self._add(body)
            if method == "GET":
                return json_response(200, {"faults": self.faults.describe()})
            if method == "DELETE":
                return json_response(200, {"removed": self.faults.clear()})
            return _error(405, f"{method} is not allowed on {path}")
        if route.startswith("/faults/"):
            return self._one(method, route[len("/faults/") :], path)
        if route == "/counters" and method == "GET":
            return json_response(200, self.counters.snapshot())
        if route == "/reset" and method == "POST":
            return self._reset(body)
        if route == "/health" and method == "GET":
            return json_response(200, {"status": "ok", "faults": len(self.faults)})
        if route == "/phase" and method == "POST":
            return self._phase(body)
        if route == "/ledger" and method == "GET":
            return json_response(200, self.ledger.snapshot())
        if route in ("/counters", "/reset", "/health", "/phase", "/ledger"):
            return _error(405, f"{method} is not allowed on {path}")
        return _error(404, f"no control route {method} {path}")

    def _add(self, body: bytes) -> WireResponse:
        try:
            data = _loads(body) if body else None
        except ValueError as exc:
            return _error(400, f"request body is not valid JSON: {exc}")
        label = _label(data)
        try:
            spec = parse_fault(data)
        except ValidationError as exc:
            problems = validation_problems(exc)
            first = problems[0]
            message = f"invalid fault {label}: " + "; ".join(
                f"{p['field']}: {p['message']}" for p in problems
            )
            return _error(422, message, first["field"], errors=problems)
        except ValueError as exc:
            field = "kind" if isinstance(data, dict) else None
            return _error(422, f"invalid fault {label}: {exc}", field)
        if not isinstance(spec, SUPPORTED_KINDS) or not isinstance(spec, HttpFault):
            known = ", ".join(sorted(k.model_fields["kind"].default for k in SUPPORTED_KINDS))
            return _error(
                422,
                f"invalid fault {label}: kind {spec.kind!r} is a {spec.layer} fault; the fake "
                f"vendor injects only HTTP faults: {known}",
                "kind",
            )
        entry = self.faults.add(spec)
        return json_response(201, entry.describe())

    def _one(self, method: str, fault_id: str, path: str) -> WireResponse:
        if method == "GET":
            entry = self.faults.get(fault_id)
        elif method == "DELETE":
            entry = self.faults.remove(fault_id)
        else:
            return _error(405, f"{method} is not allowed on {path}")
        if entry is None:
            return _error(404, f"no fault with id {fault_id!r}", "id")
        if method == "DELETE":
            return json_response(200, {"removed": entry.id, "label": entry.spec.label()})
        return json_response(200, entry.describe())

    def _reset(self, body: bytes) -> WireResponse:
        try:
            options = _loads(body) if body else {}
        except ValueError as exc:
            return _error(400, f"request body is not valid JSON: {exc}")
        if not isinstance(options, dict) or not isinstance(options.get("faults", False), bool):
            return _error(422, 'expected {"faults": true|false}', "faults")
        self.counters.reset()
        self.limiter.reset()
        removed = self.faults.clear() if options.get("faults") else 0
        return json_response(200, {"reset": True, "faults_removed": removed})

    def _phase(self, body: bytes) -> WireResponse:
        try:
            data = _loads(body) if body else None
        except ValueError as exc:
            return _error(400, f"request body is not valid JSON: {exc}")
        if not isinstance(data, dict) or "phase" not in data:
            return _error(422, 'expected {"phase": "<name>" | null, "run": "<id>"}', "phase")
        phase, run = data.get("phase"), data.get("run")
        if phase is not None and (not isinstance(phase, str) or not phase):
            return _error(422, f"phase must be a name or null, got {_SHORT.repr(phase)}", "phase")
        if run is not None and not isinstance(run, str):
            return _error(422, f"run must be a string, got {_SHORT.repr(run)}", "run")
        self.ledger.mark(phase, run)
        return json_response(200, {"phase": phase, "run": self.ledger.run})


def _label(data: Any) -> str:
    """How an incoming spec is named in messages: its name, ``kind@target`` or its kind."""
    if not isinstance(data, dict):
        return "(not a mapping)"
    name, kind, target = data.get("name"), data.get("kind"), data.get("target")
    if isinstance(name, str) and name:
        return repr(name)
    if kind and target:
        return repr(f"{kind}@{target}")
    return repr(kind) if kind else "(no kind)"
