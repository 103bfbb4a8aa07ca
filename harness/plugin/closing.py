"""A base class for things used as ``with`` blocks whose exit is one ``close()``."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from harness.errors import HarnessError


class Closing:
    """A context manager whose exit runs :meth:`close`. When the block raised, a failure to
    close does not replace that error: it goes on, carrying the failure as a note.

    Entering returns the object as it is; a subclass that starts on entry overrides
    :meth:`__enter__` (``return self.start()``).
    """

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except HarnessError as failure:
            logging.getLogger("harness").exception("cleaning up after %r failed", exc)
            exc.add_note(str(failure))
