"""The adapter kit: the work every CRM adapter shares, so that an adapter is short.

- :mod:`~supporthub.kit.auth`: httpx ``Auth`` flows (OAuth2 client
  credentials with one renewal, an API-key header);
- :mod:`~supporthub.kit.paging`: next-link and cursor-export paginators
  that refuse a link or cursor that repeats;
- :mod:`~supporthub.kit.watermark`: the newest ``(updated_at, id)`` read;
- :mod:`~supporthub.kit.records`: a record format declared once, from
  which the typed page decoder, the record-by-record fallback and the
  error messages all come;
- :mod:`~supporthub.kit.refusals`: a CRM's refusal in words that say what to fix.
"""
