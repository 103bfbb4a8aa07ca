"""A synchronous client for the fake vendor's ``/_harness/`` control API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from harness.plugin import IDLE_CONNECTION_EXPIRY, Closing, FaultInjectionError, FaultSpec


def _spec_label(spec: FaultSpec | Mapping[str, Any]) -> str:
    if isinstance(spec, FaultSpec):
        return spec.label()
    name, kind, target = spec.get("name"), spec.get("kind"), spec.get("target")
    if name:
        return str(name)
    if kind and target:
        return f"{kind}@{target}"
    return str(kind) if kind else "(no kind)"


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text or f"HTTP {response.status_code}"


class VendorControl(Closing):
    """Script faults on a running fake vendor and read its counters.

    Every failure (server unreachable, spec refused, unknown id) raises
    :class:`~harness.errors.FaultInjectionError` naming the fault: a chaos run must never
    continue with a fault that silently did not apply. Close it (or use ``with``) when done.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        # control calls come seconds apart, one per phase boundary
        self._client = httpx.Client(
            base_url=f"{self.url}/_harness",
            timeout=timeout,
            trust_env=False,
            limits=httpx.Limits(keepalive_expiry=IDLE_CONNECTION_EXPIRY),
        )

    def _call(self, method: str, path: str, what: str, json: Any = None) -> Any:
        try:
            response = self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise FaultInjectionError(
                f"fake vendor at {self.url}: could not {what}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            raise FaultInjectionError(
                f"fake vendor at {self.url}: could not {what}: "
                f"HTTP {response.status_code}: {_server_message(response)}"
            )
        return response.json()

    def add_fault(self, spec: FaultSpec | Mapping[str, Any]) -> str:
        """Install a fault (a spec model or its mapping); return its id."""
        label = _spec_label(spec)
        data = (
            spec.model_dump(mode="json", exclude_none=True)
            if isinstance(spec, FaultSpec)
            else dict(spec)
        )
        result = self._call("POST", "/faults", f"add fault {label!r}", json=data)
        return str(result["id"])

    def faults(self) -> list[dict[str, Any]]:
        """Installed faults in matching order: ``id``, ``label``, ``spec``, ``seen``, ``fired``."""
        return list(self._call("GET", "/faults", "list faults")["faults"])

    def fault(self, fault_id: str) -> dict[str, Any]:
        """One installed fault with its counters."""
        return dict(self._call("GET", f"/faults/{fault_id}", f"read fault {fault_id!r}"))

    def remove_fault(self, fault_id: str) -> None:
        """Remove one fault (FaultInjectionError if there is no such id)."""
        self._call("DELETE", f"/faults/{fault_id}", f"remove fault {fault_id!r}")

    def clear_faults(self) -> int:
        """Remove every fault; return how many there were."""
        return int(self._call("DELETE", "/faults", "clear faults")["removed"])

    def counters(self) -> dict[str, Any]:
        """``requests_total``, ``requests_aborted``, ``requests_by_route``,
        ``responses_by_status``, ``faults_fired``."""
        return dict(self._call("GET", "/counters", "read counters"))

    def mark_phase(self, phase: str | None, run: str | None = None) -> None:
        """``phase`` starts now (None: the run ended): what arrives from now on is counted in
        its ledger row (a mark after the end, or for another ``run``, starts a new ledger)."""
        what = f"mark phase {phase!r}" if phase else "mark the end of the run"
        self._call("POST", "/phase", what, json={"phase": phase, "run": run})

    def ledger(self) -> dict[str, Any]:
        """``{"run", "phase", "phases": {name: VendorStats JSON}}``: what reached the vendor in
        each phase marked since the ledger started (:func:`harness.plugin.ledger_from_json`
        turns it into stats)."""
        return dict(self._call("GET", "/ledger", "read the ledger"))

    def reset(self, *, faults: bool = False) -> None:
        """Zero the counters and the rate-limit window (and remove the faults if asked)."""
        self._call("POST", "/reset", "reset counters", json={"faults": faults})

    def health(self) -> bool:
        """Whether the server answers its health route."""
        try:
            return self._client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()
