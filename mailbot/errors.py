"""The errors mailbot reports to its user as one line."""


class ConfigError(Exception):
    """A configuration file or a file it names is wrong; the message names the key or file."""
