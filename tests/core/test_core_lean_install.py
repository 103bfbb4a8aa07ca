"""``pip install genai-chaos-harness`` is the core alone, and the core works there.

The project's wheel is built once (without build isolation when hatchling is at hand, as in the
``dev`` extra) and installed with the dependencies its own metadata declares into a fresh
``python -m venv`` (no pip inside: this interpreter's pip installs into it with ``--python``,
reusing pip's cache). respx and pytest are added as a service's test suite would have them.
There, the engine's dependencies are absent, ``harness.core`` serves a call with a retry and a
fallback, the console script and ``python -m harness`` answer with one line naming the extra
(exit 3), and pytest, which loads the harness's plugin through its entry point, still runs.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real processes for seconds: make test-fast skips it

ROOT = Path(__file__).parents[2]
ENGINE_ONLY = ("pydantic", "locust", "gevent", "fastapi", "uvicorn", "plotly", "hypothesis")
ENGINE_ONLY += ("typer", "rich", "yaml", "hdrh", "toxiproxy", "prometheus_client")


def _run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=False, **kwargs
    )


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"{result.args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a fresh venv holding the lean install (plus respx and pytest)."""
    work = tmp_path_factory.mktemp("lean")
    dist = work / "dist"
    isolation = [] if importlib.util.find_spec("hatchling") else ["--use-pep517"]
    no_isolation = ["--no-build-isolation"] if not isolation else []
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _ok(_run([*pip, "wheel", "--no-deps", *no_isolation, *isolation, "-w", dist, ROOT]))
    (wheel,) = dist.glob("genai_chaos_harness-*.whl")
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", work / "venv"]))
    bin_dir = work / "venv" / "bin"
    _ok(_run([*pip, "--python", bin_dir / "python", "install", "--quiet", wheel]))
    _ok(_run([*pip, "--python", bin_dir / "python", "install", "--quiet", "respx", "pytest"]))
    return bin_dir


def test_the_engine_dependencies_are_not_installed(lean: Path) -> None:
    script = f"""
        import importlib.util, json
        print(json.dumps([m for m in {ENGINE_ONLY!r} if importlib.util.find_spec(m)]))
    """
    result = _ok(_run([lean / "python", "-c", textwrap.dedent(script)]))
    assert result.stdout.strip() == "[]"
    # and the project's own metadata says so: only the core's seven requirements are unmarked
    script = """
        from importlib import metadata
        print(sorted(r.split(">")[0].split("<")[0] for r in metadata.requires("genai-chaos-harness")
                     if "extra ==" not in r))
    """
    result = _ok(_run([lean / "python", "-c", textwrap.dedent(script)]))
    assert result.stdout.strip() == str(
        sorted(["aiohttp", "aiosqlite", "anyio", "httpx", "httpx-aiohttp", "httpx-sse", "orjson"])
    )


CORE_CALL = """
    import asyncio, httpx, respx, sys
    import harness
    from harness.core import (AnthropicProvider, BaseLLMWrapper, OpenAIProvider, VirtualClock,
                              mount, use_clock)

    OPENAI_503 = httpx.Response(503, json={"error": {"message": "down", "type": "server_error"}})
    CLAUDE_OK = httpx.Response(200, json={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "text", "text": "hi from claude"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 4, "output_tokens": 3}})

    async def main():
        llm = BaseLLMWrapper([
            OpenAIProvider(name="primary", base_url="https://primary.test/v1", api_key="k"),
            AnthropicProvider(name="backup", base_url="https://backup.test/v1", api_key="k"),
        ])
        # The core sends to aiohttp directly: a service's tests mount their respx router on it.
        with use_clock(VirtualClock()) as clock, respx.mock(assert_all_called=True, using=None) as mock:
            primary = mock.post("https://primary.test/v1/chat/completions").mock(OPENAI_503)
            mock.post("https://backup.test/v1/messages").mock(CLAUDE_OK)
            unmounts = [mount(base, httpx.MockTransport(mock.async_handler))
                        for base in ("https://primary.test", "https://backup.test")]
            answer = await llm.complete("hello")
            for unmount in unmounts:
                unmount()
        await llm.aclose()
        print(answer.text, answer.provider, answer.fallback, primary.call_count, len(clock.sleeps))

    asyncio.run(main())
    print("engine loaded:", sorted(m for m in sys.modules if m in ("pydantic", "harness.scenario.model")))
"""


def test_the_core_retries_and_falls_back_without_the_engine(lean: Path) -> None:
    result = _ok(_run([lean / "python", "-c", textwrap.dedent(CORE_CALL)]))
    text, provider, fallback, primary_calls, sleeps = result.stdout.splitlines()[0].rsplit(" ", 4)
    assert (text, provider, fallback) == ("hi from claude", "backup", "True")
    assert int(primary_calls) >= 2 and int(sleeps) >= 1  # retried, with a backoff, then fell back
    assert result.stdout.splitlines()[1] == "engine loaded: []"


@pytest.mark.parametrize("command", [["harness", "run", "x.yaml"], ["python", "-m", "harness"]])
def test_the_cli_names_the_extra_in_one_line(lean: Path, command: list[str]) -> None:
    result = _run([lean / command[0], *command[1:]])
    assert result.returncode == 3, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "genai-chaos-harness[harness]" in lines[0], lines
    assert "pydantic" in lines[0]


def test_harness_load_names_the_load_extra(lean: Path) -> None:
    result = _run([lean / "harness", "load", "x.yaml"])
    assert result.returncode == 3
    assert "genai-chaos-harness[load]" in result.stderr and "locust" in result.stderr


def test_pytest_still_runs_with_the_harness_plugin_installed(lean: Path, tmp_path: Path) -> None:
    (tmp_path / "test_service.py").write_text("def test_ok():\n    assert True\n")
    result = _run(
        [lean / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    plugins = _ok(
        _run(
            [
                lean / "python",
                "-c",
                "import harness.pytest_plugin, sys; print('pydantic' in sys.modules)",
            ]
        )
    )
    assert plugins.stdout.strip() == "False"
