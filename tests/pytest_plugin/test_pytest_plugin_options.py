"""The plugin's options, markers and fixtures are registered and documented; it stays cheap."""

from __future__ import annotations

import pytest
from import_support import modules_after


def test_help_documents_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*chaos engineering and SLA gates (harness)*",
            "*--chaos-report-dir*",
            "*--toxiproxy-url*",
            "*--chaos-seed*",
            "*--sla-record-only*",
            "*--chaos-no-resilience*",
            "*--chaos-disable-plugin*",
            "*chaos_report_dir*",
            "*chaos_scenario_patterns*",
        ]
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.sla(*thresholds)*", "@pytest.mark.chaos(*faults*"])


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fixtures")
    # the harness's own fixtures, then each built-in plugin's (from its own pytest11 entry)
    result.stdout.fnmatch_lines(["virtual_clock -- *", "chaos -- *", "    Inject faults*"])
    result.stdout.fnmatch_lines(["*from harness_fake_vendor._pytest*", "fake_llm -- *"])
    result.stdout.fnmatch_lines(["*from harness_toxiproxy._pytest*", "toxiproxy -- *"])


def test_importing_the_plugin_imports_neither_locust_nor_the_engine() -> None:
    heavy = ("locust", "gevent", "plotly", "uvicorn", "harness.run.session")
    loaded = modules_after("import harness.pytest_plugin")
    assert [m for m in (*heavy, "harness_fake_vendor._server") if m in loaded] == []


def test_no_clash_with_locusts_own_pytest_plugin(pytester: pytest.Pytester) -> None:
    # Locust's plugin owns --host and the `session`/`fastsession` fixtures; ours does not touch
    # them, so one test can use Locust's sessions and our chaos fixture side by side. (In a
    # subprocess: Locust's sessions import locust, which monkey-patches the process with gevent.)
    pytester.makepyfile(
        """
        from harness.run.chaos import ChaosSession

        def test_both(request, session, fastsession, chaos):
            assert request.config.getoption("--host") == "http://127.0.0.1:1"
            assert type(session).__module__ == "locust.clients"
            assert session.base_url == "http://127.0.0.1:1"
            assert type(fastsession).__name__ == "FastHttpSession"
            assert isinstance(chaos, ChaosSession)
        """
    )
    result = pytester.runpytest_subprocess("--host", "http://127.0.0.1:1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
