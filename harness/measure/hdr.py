"""Reading HDR histograms in time proportional to what they hold.

hdrh's own readers (``get_value_at_percentile``, ``get_mean_value``) walk all ~23,000 counters
of a histogram in Python, one call per counter: ~30 ms for a mean, whatever was recorded. A
report reads seven numbers from each of thousands of histograms (one per request name and
phase), so :class:`Distribution` keeps only the non-empty buckets, found by comparing blocks of
counters with zeros in C, and answers exactly what hdrh would, with hdrh's own bucket
arithmetic. Distributions of histograms with the same layout merge exactly (bucket counts add).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from hdrh.histogram import HdrHistogram

_BLOCK = 256  # counters compared with zeros at once, before any is looked at one by one
_WORD_FORMATS: dict[int, Literal["H", "I", "Q"]] = {2: "H", 4: "I", 8: "Q"}


def _buckets(histogram: HdrHistogram) -> list[tuple[int, int]]:
    """``(counts index, count)`` of every non-empty bucket, in value order."""
    counts = histogram.counts
    fmt = _WORD_FORMATS.get(histogram.word_size)
    try:
        raw = memoryview(counts).cast("B")
        words = raw.cast(fmt) if fmt else None
    except (TypeError, ValueError):
        words = None
    if words is None:  # an unexpected layout: the plain walk is slow but right
        return [(i, c) for i, c in enumerate(counts) if c]
    size = words.itemsize
    data = raw.tobytes()  # bytes compare with memcmp; memoryviews compare item by item
    zeros = bytes(_BLOCK * size)
    found: list[tuple[int, int]] = []
    for start in range(0, len(words), _BLOCK):
        stop = min(start + _BLOCK, len(words))
        if data[start * size : stop * size] == zeros[: (stop - start) * size]:
            continue  # a memcmp in C: most blocks of a latency histogram are empty
        block = words[start:stop]
        found.extend((i, block[i - start]) for i in itertools.compress(range(start, stop), block))
    return found


@dataclass(frozen=True, slots=True)
class Distribution:
    """The non-empty buckets of an HDR histogram (or of several merged), in value order.

    Values are the histogram's integer units (microseconds in the recorder); each reader returns
    exactly what the same hdrh method returns for the histogram (or for the sum of histograms).
    """

    layout: HdrHistogram  # whose bucket arithmetic the indexes follow
    buckets: tuple[tuple[int, int], ...]
    total: int

    @classmethod
    def of(cls, histogram: HdrHistogram) -> Distribution:
        buckets = tuple(_buckets(histogram))
        return cls(histogram, buckets, sum(c for _, c in buckets))

    @classmethod
    def merge(cls, parts: Iterable[Distribution]) -> Distribution | None:
        """The distribution of the sum of the parts' histograms (None: no parts). The parts
        must share a layout (every recorder histogram does)."""
        parts = list(parts)
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        summed: Counter[int] = Counter()
        for part in parts:
            for index, count in part.buckets:
                summed[index] += count
        buckets = tuple(sorted(summed.items()))
        return cls(parts[0].layout, buckets, sum(c for _, c in buckets))

    def percentile(self, percentile: float) -> int:
        """``HdrHistogram.get_value_at_percentile``: the highest value equivalent to the bucket
        where the running count reaches ``percentile`` % (the lowest for 0); 0 when empty."""
        target = max(int(min(percentile, 100.0) * self.total / 100 + 0.5), 1)
        running = 0
        for index, count in self.buckets:
            running += count
            if running >= target:
                value = self.layout.get_value_from_index(index)
                if percentile:
                    return int(self.layout.get_highest_equivalent_value(value))
                return int(self.layout.get_lowest_equivalent_value(value))
        return 0

    def mean(self) -> float:
        """``HdrHistogram.get_mean_value``: each bucket counts at the middle of its range."""
        if not self.total:
            return 0.0
        layout = self.layout
        total = 0
        for index, count in self.buckets:
            value = layout.get_value_from_index(index)
            low = layout.get_lowest_equivalent_value(value)
            size = layout.get_highest_equivalent_value(value) - low + 1
            total += count * (low + (size >> 1))
        return float(total) / self.total

    def max(self) -> int:
        """``HdrHistogram.get_max_value``: the top of the highest non-empty bucket."""
        if not self.buckets:
            return 0
        value = self.layout.get_value_from_index(self.buckets[-1][0])
        return int(self.layout.get_highest_equivalent_value(value)) if value else 0

    def min(self) -> int:
        """``HdrHistogram.get_min_value``: the bottom of the lowest non-empty bucket."""
        if not self.buckets or self.buckets[0][0] == 0:
            return 0
        value = self.layout.get_value_from_index(self.buckets[0][0])
        return int(self.layout.get_lowest_equivalent_value(value))
