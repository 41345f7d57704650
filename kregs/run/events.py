"""`Listener`: what a run tells its caller while it runs (the library never prints)."""


class Listener:
    """Receives a run's events; every method does nothing unless overridden.

    `kregs tune` and `kregs study` print these; a Python caller can log them,
    collect them, or ignore them.

    Example:
    >>> class Rows(Listener):
    ...     def __init__(self):
    ...         self.rows = []
    ...     def trial_ended(self, row):
    ...         self.rows.append(row)
    >>> listener = Rows()
    >>> tune(config, listener)
    """

    def unit_started(self, unit, epochs):
        """A trial or a study run starts training (`unit`: "trial 3"), `epochs` at most."""

    def epoch_ended(self, progress):
        """An epoch ended; `progress` is a `kregs.run.progress.EpochProgress`."""

    def trial_ended(self, row):
        """A tuning trial ended (completed or failed); `row` is its trials.csv row."""

    def note(self, text):
        """The run adapted something, or noticed it (one line, e.g. a replaced classifier)."""

    def worker_lost(self, message):
        """The chief took a trial back from a silent worker; `message` says which."""

    def values_chosen(self, values):
        """A study chose its values: `l2`, `dropout`, `batch_norm` and their `sources`."""

    def run_ended(self, row, skipped):
        """A study run ended (`skipped`: it had finished earlier); `row` is its study.csv row."""
