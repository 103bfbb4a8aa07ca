"""The test suite's own conftest. Being a ``conftest.py`` in a folder without ``__init__.py``,
it puts ``tests/`` on ``sys.path`` (pytest's default ``prepend`` import mode), the way each test
folder's tests reach their ``*_support`` module: so ``suite_support``, the helpers that tests of
several folders share, is imported by name."""
