"""harness_reporters: the built-in reporters (JSON, JUnit XML, Markdown, self-contained HTML).

Registered through the ``harness`` entry-point group like any third-party plugin. Each reporter
renders one :class:`~harness.plugin.Report` into one file named ``<run-id><suffix>`` and writes
it atomically, so a crash never leaves a half-written report behind:

============  ==============  ==========================================================
reporter      suffix          for
============  ==============  ==========================================================
``json``      ``.json``       ``harness gate``, re-rendering, merging (lossless)
``junit``     ``.junit.xml``  CI test UIs: one testcase per SLA threshold
``markdown``  ``.md``         ``$GITHUB_STEP_SUMMARY`` (also appended there when set)
``html``      ``.html``       people: latency over time with fault phases shaded
============  ==============  ==========================================================

Importing this package is cheap: the format modules load when the hook is called and plotly
only when an HTML page is written.
"""

from __future__ import annotations

from harness.plugin import Reporter, hookimpl


@hookimpl
def harness_reporters() -> list[Reporter]:
    """The four built-in reporters."""
    from harness_reporters import _html, _json, _junit, _markdown

    return [
        Reporter(name=m.NAME, suffix=m.SUFFIX, write=m.write, description=m.DESCRIPTION)
        for m in (_json, _junit, _markdown, _html)
    ]
