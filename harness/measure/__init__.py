"""Measuring a run: the recorder (HDR histograms and counters), SLA threshold grammar, verdicts."""
