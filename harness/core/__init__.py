"""The resilient core."""
