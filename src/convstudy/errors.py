"""The workflow's own error: a configuration problem, reported before any job runs."""


class ConfigError(ValueError):
    """A configuration problem, reported before any job runs, in one line naming the
    setting, the problem and the fix."""
