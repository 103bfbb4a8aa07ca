"""The versioned report of a run: its model, how it is built and written, summaries, the gate."""
