"""Paginators: how to get from one listing page to the next, and when to stop.

Each reads a page's envelope (``done`` and ``nextRecordsUrl``; ``meta``
with ``has_more`` and ``after_cursor``) and answers the next request, or
``None`` when the listing is done. A link or cursor that comes back a
second time fails the source: the listing would never end.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import attrs
import httpx

from supporthub.kit.http import HttpClient
from supporthub.kit.records import DecodedPage, RecordFormat
from supporthub.kit.refusals import Words, reword
from supporthub.vocabulary.errors import MalformedPage, SourceRejected

__all__ = ["CursorPaging", "Listing", "NextLinkPaging", "Paging", "fetch_pages"]

#: The next request: a path (appended to the base URL) and its query.
Next = tuple[str, dict[str, Any]]


class Paging:
    """How a listing goes on; see the module docstring."""

    def next(
        self, page: DecodedPage, title: str, path: str, params: Mapping[str, Any]
    ) -> Next | None:
        """The request for the page after ``page`` (fetched with ``path`` and ``params``)."""
        raise NotImplementedError


class NextLinkPaging(Paging):
    """A ``done`` flag and the path of the next page (Banana's query locator).

    The path is appended to the base URL as a string and takes no other
    parameters; one that could lead away from the CRM (where the
    credentials would go too) is refused.
    """

    def __init__(self, done: str = "done", link: str = "nextRecordsUrl") -> None:
        self.done, self.link = done, link

    def next(
        self, page: DecodedPage, title: str, path: str, params: Mapping[str, Any]
    ) -> Next | None:
        """The next page's path, ``None`` when done."""
        done, link = page.envelope.get(self.done), page.envelope.get(self.link)
        if done is True:
            return None
        if done is not False:
            raise MalformedPage(f"{title} answered a listing whose {self.done} is not a boolean")
        if type(link) is not str or not link.startswith("/") or link.startswith("//"):
            raise MalformedPage(
                f"{title} answered a listing that is not done without a {self.link} path"
            )
        return link, {}


class CursorPaging(Paging):
    """An export cursor in a ``meta`` object: ``has_more`` and ``after_cursor``.

    :param meta: the envelope's object holding both; ``None``: the envelope itself.
    :param more: the flag that says another page follows; ``None``: a cursor
        that is not null says so (``next_page_token``).
    :param keep: query parameters every page repeats (``limit``): the values,
        or the names of the first request's parameters to carry over.
    """

    def __init__(
        self,
        meta: str | None = "meta",
        more: str | None = "has_more",
        cursor: str = "after_cursor",
        param: str = "cursor",
        keep: Mapping[str, Any] | Sequence[str] | None = None,
    ) -> None:
        self.meta, self.more, self.cursor, self.param = meta, more, cursor, param
        self.keep = dict(keep) if isinstance(keep, Mapping) else {}
        self.carry = () if isinstance(keep, Mapping) else tuple(keep or ())

    def next(
        self, page: DecodedPage, title: str, path: str, params: Mapping[str, Any]
    ) -> Next | None:
        """The next page's query, ``None`` when there is no more."""
        meta = page.envelope if self.meta is None else page.envelope.get(self.meta)
        if not isinstance(meta, Mapping):
            raise MalformedPage(f"{title} answered {path} without a {self.meta} object")
        cursor = meta.get(self.cursor)
        more = cursor is not None if self.more is None else meta.get(self.more)
        if type(more) is not bool:
            raise MalformedPage(f"{title} answered {path} without a {self.more} flag")
        if not more:
            return None
        if type(cursor) is not str or not cursor:
            raise MalformedPage(f"{title} answered {path} with {self.more} but no {self.cursor}")
        carried = {name: params[name] for name in self.carry if name in params}
        return path, {**self.keep, **carried, self.param: cursor}


def fetch_pages(
    http: HttpClient,
    path: str,
    params: Mapping[str, Any],
    records: RecordFormat,
    paging: Paging,
    *,
    auth: httpx.Auth | None = None,
    refused: Words | None = None,
    refused_later: Words | None = None,
) -> Iterator[DecodedPage]:
    """Every page of a listing, decoded, from ``path`` with ``params`` on.

    The next page is asked for as soon as its link is known, on a thread of
    its own, while the caller still maps and stores the page before it: the
    CRM works on one page while the hub works on the other, one page ahead
    at most. Errors keep their order: the page before a failed request is
    handed over first.

    :param refused: the words for a refused request (:func:`~supporthub.reword`:
        what to fix); a template may use ``{path}`` and ``{read}``, the
        records read before.
    :param refused_later: words for the pages after the first, over
        ``refused`` (a next link or cursor that expired).
    :raises MalformedPage: a page is not a listing, or a link or cursor repeats.
    """
    seen: set[str] = set()
    params, read, words = dict(params), 0, refused or {}
    with _PageAhead(http, auth) as ahead:
        pending = ahead.ask(path, params)
        while True:
            try:
                response = pending.result()
            except SourceRejected as error:
                raise reword(error, words, path=path, read=read) from None
            page = records.decode(response.content, http.title, path)
            read += len(page.records)
            following = paging.next(page, http.title, path, params)
            repeated = False
            if following is not None:
                path, params = following
                words = {**(refused or {}), **(refused_later or {})}
                key = f"{path}?{sorted(params.items())}"
                repeated = key in seen
                seen.add(key)
                if not repeated:
                    pending = ahead.ask(path, params)
            yield page
            if following is None:
                return
            if repeated:
                raise MalformedPage(
                    f"{http.title} answered the same next page twice; the listing would never end"
                )


class _PageAhead:
    """One request in flight on a worker thread, run in the caller's context (logging)."""

    def __init__(self, http: HttpClient, auth: httpx.Auth | None) -> None:
        self.http, self.auth = http, auth
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{http.title}-pages")

    def __enter__(self) -> _PageAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A caller that stops early waits for the request in flight: nothing outlives the sync.
        self.pool.shutdown(wait=True, cancel_futures=True)

    def ask(self, path: str, params: dict[str, Any]) -> Future[httpx.Response]:
        """Start the GET of ``path`` with ``params``; its answer, or error, comes later."""
        context = contextvars.copy_context()
        return self.pool.submit(
            context.run, self.http.request, "GET", path, params=params, auth=self.auth
        )


@attrs.frozen
class Listing:
    """A CRM's listing endpoint, declared once: its path, records, paging and refusals.

    :ivar refused: the words for a refused request (:func:`fetch_pages`).
    :ivar refused_later: the words for the pages after the first, over ``refused``.
    """

    path: str
    records: RecordFormat
    paging: Paging
    refused: Words = attrs.field(factory=dict)
    refused_later: Words = attrs.field(factory=dict)

    def pages(
        self, http: HttpClient, params: Mapping[str, Any], *, auth: httpx.Auth | None = None
    ) -> Iterator[DecodedPage]:
        """Every page of the listing asked with ``params``, decoded (:func:`fetch_pages`)."""
        return fetch_pages(
            http,
            self.path,
            params,
            self.records,
            self.paging,
            auth=auth,
            refused=self.refused,
            refused_later=self.refused_later,
        )
