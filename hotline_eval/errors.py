"""Errors the project raises on purpose: each carries a message meant for a person, not a traceback."""


class HotlineEvalError(Exception):
    """Base class: a clear, expected failure (bad config, bad input, a source that failed)."""


class ConfigError(HotlineEvalError):
    """A configuration file is missing or invalid; the message names the file and the field."""


class FetchError(HotlineEvalError):
    """A request could not be completed (HTTP error after retries, timeout, too large, refused)."""


class PolicyError(FetchError):
    """A request was refused by our own rules: host not allowed, robots.txt, private address."""


class ReplayMissError(FetchError):
    """Replay mode was asked for a request that is not in the archive."""


class SourceFormatError(HotlineEvalError):
    """A response did not have the shape its source's format promises."""
