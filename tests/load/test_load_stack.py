"""`harness stack up/down` and `harness app serve`: background processes, exit code 3."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from cli_support import harness
from load_support import alive

pytestmark = pytest.mark.slow  # real processes for seconds: make test-fast skips it


def test_stack_up_serves_and_stack_down_stops_everything(
    scenario_file: Path, tmp_path: Path
) -> None:
    state = tmp_path / ".harness" / "stack.json"
    up = harness("stack", "up", str(scenario_file), "--state", str(state))
    assert up.returncode == 0, up.stdout + up.stderr
    info = json.loads(state.read_text())
    try:
        assert httpx.get(f"{info['target_url']}/healthz", timeout=5).json()["status"] == "ok"
        chat = httpx.post(
            f"{info['target_url']}/chat", json={"session_id": "s", "message": "refund?"}, timeout=10
        )
        assert chat.status_code == 200
        assert chat.headers["x-provider"] == "primary"
        names = {e["name"] for e in info["endpoints"]}
        assert names == {"primary", "backup", "primary_net"}
        assert all(alive(pid) for pid in info["pids"])
        again = harness("stack", "up", str(scenario_file), "--state", str(state))
        assert again.returncode == 2  # one stack per state file
    finally:
        down = harness("stack", "down", "--state", str(state))
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [pid for pid in info["pids"] if alive(pid)]
    assert not state.exists()


def test_a_port_in_use_is_exit_code_3_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = harness(
            "app", "serve", "examples.genai_service.app:create_app", "--port", str(port)
        )
    assert result.returncode == 3
    assert "address already in use" in result.stderr.lower()
    assert "fix:" in result.stderr
