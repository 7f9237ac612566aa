"""Reading an Open311 date window from a server that answers at most ``cap`` requests per call and does
not page (FixMyStreet: ``OPEN311_LIMIT``, 1,000 by default, the newest by confirmation time; ``page`` is
ignored). A call that returns ``cap`` requests (or more) may have been cut short, so its window is split in
two halves, ``[start, mid)`` and ``[mid, end)``, and each half is asked again, until every call returns
fewer than ``cap``: the calls that were not cut short are the pages, and together they tile the window
with no gap. A request on a boundary that a server counts in both halves (a ``end_date`` read as
inclusive) comes back twice; ``records_to_raw`` keeps it once. A window of less than two seconds cannot
be split (the servers compare whole seconds): with ``cap`` requests in it, the fetch fails naming it.

Bounds are ISO 8601 instants written in the city's local time with their offset (``month_window``), so a
server that reads the offset and one that reads only the local wall time (FixMyStreet passes the string to
PostgreSQL, which drops the offset of a ``timestamp`` column) read the same window; the repeated hour when
clocks go back is the one case where a wall-time server may read a split point twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.sources.pages import Page

MAX_CALLS = 10_000
# one call: (start_date, end_date) -> the response and the requests it holds
WindowCall = Callable[[str, str], tuple[ArchivedResponse, list]]


def midpoint(start: str, end: str, timezone: str) -> str | None:
    """The whole second halfway between two ISO 8601 instants, in the city's local time with its offset;
    None when the window is shorter than two seconds (it cannot be split)."""
    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    span = int((last - first).total_seconds())
    if span < 2:
        return None
    return (first + timedelta(seconds=span // 2)).astimezone(ZoneInfo(timezone)).isoformat()


def split_window_pages(call: WindowCall, start: str, end: str, *, cap: int, timezone: str, what: str
                       ) -> tuple[list[Page], list[ArchivedResponse]]:
    """The pages that tile ``[start, end)`` (oldest window first), each a call that returned fewer than
    ``cap`` requests, and the responses that were cut short (kept as evidence of what was asked). ``what``
    names the source and month in errors."""
    pending = [(start, end)]
    pages: list[Page] = []
    capped: list[ArchivedResponse] = []
    calls = 0
    while pending:
        if calls == MAX_CALLS:
            raise SourceFormatError(f"{what}: more than {MAX_CALLS} calls to read the window {start} to {end}")
        window_start, window_end = pending.pop()
        response, records = call(window_start, window_end)
        calls += 1
        if len(records) < cap:
            pages.append(Page(number=len(pages), response=response, records=records))
            continue
        capped.append(response)
        mid = midpoint(window_start, window_end, timezone)
        if mid is None:
            raise SourceFormatError(
                f"{response.url}: {len(records)} requests in the window {window_start} to {window_end}, the "
                f"server's cap of {cap} per call, and a window this short cannot be split further; {what} "
                f"cannot be read completely")
        pending += [(mid, window_end), (window_start, mid)]  # the earlier half is asked first
    return pages, capped
