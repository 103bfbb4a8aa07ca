"""A GenAI service written the way most teams write one: the official SDKs, not harness.core."""
