"""Chaos and resilience harness for GenAI services."""
