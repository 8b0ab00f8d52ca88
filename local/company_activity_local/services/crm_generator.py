"""Deterministic synthetic CRM snapshots for the demo, tests and benchmarks.

Every value is a pure function of (seed, company, snapshot date), so any day's snapshot can be made on
its own and two snapshots of one seed tell a consistent story:

- most of the usage simulator's companies `c000000`..`c{N-1:06d}` are in the CRM; about 5% are not
  (usage-only companies), and a few CRM-only companies `c900000`, `c900001`, ... never have usage;
- each company is contacted every `period` days (7..180, so some go stale); the last contact date
  only moves forward from one snapshot to the next; ~8% of companies were never contacted (empty
  field) and ~2% of rows leave the field blank in one export;
- ~10% of companies get a new name or industry every few weeks;
- names include commas, quotes and non-ASCII letters, so the CSV writer's quoting is exercised.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import IO, Any, cast

from company_activity.errors import InputError
from company_activity_local.warehouse.crm import CRM_HEADER, CrmRow, crm_blob_path

CRM_ONLY_BASE = 900_000  # CRM-only ids are c900000, c900001, ...: distinct from usage ids below it
_EPOCH = date(2000, 1, 1)
_WORDS = ("Acme", "Globex", "Initech", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent",
          "Müller", "Société", "Østfold", "Ångström", "Zürich", "O'Brien", "Nakatomi")
_SUFFIXES = ("Corp", "GmbH", "S.A.", "AS", "plc", "Ltd", "& Co", "\"Labs\"", "Holdings, Inc.")
_INDUSTRIES = ("saas", "retail", "fintech", "health", "logistics", "media", "manufacturing", "education")
_COUNTRIES = ("US", "DE", "FR", "NO", "GB", "JP", "BR", "IN", "Österreich", "")


def _unit(seed: int, *parts: object) -> float:
    """A stable uniform number in [0, 1) for (seed, parts): the same on every run and platform."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _pick(seed: int, options: tuple[str, ...], *parts: object) -> str:
    return options[int(_unit(seed, *parts) * len(options))]


@dataclass(frozen=True)
class _Company:
    """What never changes about a company, drawn once per generator."""

    changes: bool
    epoch_phase: int
    epoch_days: int
    name: str  # before any change
    industry: str
    second_word: str
    suffix: str
    country: str | None
    never_contacted: bool
    contact_period: int
    contact_phase: int


class CrmGeneratorError(InputError):
    """The snapshot asked for cannot be generated (too many companies, a negative count)."""


@dataclass(frozen=True)
class CrmGenerator:
    companies: int
    seed: int = 0
    usage_only_share: float = 0.05
    crm_only: int = 3
    _cache: dict[str, _Company] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.companies <= CRM_ONLY_BASE:
            raise CrmGeneratorError(f"companies must be 0..{CRM_ONLY_BASE} (CRM-only ids start at c{CRM_ONLY_BASE}), "
                             f"got {self.companies}")
        if self.crm_only < 0:
            raise CrmGeneratorError(f"crm_only must be >= 0, got {self.crm_only}")

    def company_ids(self) -> list[str]:
        """The ids in every snapshot: usage companies minus the usage-only ones, plus the CRM-only ones."""
        ids = [f"c{i:06d}" for i in range(self.companies) if _unit(self.seed, i, "usage-only") >= self.usage_only_share]
        return ids + [f"c{CRM_ONLY_BASE + k:06d}" for k in range(self.crm_only)]

    def usage_only(self) -> int:
        """How many of the simulator's `companies` every snapshot leaves out on purpose (usage-only companies)."""
        return self.companies - (len(self.company_ids()) - self.crm_only)

    def snapshot(self, snapshot_date: date) -> list[CrmRow]:
        return [self.row(company, snapshot_date) for company in self.company_ids()]

    def row(self, company_id: str, snapshot_date: date) -> CrmRow:
        seed, static = self.seed, self._company(company_id)
        day = (snapshot_date - _EPOCH).days
        # Attributes change at "epochs" of a company-specific length; most companies never change.
        name, industry = static.name, static.industry
        if static.changes:
            version = (day + static.epoch_phase) // static.epoch_days
            name, industry = self._attributes(company_id, static, version)
        contact = None
        if not static.never_contacted and _unit(seed, company_id, "blank", day) >= 0.02:
            # Contacted every `period` days: the last contact only moves forward between snapshots.
            contact = snapshot_date - timedelta(days=(day - static.contact_phase) % static.contact_period)
        return CrmRow(company_id, name, industry, static.country, contact)

    def _company(self, company_id: str) -> _Company:
        static = self._cache.get(company_id)
        if static is None:
            seed = self.seed
            period = 7 + int(_unit(seed, company_id, "period") * 174)
            second_word, suffix = _pick(seed, _WORDS, company_id, "w2"), _pick(seed, _SUFFIXES, company_id, "s")
            static = _Company(
                changes=_unit(seed, company_id, "changes") < 0.10,
                epoch_phase=int(_unit(seed, company_id, "phase") * 1000),
                epoch_days=14 + int(_unit(seed, company_id, "len") * 46),
                name=f"{_pick(seed, _WORDS, company_id, 'w1', 0)} {second_word} {suffix}",
                industry=_pick(seed, _INDUSTRIES, company_id, "industry", 0),
                second_word=second_word,
                suffix=suffix,
                country=_pick(seed, _COUNTRIES, company_id, "country") or None,
                never_contacted=_unit(seed, company_id, "never") < 0.08,
                contact_period=period,
                contact_phase=int(_unit(seed, company_id, "contact-phase") * period),
            )
            self._cache[company_id] = static
        return static

    def _attributes(self, company_id: str, static: _Company, version: int) -> tuple[str, str]:
        """Name and industry in a given epoch: the first word changes every epoch, the industry every other."""
        first_word = _pick(self.seed, _WORDS, company_id, "w1", version)
        return (f"{first_word} {static.second_word} {static.suffix}",
                _pick(self.seed, _INDUSTRIES, company_id, "industry", version // 2))


def write_crm_csv(rows: Iterable[CrmRow], stream: IO[str] | IO[bytes]) -> int:
    """Write rows in the contract's format (header, UTF-8, no BOM, LF); returns the number of rows.

    A text stream should be opened with newline="" (as for any csv writer); a binary one gets UTF-8.
    """
    if isinstance(stream, io.TextIOBase):
        return _write(rows, cast(IO[str], stream))
    text = io.TextIOWrapper(cast(IO[bytes], stream), encoding="utf-8", newline="")
    try:
        return _write(rows, text)
    finally:
        text.flush()
        text.detach()


def _write(rows: Iterable[CrmRow], text: IO[str]) -> int:
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CRM_HEADER)
    count = 0
    for row in rows:
        contact = row.last_contact_date.isoformat() if row.last_contact_date else ""
        writer.writerow([row.company_id, row.company_name or "", row.industry_tag or "", row.country or "", contact])
        count += 1
    return count


def crm_csv_bytes(rows: Iterable[CrmRow]) -> bytes:
    buffer = io.BytesIO()
    write_crm_csv(rows, buffer)
    return buffer.getvalue()


def upload_crm_snapshot(container: Any, snapshot_date: date, rows: Iterable[CrmRow]) -> str:
    """Upload a snapshot to its contract path in a CRM ContainerClient (overwrites); returns the blob name."""
    name = crm_blob_path(snapshot_date)
    container.get_blob_client(name).upload_blob(crm_csv_bytes(rows), overwrite=True)
    return name
