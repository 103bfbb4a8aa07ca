"""Chaos and resilience harness for GenAI services.

This package's own namespace is deliberately empty, so that ``import harness.core`` (the
resilient core a service ships, installable without the harness's dependencies) and the pytest
plugin stay cheap: Python imports a package before any of its submodules, and an eager
re-export here would load pydantic, pluggy and HdrHistogram into every service that only wants
the core (about 150 ms, and an ImportError in a lean install). The public surfaces are modules:

- :mod:`harness.core`: the resilient core (LLM, tool and memory clients);
- :mod:`harness.engine`: running scenarios, evaluating SLA thresholds, reading reports;
- :mod:`harness.plugin`: everything a plugin (a fault backend, a reporter) codes against;
- :mod:`harness.strategies`: Hypothesis strategies for property-based chaos;
- ``harness.pytest_plugin`` (loaded by pytest) and ``harness.load`` (inside Locust only).
"""

__all__: list[str] = []
