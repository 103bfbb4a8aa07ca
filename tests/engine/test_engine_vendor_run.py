"""The vendor-side ledger through a whole in-process run: the timeline marks every endpoint at
each phase and at the end, reads their ledgers, and the report, the summary and the vendor
thresholds come from them; an endpoint that cannot count (or whose mark failed) is named, and
its thresholds say "no data" instead of passing. The respx backend: in-process vendors, the
core's virtual clock for Retry-After."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from harness.core import BaseLLMWrapper, OpenAIProvider, VirtualClock, use_clock
from harness.engine import Report, RunOptions, get_plugin_manager, run_scenario
from harness.plugin import RunContext, UpstreamSpec, parse_fault
from harness.report.summary import run_summary
from harness_respx._plugin import RespxBackend

pytestmark = pytest.mark.anyio

SCENARIO = """\
name: vendor ledger in process
seed: 3
target:
  core: llm
  breaker: {break_duration: 100ms}
upstreams:
  - {name: primary, api: openai, backend: respx}
  - {name: backup, api: anthropic, backend: respx}
  - {name: real, api: openai, backend: url, url: "http://127.0.0.1:9/v1"}
load: {users: 2, think_time: 20ms}
phases:
  - {name: baseline, duration: 0.5s}
  - name: outage
    duration: 1s
    faults: [{kind: http_status, target: primary, status: 503}]
  - {name: recovery, duration: 1s}
sla:
%(sla)s
"""


def _run(tmp_path: Path, *thresholds: str) -> Report:
    path = tmp_path / "vendor.yaml"
    path.write_text(SCENARIO % {"sla": "\n".join(f"  - {t}" for t in thresholds)})
    pm = get_plugin_manager()
    return run_scenario(
        pm.load_scenario(path),
        pm,
        RunOptions(report_dir=tmp_path / "reports", reporters=["json"]),
        source=str(path),
    )


def test_a_core_run_on_respx_vendors_reports_its_vendor_side(tmp_path: Path) -> None:
    report = _run(
        tmp_path,
        "upstream_calls_per_request <= 2 upstream=primary phase=outage",
        "backup_share >= 90% phase=outage",
        "failover_time < 1s",
        "back_to_primary_time < 1s",
        "retry_after_violations == 0",
        "retry_after_violations == 0 upstream=real",
    )
    verdicts = {t.text: t for t in report.thresholds}
    assert [t.held for t in verdicts.values()] == [True, True, True, True, True, False]
    real = verdicts["retry_after_violations == 0 upstream=real"]
    assert real.observed is None
    assert "upstream 'real' keeps no ledger (backend 'url' does not count)" in real.detail
    assert report.vendor_uncounted == {"real": "backend 'url' does not count"}
    rows = {(r.endpoint, r.phase): r for r in report.vendor}
    assert rows[("primary", "baseline")].calls == rows[("primary", "baseline")].ok > 0
    outage = rows[("primary", "outage")]
    assert outage.ok == 0 and outage.statuses["503"] == outage.calls > 0
    assert rows[("backup", "outage")].first_ok_after is not None
    assert rows[("primary", "*")].calls == sum(
        rows[("primary", p)].calls for p in ("baseline", "outage", "recovery")
    )
    figures = {f.phase: f for f in report.vendor_phases}
    assert figures["outage"].failover_time is not None
    assert figures["outage"].back_to_primary_time is not None
    lines = run_summary(report)
    (outage_line,) = [line for line in lines if line.startswith("  vendor outage: ")]
    assert "primary " in outage_line and "backup served 100%" in outage_line


def test_an_endpoint_whose_mark_failed_is_uncounted_and_its_thresholds_have_no_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: RespxBackend, endpoint: object, phase: str | None, run: object) -> None:
        raise RuntimeError("the vendor went away")

    monkeypatch.setattr(RespxBackend, "mark_phase", refuse)
    report = _run(tmp_path, "availability >= 90%", "upstream_calls_per_request <= 2")
    availability, calls = report.thresholds
    assert availability.held and not calls.held and calls.observed is None
    assert "could not mark phase 'baseline': the vendor went away" in calls.detail
    assert report.vendor == []


async def test_the_respx_vendor_times_retry_after_on_the_core_clock(tmp_path: Path) -> None:
    backend = RespxBackend()
    run = RunContext(run_id="r", seed=0, report_dir=tmp_path)
    endpoint = backend.start_upstream(UpstreamSpec(name="solo", api="openai"), run)
    try:
        with use_clock(VirtualClock()) as clock:
            backend.mark_phase(endpoint, "storm", run)
            fault = {"kind": "http_status", "status": 429, "retry_after": "2s", "first": 2}
            applied = backend.apply(parse_fault(fault), endpoint, run)
            llm = BaseLLMWrapper(
                OpenAIProvider(base_url=endpoint.url, api_key="k", model="m"), rng=random.Random(0)
            )
            try:  # the core, the only provider: it waits what the vendor asks, twice
                assert (await llm.complete("core question")).text == "echo: core question"
            finally:
                await llm.aclose()
            assert clock.now() >= 4.0
            backend.revert(applied, run)
            applied = backend.apply(parse_fault({**fault, "first": 1}), endpoint, run)
            body = {"model": "m", "messages": [{"role": "user", "content": "raw question"}]}
            async with httpx.AsyncClient(headers={"authorization": "Bearer k"}) as raw:
                statuses = [
                    (await raw.post(f"{endpoint.url}/chat/completions", json=body)).status_code
                    for _ in range(2)  # retried at once: on the clock, no time passed
                ]
            assert statuses == [429, 200]
            backend.revert(applied, run)
            backend.mark_phase(endpoint, None, run)
        ledger = backend.ledger(endpoint, run)
        assert ledger is not None
        storm = ledger["storm"]
        assert (storm.calls, storm.ok, storm.retry_after_sent) == (5, 2, 3)
        assert storm.retry_after_violations == 1  # the raw retry, not the core's
    finally:
        endpoint.close()
