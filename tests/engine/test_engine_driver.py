"""The in-process load driver: phases switch on time even when the target never waits on I/O."""

from __future__ import annotations

import asyncio
import time

from harness.measure.recorder import Recorder
from harness.run.driver import drive
from harness.run.targets import Outcome
from harness.scenario.loader import parse_scenario
from harness.scenario.model import PhaseSpec, Scenario

SCENARIO = """
name: busy
target: {core: llm}
upstreams: [{name: primary, backend: respx}]
load: {users: 4}
phases:
  - {name: before, duration: 0.2s}
  - {name: after, duration: 0.8s}
"""


class BusyTarget:
    """Answers at once after a little CPU work: the event loop never idles between requests."""

    name = "busy"

    async def request(self, user: int, n: int) -> Outcome:
        deadline = time.perf_counter() + 0.0002
        while time.perf_counter() < deadline:
            pass
        return Outcome(True)

    async def aclose(self) -> None:
        pass


class GilHungryTimeline:
    """Swaps phases the way real plugins do: many short blocking calls, each of which gives up
    the GIL and must win it back (an HTTP call to a vendor or a proxy is a few of those)."""

    def __init__(self) -> None:
        self.entered: list[tuple[str, float]] = []

    def enter(self, phase: PhaseSpec) -> None:
        for _ in range(300):
            time.sleep(0)
        self.entered.append((phase.name, time.monotonic()))


def test_a_busy_target_does_not_starve_the_phase_switch() -> None:
    scenario: Scenario = parse_scenario(SCENARIO)
    recorder = Recorder()
    timeline = GilHungryTimeline()
    started = time.monotonic()
    asyncio.run(drive(scenario, BusyTarget(), recorder, timeline))  # type: ignore[arg-type]
    assert [name for name, _ in timeline.entered] == ["before", "after"]
    # Without the pause, 300 GIL hand-offs against four busy users take 300 x 5 ms: the
    # second phase would begin after the run had ended, and record nothing.
    switched_at = timeline.entered[1][1] - started
    assert switched_at < 0.6, switched_at
    assert recorder.stats(phase="after").count > 0
    assert recorder.stats(phase="before").count > 0
