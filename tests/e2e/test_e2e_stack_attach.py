"""A service started by hand against ``harness stack up``: ``stack env`` gives it the addresses
(each SDK's form), ``harness run --stack`` and ``pytest --chaos-stack-file`` attach to that stack
instead of starting another, and ``stack down`` stops what the stack started."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.run.appserver import bind

pytestmark = pytest.mark.slow  # real processes for seconds: make test-fast skips it

SERVICE = Path(__file__).with_name("services") / "tiny_service.py"
SCENARIO = """\
name: by hand
seed: 9
target:
  url: http://127.0.0.1:{port}
  ready: /healthz
  env:
    OPENAI_BASE_URL: "{{proxies.primary_net.openai_base_url}}"
    BACKUP_URL: "{{upstreams.backup.anthropic_base_url}}"
upstreams:
  - {{name: primary, api: openai}}
  - {{name: backup, api: anthropic}}
proxies:
  - {{name: primary_net, upstream: primary}}
load: {{users: 2, think_time: 20ms}}
phases:
  - {{name: calm, duration: 500ms}}
  - name: slow
    duration: 500ms
    faults: [{{kind: latency, target: primary, latency: 10ms}}]
sla:
  - availability >= 99%
"""


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, Path, int, str]]:
    with bind() as probe:
        port = probe.getsockname()[1]
    scenario = tmp_path / "by_hand.yaml"
    scenario.write_text(SCENARIO.format(port=port))
    state = tmp_path / ".harness" / "stack.json"
    up = _harness("stack", "up", str(scenario), "--state", str(state), cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield scenario, state, port, up.stdout
    finally:
        _harness("stack", "down", "--state", str(state), cwd=tmp_path)


def test_a_service_started_by_hand_is_tested_against_the_stack(
    stack: tuple[Path, Path, int, str], tmp_path: Path
) -> None:
    scenario, state, port, _ = stack
    info = json.loads(state.read_text())
    env_lines = _harness("stack", "env", "--state", str(state), cwd=tmp_path).stdout.splitlines()
    env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in env_lines)
    proxy = next(e for e in info["endpoints"] if e["name"] == "primary_net")
    assert env["OPENAI_BASE_URL"] == f"http://{proxy['address']}/v1"
    assert not env["BACKUP_URL"].endswith("/v1")  # the Anthropic SDK adds /v1 itself
    assert "HARNESS_ENDPOINTS" in env
    service = subprocess.Popen(
        [sys.executable, str(SERVICE), "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        run = _harness(
            "run", str(scenario), "--stack", str(state), "--report-dir", "out", cwd=tmp_path
        )
        assert run.returncode == 0, run.stdout + run.stderr
        (report,) = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
        (fault,) = [f for p in report["phases"] for f in p["faults"]]
        assert fault["fired"] > 0  # the fault went to the stack's vendor, through its proxy
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(scenario),
                "--chaos-stack-file",
                str(state),
                "--chaos-report-dir",
                str(tmp_path / "py"),
                "-p",
                "no:cacheprovider",
                "-q",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        service.terminate()
        service.wait(10)
    down = _harness("stack", "down", "--state", str(state), cwd=tmp_path)
    assert down.returncode == 0 and "stopped 3 process(es)" in down.stdout, (
        down.stdout + down.stderr
    )


def test_stack_up_prints_each_sdk_form(stack: tuple[Path, Path, int, str], tmp_path: Path) -> None:
    _, state, _, printed = stack
    info = json.loads(state.read_text())
    backup = next(e for e in info["endpoints"] if e["name"] == "backup")
    root = backup["url"].removesuffix("/v1")
    assert (
        f"upstream backup (fake_vendor): url={root}/v1 openai_base_url={root}/v1 "
        f"anthropic_base_url={root} address={backup['address']}"
    ) in printed
    assert 'eval "$(harness stack env --state' in printed


def test_a_run_attached_to_a_stack_needs_the_service_up(
    stack: tuple[Path, Path, int, str], tmp_path: Path
) -> None:
    scenario, state, port, _ = stack
    run = _harness("run", str(scenario), "--stack", str(state), cwd=tmp_path)
    assert run.returncode == 3
    assert f"the target at http://127.0.0.1:{port} did not answer within 5s" in run.stderr
