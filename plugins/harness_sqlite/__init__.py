"""harness_sqlite: store faults on SQLite files (built-in plugin, and a third-party-style one).

It declares its own fault kinds through ``harness_fault_kinds`` exactly as an outside plugin
would, and injects them from outside the system under test, on the real database file:

- ``store_lock``: hold an exclusive lock for the whole phase (the store is down: every write and,
  outside WAL readers, every read waits for ``busy_timeout`` then fails with "database is locked");
- ``store_contention``: hold the lock for ``hold`` out of every ``period`` (the store is slow:
  operations wait in SQLite's busy handler, blocking whatever thread runs them).

A scenario declares the store as an upstream (``backend: sqlite``); the plugin creates its file
in the run's work directory and the target learns it as ``HARNESS_<NAME>_URL=sqlite:///path``.
"""

from __future__ import annotations

from harness_sqlite._faults import StoreContentionFault, StoreLockFault
from harness_sqlite._locker import LockHolder

__all__ = ["LockHolder", "StoreContentionFault", "StoreLockFault"]
