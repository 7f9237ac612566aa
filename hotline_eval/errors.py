"""Errors the project raises on purpose: each carries a message meant for a person, not a traceback.

Which failures are worth retrying is decided here (``is_retryable``, ``is_permanent``), so every
asset waits out its RetryPolicy for the same reasons: a fetch that may pass (a timeout, a 5xx after
the HTTP layer's own retries) is retried; a full disk, a corrupt archive or a refused URL is not.
"""

from __future__ import annotations

import errno
from http import HTTPStatus


class HotlineEvalError(Exception):
    """Base class: a clear, expected failure (bad config, bad input, a source that failed)."""


class PermanentError(HotlineEvalError):
    """A failure that retrying the step cannot fix (a corrupt archive file, a refused URL): the step
    fails at once rather than waiting out its RetryPolicy. Subclass it (alone or beside another
    class) to mark an error permanent."""


class ConfigError(HotlineEvalError):
    """A configuration file is missing or invalid; the message names the file and the field."""


class FetchError(HotlineEvalError):
    """A request could not be completed (HTTP error after retries, timeout, too large, refused)."""


class HttpStatusError(FetchError):
    """A server answered with an error status (after the HTTP layer's own retries, if any); the message
    names the status and the URL."""

    def __init__(self, message: str, *, status: int, url: str) -> None:
        super().__init__(message)
        self.status, self.url = status, url


class ClientStatusError(HttpStatusError, PermanentError):
    """A 4xx other than 408 and 429: the request itself is wrong (a dataset moved or gone, a bad id or
    query); asking again gets the same answer, so neither the HTTP layer nor a RetryPolicy retries it."""


# client errors that say "later", not "never": a request timeout, too many requests
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})


def is_client_error(status: int) -> bool:
    """A 4xx status that retrying cannot fix (every 4xx but 408 and 429)."""
    return 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES


def http_status_error(url: str, status: int, *, method: str = "GET", detail: str = "") -> HttpStatusError:
    """The error for an error ``status`` of ``url``: a ``ClientStatusError`` (permanent) for a 4xx that
    retrying cannot fix, else an ``HttpStatusError`` (retryable)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "unknown status"
    message = f"{method} {url}: HTTP {status}{detail}"
    if is_client_error(status):
        return ClientStatusError(f"{message} ({phrase}: a client error, not retried; check the source's URL "
                                 "and query)", status=status, url=url)
    return HttpStatusError(f"{message} ({phrase})", status=status, url=url)


class PolicyError(FetchError, PermanentError):
    """A request was refused by our own rules: host not allowed, robots.txt, private address."""


class ReplayMissError(FetchError, PermanentError):
    """Replay mode was asked for a request that is not in the archive."""


class ArchiveError(PermanentError):
    """A file of the response archive is unreadable or corrupt; the message names the file."""


class SourceFormatError(HotlineEvalError):
    """A response did not have the shape its source's format promises."""


# a full or read-only disk stays full until someone frees space: retrying in 30 s only fails again
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
# DuckDB reports them as its own IOException, with the OS's message in the text
_STORAGE_MESSAGES = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def is_storage_full(exc: BaseException) -> bool:
    """A disk that is full (or read-only): an OSError with that errno, or a DuckDB error saying so."""
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        return True
    return any(message in str(exc) for message in _STORAGE_MESSAGES)


def _chain(exc: BaseException | None):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)


def is_permanent(exc: BaseException) -> bool:
    """Retrying cannot help: a PermanentError, or a full disk, anywhere in the chain of causes."""
    return any(isinstance(e, PermanentError) or is_storage_full(e) for e in _chain(exc))


def is_retryable(exc: BaseException) -> bool:
    """Worth retrying the step after a delay: a fetch that failed for a reason that may pass
    (timeouts, connection errors, HTTP 408/429/5xx after the HTTP layer's own retries); not a 4xx
    that asking again cannot change (``ClientStatusError``)."""
    return isinstance(exc, FetchError) and not is_permanent(exc)
