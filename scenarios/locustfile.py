"""The chaos suite's locustfile: ``locust -f scenarios/locustfile.py --chaos-scenario <yaml>``.

Everything lives in :mod:`harness.load.locustfile` (the same file ``harness load`` uses).

Its options (``locust --help`` cannot list them: Locust prints its help before it imports a
locustfile; ``harness load --help`` shows the same ones):

  --chaos-scenario YAML     the scenario to run (or $HARNESS_SCENARIO)
  --chaos-stack-file JSON   attach to a stack from ``harness stack up`` (or $HARNESS_STACK_FILE)
  --chaos-report-dir DIR    where reports go (default: reports)
  --chaos-seed N            seed of the fault schedules
  --chaos-no-resilience     start the target with the resilient core off (the naive client)
  --chaos-users N           override the scenario's users (closed loop)
  --chaos-duration 30s      override the total duration (phases are scaled)
  --chaos-progress          one progress line per second
"""

from harness.load.locustfile import ChatUser, ScenarioShape

__all__ = ["ChatUser", "ScenarioShape"]
