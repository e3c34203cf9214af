"""Writing back to a CRM: what every :meth:`~supporthub.Adapter.write_case` repeats.

A write must happen once however often the hub repeats it (the adapter
contract, rule 6): the hub's idempotency key goes with the CRM's
idempotency feature on every attempt, a key the CRM cannot take is refused
before anything is sent, a refusal is final and says why, a transient
failure is raised for the hub to repeat later, and the CRM's write rate
limit is kept, retries included.

An adapter declares how its CRM takes writes once (:class:`WriteRules`);
each :meth:`~supporthub.Adapter.write_case` starts a :class:`CaseWriter`
for its :class:`~supporthub.CaseWrite`, builds the requests from the write
alone (so that a repeat sends the same body) and reads the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from supporthub.kit.adapter import CaseWrite
from supporthub.kit.http import HttpClient
from supporthub.kit.ratelimit import WriteLimiter
from supporthub.kit.refusals import Words, reword
from supporthub.vocabulary.errors import SourceRejected, SourceUnavailable

__all__ = ["HUB_KEY", "CaseWriter", "WriteRules"]

#: Every key the hub makes matches this (:attr:`~supporthub.CaseWrite.idempotency_key`).
HUB_KEY = r"[A-Za-z0-9._:-]{1,64}"


@attrs.frozen
class WriteRules:
    """How a CRM takes writes, declared once.

    :ivar key: a regular expression the whole idempotency key must match
        for the CRM to take it; by default :data:`HUB_KEY`, every key the hub
        makes (a CRM may allow less).
    :ivar key_refusal: the words for a key it cannot take; ``{key!r}`` is the key.
    :ivar refused: the words of a refusal (:func:`~supporthub.reword`); a
        template may use ``{case}`` and ``{key}``, and what
        :meth:`CaseWriter.send` is given.
    :ivar key_header: the header that carries the key on every request
        (``Idempotency-Key``); ``None`` when the key goes in the body.
    """

    key: str = HUB_KEY
    key_refusal: str = "the CRM cannot take idempotency key {key!r}"
    refused: Words = attrs.field(factory=dict)
    key_header: str | None = None

    def start(
        self,
        http: HttpClient,
        write: CaseWrite,
        *,
        auth: httpx.Auth | None = None,
        limiter: WriteLimiter | None = None,
    ) -> CaseWriter:
        """The writer of ``write``, once its key is one the CRM takes.

        :param limiter: the CRM's write rate limit (:func:`~supporthub.account_limiter`).
        :raises SourceRejected: the CRM cannot take the key: a retry cannot help.
        """
        if re.fullmatch(self.key, write.idempotency_key) is None:
            raise SourceRejected(self.key_refusal.format(key=write.idempotency_key))
        return CaseWriter(self, http, write, auth, limiter)


@attrs.frozen
class CaseWriter:
    """Sends the requests of one :class:`~supporthub.CaseWrite` (:meth:`WriteRules.start`)."""

    rules: WriteRules
    http: HttpClient
    write: CaseWrite
    auth: httpx.Auth | None = None
    limiter: WriteLimiter | None = None

    def send(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        **values: object,
    ) -> httpx.Response:
        """Send one request, ``body`` as JSON (the same bytes on every attempt).

        - Every attempt, retries included, first waits for the limiter: a
          retry counts against the CRM's write limit too.
        - A transient failure that outlasts the client's retries raises
          :class:`SourceUnavailable` as it is (the hub repeats the write
          later, with the same key); when the CRM said ``Retry-After``, the
          limiter holds every writer of this process that long.
        - A refusal is final: :class:`SourceRejected` in the words of
          :attr:`WriteRules.refused`, filled with ``values``.
        """
        write, rules, limiter = self.write, self.rules, self.limiter
        if rules.key_header is not None:
            headers = {**(headers or {}), rules.key_header: write.idempotency_key}
        try:
            return self.http.request(
                method,
                path,
                headers=headers,
                json=body,
                auth=self.auth,
                before_attempt=None if limiter is None else limiter.acquire,
            )
        except SourceUnavailable as error:
            if limiter is not None and error.retry_after is not None:
                limiter.hold(error.retry_after)
            raise
        except SourceRejected as refusal:
            words = {"case": write.case_id, "key": write.idempotency_key, **values}
            raise reword(refusal, rules.refused, **words) from None
