"""Deterministic product-usage data for the local API simulator, and the ground truth tests compare against.

Every record is a pure function of (seed, date, company index): nothing is stored, so a day of a million
companies is served one page at a time in O(page) memory, and tests can recompute exactly what was served.

The model, per company index i in 0..companies-1 (company id `c%06d`):
- about 10% of companies are "new": their first active date falls in 2024-2025; before it they are absent;
- on any day a company is absent with probability ~8% (no usage that day);
- active_users is 0..204 and events >= active_users; `plan` is an extra, company-stable field.
With `invalid_share` p, a deterministic share p of the served records is corrupted in one of several ways
(see CORRUPTIONS); `valid_records` yields what a correct validator must keep.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from company_activity.errors import InputError

NEW_COMPANY_EPOCH = datetime.date(2024, 1, 1)
NEW_COMPANY_SPAN_DAYS = 730
NEW_COMPANY_SHARE = 0.10
ABSENT_SHARE = 0.08
PLANS = ("free",) * 6 + ("pro",) * 3 + ("enterprise",)
CORRUPTIONS = (
    "negative_users",
    "bool_events",
    "float_events",
    "wrong_date",
    "missing_company_id",
    "duplicate_company_id",
)
_U16 = 1 << 16
_U32 = 1 << 32


def company_id(index: int) -> str:
    return f"c{index:06d}"


class UsageDataError(InputError):
    """The data set asked for cannot exist (a negative number of companies, a share outside 0..1)."""


@dataclass(frozen=True)
class Dataset:
    """The usage data of `companies` companies under `seed`; `invalid_share` of served records corrupted."""

    companies: int
    seed: int = 0
    invalid_share: float = 0.0
    _company_hasher: Any = field(init=False, repr=False, compare=False)
    _day_hasher: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.companies < 0:
            raise UsageDataError(f"companies must be >= 0, got {self.companies}")
        if not 0.0 <= self.invalid_share <= 1.0:
            raise UsageDataError(f"invalid_share must be between 0 and 1, got {self.invalid_share}")
        key = hashlib.blake2b(str(self.seed).encode(), digest_size=16).digest()
        # Keyed hashers, copied per use: cheaper than keying a new hasher for every record.
        object.__setattr__(self, "_company_hasher", hashlib.blake2b(digest_size=8, key=key, person=b"company"))
        object.__setattr__(self, "_day_hasher", hashlib.blake2b(digest_size=16, key=key, person=b"day"))

    # -- hashing: one keyed 64-bit hash per company, one 128-bit hash per (company, day) ---------------
    def _company_hash(self, index: int) -> int:
        hasher = self._company_hasher.copy()
        hasher.update(b"%d" % index)
        return int.from_bytes(hasher.digest(), "little")

    def _day_hash(self, day: datetime.date, index: int) -> int:
        hasher = self._day_hasher.copy()
        hasher.update(b"%d:%d" % (day.toordinal(), index))
        return int.from_bytes(hasher.digest(), "little")

    # -- the clean model -------------------------------------------------------------------------------
    def first_active(self, index: int) -> datetime.date | None:
        """The day a new company first appears, or None for companies active since before 2024."""
        return self._first_active(self._company_hash(index))

    @staticmethod
    def _first_active(g: int) -> datetime.date | None:
        if (g & 0xFFFF) >= NEW_COMPANY_SHARE * _U16:
            return None
        return NEW_COMPANY_EPOCH + datetime.timedelta(days=(g >> 16) % NEW_COMPANY_SPAN_DAYS)

    def _hashes(self, day: datetime.date, index: int) -> tuple[int, int] | None:
        """(company hash, company-day hash) when the company has usage that day, else None."""
        g = self._company_hash(index)
        first = self._first_active(g)
        if first is not None and day < first:
            return None
        h = self._day_hash(day, index)
        if (h & 0xFFFF) < ABSENT_SHARE * _U16:
            return None
        return g, h

    def is_active(self, day: datetime.date, index: int) -> bool:
        return self._hashes(day, index) is not None

    def clean_record(self, day: datetime.date, index: int) -> dict[str, Any] | None:
        hashes = self._hashes(day, index)
        return None if hashes is None else self._build(day, index, *hashes)

    @staticmethod
    def _build(day: datetime.date, index: int, g: int, h: int) -> dict[str, Any]:
        users = ((h >> 16) % 4096) // 20
        return {
            "company_id": company_id(index),
            "date": day.isoformat(),
            "active_users": users,
            "events": users * (1 + (h >> 32) % 40) + (h >> 48) % 25,
            "plan": PLANS[(g >> 32) % len(PLANS)],
        }

    # -- corruption ------------------------------------------------------------------------------------
    def _raw_corruption(self, h: int) -> str | None:
        if ((h >> 64) & 0xFFFFFFFF) >= self.invalid_share * _U32:
            return None
        return CORRUPTIONS[(h >> 96) % len(CORRUPTIONS)]

    def _previous_active(self, day: datetime.date, index: int) -> tuple[int, int] | None:
        """(index, company-day hash) of the nearest earlier company with usage that day."""
        for j in range(index - 1, -1, -1):
            hashes = self._hashes(day, j)
            if hashes is not None:
                return j, hashes[1]
        return None

    def _corruption(self, day: datetime.date, index: int, h: int) -> tuple[str, int] | None:
        """(kind, index of the copied company for duplicates) or None."""
        if self.invalid_share <= 0.0:
            return None
        kind = self._raw_corruption(h)
        if kind is None:
            return None
        if kind == "duplicate_company_id":
            # Copy the id of the previous served record, but only when that record is itself clean,
            # so the copy is always the second occurrence of a valid record.
            previous = self._previous_active(day, index)
            if previous is None or self._raw_corruption(previous[1]) is not None:
                return "negative_users", -1
            return kind, previous[0]
        return kind, -1

    def corruption(self, day: datetime.date, index: int) -> str | None:
        """How the served record of this company is corrupted (one of CORRUPTIONS), or None."""
        hashes = self._hashes(day, index)
        found = None if hashes is None else self._corruption(day, index, hashes[1])
        return None if found is None else found[0]

    def record(self, day: datetime.date, index: int) -> dict[str, Any] | None:
        """The record served for this company on this day (possibly corrupted), or None when absent."""
        hashes = self._hashes(day, index)
        if hashes is None:
            return None
        rec = self._build(day, index, *hashes)
        found = self._corruption(day, index, hashes[1])
        if found is None:
            return rec
        kind, copied = found
        if kind == "negative_users":
            rec["active_users"] = -1 - rec["active_users"]
        elif kind == "bool_events":
            rec["events"] = True
        elif kind == "float_events":
            rec["events"] = float(rec["events"])
        elif kind == "wrong_date":
            rec["date"] = (day - datetime.timedelta(days=1)).isoformat()
        elif kind == "missing_company_id":
            del rec["company_id"]
        else:  # duplicate_company_id
            rec["company_id"] = company_id(copied)
        return rec

    # -- paging and whole-day views (streams) ----------------------------------------------------------
    def next_active(self, day: datetime.date, start: int) -> int | None:
        for index in range(start, self.companies):
            if self.is_active(day, index):
                return index
        return None

    def page(self, day: datetime.date, start: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """Up to `limit` records from company index `start` on, and the index the next page starts at."""
        records: list[dict[str, Any]] = []
        index = start
        while index < self.companies and len(records) < limit:
            rec = self.record(day, index)
            if rec is not None:
                records.append(rec)
            index += 1
        return records, self.next_active(day, index)

    def records(self, day: datetime.date) -> Iterator[dict[str, Any]]:
        """Exactly the records served for the day, in order (corrupted ones included)."""
        for index in range(self.companies):
            rec = self.record(day, index)
            if rec is not None:
                yield rec

    def valid_records(self, day: datetime.date) -> Iterator[dict[str, Any]]:
        """The served records a correct validator keeps: the uncorrupted ones."""
        for index in range(self.companies):
            if self.corruption(day, index) is None:
                rec = self.clean_record(day, index)
                if rec is not None:
                    yield rec

    def corrupted(self, day: datetime.date) -> Iterator[tuple[int, str]]:
        """(company index, corruption kind) of every corrupted record of the day."""
        for index in range(self.companies):
            kind = self.corruption(day, index)
            if kind is not None:
                yield index, kind


def expected_day(day: datetime.date, companies: int, seed: int, invalid_share: float = 0.0) -> Iterator[dict[str, Any]]:
    """The exact records the simulator serves for `day`, in order."""
    return Dataset(companies, seed, invalid_share).records(day)


def expected_valid_day(
    day: datetime.date, companies: int, seed: int, invalid_share: float = 0.0
) -> Iterator[dict[str, Any]]:
    """The records of `day` that pass validation (all of them when invalid_share is 0)."""
    return Dataset(companies, seed, invalid_share).valid_records(day)


def company_ids_active(day: datetime.date, companies: int, seed: int) -> Iterator[str]:
    """Ids of the companies with usage on `day` (before any corruption), in order."""
    dataset = Dataset(companies, seed)
    return (company_id(i) for i in range(companies) if dataset.is_active(day, i))
