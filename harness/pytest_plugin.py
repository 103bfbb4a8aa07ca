"""The harness's pytest plugin (entry point ``pytest11``). Cheap to import; never imports Locust."""

from __future__ import annotations
