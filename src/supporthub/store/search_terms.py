"""The word index of free text (``q``): which stored keys a typed word can match.

``q`` matches an aggregated case whose provider key holds the words typed
as a run of whole-word prefixes, or whose error code key contains the code
typed (contract §4). Both are tests no ordinary index serves (a substring,
a word inside a key), so at a million aggregated cases each ``q`` read the
whole table. The ``search_terms`` table turns them into prefix lookups:

- ``kind = 'p'``: every word of every stored provider key, found by
  prefix (a range of the primary key);
- ``kind = 'g'``: every gram of one, two and three bytes of every stored
  error code key. A code typed is in a key only if all its grams of
  ``min(3, its length)`` bytes are: the candidates are the keys holding
  them all, a few ranges of the primary key, where a substring test of
  every distinct code cost 70 ms a question at 100,000 codes.

Each row names the key it came from, and the listing joins the keys found
to the aggregated cases by their key indexes. Terms are UTF-8 bytes (a
word cut to :data:`TERM_BYTES`, a gram) in a binary column: a prefix of
the text is a prefix of its bytes, a character is in a text only where its
bytes are, and byte order is code point order on both databases (no
collation, no trailing-space padding). The index only proposes candidates: the exact test of before
runs on them, so cut terms, or keys that no aggregated case holds any
more, never change an answer.

Rows are per distinct key, not per aggregated case, so a refresh adds rows
only for keys it has not seen (:class:`TermIndex`); a key whose last
aggregated case went away keeps its rows (harmless, see above) until the
index is built again (:func:`rebuild`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from supporthub.store.schema import aggregated_cases, search_terms

__all__ = [
    "CODE",
    "GRAM",
    "GRAM_BYTES",
    "PROVIDER",
    "TERM_BYTES",
    "TermIndex",
    "candidates",
    "grams_of",
    "prefix_range",
    "rebuild",
    "terms_of",
]

#: Bytes of a term kept in the index; longer ones are cut (a candidate filter still).
TERM_BYTES = 64
#: Kinds of keys, and the kinds of their rows: a provider key's words are
#: ``'p'`` rows, an error code key's grams ``'g'`` rows (``'c'`` rows, each
#: code whole, were revision 0006's).
PROVIDER, CODE, GRAM = "p", "c", "g"
#: Bytes of the longest grams of an error code key (all of 1 to 3 are kept).
GRAM_BYTES = 3
#: Keys this many at most are remembered per writer as indexed (then forgotten).
_REMEMBERED = 200_000
_CHUNK = 5000


def _digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def terms_of(kind: str, key: str) -> set[tuple[str, bytes]]:
    """Every ``(kind, term)`` a stored provider key (its words) or error code key (its grams)
    has in the index."""
    if kind == PROVIDER:
        return {(PROVIDER, word.encode()[:TERM_BYTES]) for word in key.split(" ") if word}
    return {(GRAM, gram) for size in range(1, GRAM_BYTES + 1) for gram in grams_of(key, size)}


def grams_of(text: str, size: int) -> set[bytes]:
    """The grams of ``size`` bytes of ``text``'s UTF-8 bytes (none when it is shorter)."""
    data = text.encode()
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def prefix_range(text: str) -> tuple[bytes, bytes | None]:
    """The bytes ``[low, high)`` that every term starting with ``text`` falls in.

    ``high`` is ``None`` when there is no upper bound (only ``0xff`` bytes).
    """
    low = text.encode()[:TERM_BYTES]
    head = low.rstrip(b"\xff")
    if not head:
        return low, None
    return low, head[:-1] + bytes([head[-1] + 1])


def candidates(kind: str, text: str) -> sa.Select[tuple[str]]:
    """The stored provider keys with a word that starts with ``text`` (:data:`PROVIDER`),
    or the stored error code keys that may contain ``text`` (:data:`CODE`)."""
    if kind == CODE:
        # A key holds the text only if it holds every gram of it; the exact
        # test follows on these candidates.
        wanted = grams_of(text, min(GRAM_BYTES, len(text.encode())))
        holding_all = (
            sa.select(sa.func.min(search_terms.c.key).label("key"))
            .where(search_terms.c.kind == GRAM, search_terms.c.term.in_(sorted(wanted)))
            .group_by(search_terms.c.digest)
            .having(sa.func.count() == len(wanted))
        ).subquery("code_keys")
        # Selected from a derived table: `IN (…)` of a grouped query is not a
        # semi-join to MariaDB, which ran it again for every row a listing
        # walked (3 s for q=7 at a million); a derived table is built once.
        return sa.select(holding_all.c.key)
    low, high = prefix_range(text)
    statement = sa.select(search_terms.c.key).where(
        search_terms.c.kind == kind, search_terms.c.term >= low
    )
    if high is not None:
        statement = statement.where(search_terms.c.term < high)
    return statement


def _rows(keys: Iterable[tuple[str, str]]) -> Iterator[tuple[str, bytes, bytes, str]]:
    for kind, key in keys:
        digest = _digest(key)
        for entry, term in terms_of(kind, key):
            yield entry, term, digest, key


def _insert_ignoring_duplicates(connection: sa.Connection, keys: list[tuple[str, str]]) -> None:
    # The driver's executemany of plain tuples: PyMySQL makes multi-row
    # INSERTs of it, sqlite3 loops in C (SQLAlchemy's own took 4 x as long).
    if connection.dialect.name == "sqlite":
        sql = "INSERT OR IGNORE INTO search_terms (kind, term, digest, key) VALUES (?, ?, ?, ?)"
    else:
        sql = "INSERT IGNORE INTO search_terms (kind, term, digest, `key`) VALUES (%s, %s, %s, %s)"
    batch: list[tuple[str, bytes, bytes, str]] = []
    for row in _rows(keys):
        batch.append(row)
        if len(batch) >= _CHUNK:
            connection.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        connection.exec_driver_sql(sql, batch)


class TermIndex:
    """Keeps ``search_terms`` up to date for the keys one write transaction stores.

    Every writer of ``aggregated_cases`` goes through
    :meth:`SqlWriter.write_aggregates`, which hands its rows here. A key
    already stored (seen in a row the writer read) or already indexed by
    this writer is skipped; the rest are added, duplicates ignored.
    """

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] = set()

    def _remember(self, keys: Iterable[tuple[str, str]]) -> None:
        if len(self._known) > _REMEMBERED:
            self._known.clear()
        self._known.update(keys)

    def stored(self, provider_key: str | None, error_code_key: str | None) -> None:
        """An aggregated case read from the database: its keys are indexed already."""
        self._remember(_keys(provider_key, error_code_key))

    def forget(self) -> None:
        """What was added may have been undone (a savepoint rolled back): trust nothing."""
        self._known.clear()

    def add(self, connection: sa.Connection, keys: Iterable[tuple[str | None, str | None]]) -> None:
        """Index the ``(provider key, error code key)`` pairs of rows about to be stored."""
        new = sorted({key for pair in keys for key in _keys(*pair)} - self._known)
        if not new:
            return
        _insert_ignoring_duplicates(connection, new)
        self._remember(new)


def _keys(provider_key: str | None, error_code_key: str | None) -> list[tuple[str, str]]:
    found = []
    if provider_key:
        found.append((PROVIDER, provider_key))
    if error_code_key:
        found.append((CODE, error_code_key))
    return found


def rebuild(connection: sa.Connection) -> None:
    """Build the index anew from the keys the aggregated cases hold now."""
    connection.execute(sa.delete(search_terms))
    for column, kind in (
        (aggregated_cases.c.provider_key, PROVIDER),
        (aggregated_cases.c.error_code_key, CODE),
    ):
        found = connection.execute(sa.select(column).where(column.is_not(None)).distinct())
        while chunk := found.fetchmany(_CHUNK):
            _insert_ignoring_duplicates(connection, [(kind, key) for (key,) in chunk if key])
