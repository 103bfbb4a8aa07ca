"""The chaos suite's locustfile: ``locust -f scenarios/locustfile.py --chaos-scenario <yaml>``.

Everything lives in :mod:`harness.load.locustfile` (the same file ``harness load`` uses).
"""

from harness.load.locustfile import ChatUser, ScenarioShape

__all__ = ["ChatUser", "ScenarioShape"]
