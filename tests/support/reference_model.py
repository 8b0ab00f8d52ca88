"""Independent pure-Python reference of docs/fact-rules.md, rules 1-8, written from that page only.

It deliberately shares no code with the T-SQL procedure or with the warehouse package: it models the
stored state (fact table, dim_company, crm_contact_history) as plain dictionaries and applies one load
(`Load`: a run date, its usage rows, its CRM snapshot if any, the run's thresholds) at a time, exactly
in the words of the rules. The tests run the same loads through the real warehouse and compare every
cell. Where the page leaves a choice open, the choice made here is written next to the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

ROLLING = "7d_rolling_active_users"
FACT_VALUE_COLUMNS = (
    "company_name",
    "industry_tag",
    "country",
    "daily_active_users",
    "daily_events_count",
    ROLLING,
    "days_since_last_contact",
    "is_churn_risk",
    "churn_risk_reason",
)
FACT_COLUMNS = ("company_id", "activity_date", *FACT_VALUE_COLUMNS, "load_run_id")
ATTRIBUTES = ("company_name", "industry_tag", "country")
# What a fact row stores: the attributes are the company's current ones, joined at read time (rule 7), so
# a change of attributes changes no stored row and no load_run_id (rule 8).
STORED_COLUMNS = tuple(c for c in FACT_VALUE_COLUMNS if c not in ATTRIBUTES)
DIM_COLUMNS = (
    "company_id",
    "company_name",
    "industry_tag",
    "country",
    "crm_snapshot_date",
    "in_latest_crm_snapshot",
    "first_seen_date",
)


@dataclass(frozen=True)
class UsageRow:
    company_id: str
    active_users: int
    events: int


@dataclass(frozen=True)
class CrmSnapshotRow:
    company_id: str
    company_name: str | None
    industry_tag: str | None
    country: str | None
    last_contact_date: date | None


@dataclass(frozen=True)
class Load:
    """One run of the procedure: what is staged for `run_date` plus the run's parameters."""

    run_date: date
    run_id: str
    usage: tuple[UsageRow, ...]
    crm: tuple[CrmSnapshotRow, ...] | None = None  # None (or no rows) = no snapshot for this date
    low_activity_threshold: float = 1.0
    stale_contact_days: int = 90


@dataclass
class DimRow:
    company_id: str
    company_name: str | None
    industry_tag: str | None
    country: str | None
    crm_snapshot_date: date | None
    in_latest_crm_snapshot: bool
    first_seen_date: date

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in DIM_COLUMNS}


@dataclass(frozen=True)
class RunCounts:
    rows_inserted: int
    rows_updated: int
    rows_deleted: int


class DuplicateKeyError(ValueError):
    """A company_id appears twice in the usage or in the snapshot of one run (the run changes nothing)."""


@dataclass
class ReferenceWarehouse:
    fact: dict[tuple[str, date], dict[str, object]] = field(default_factory=dict)
    dim: dict[str, DimRow] = field(default_factory=dict)
    contacts: dict[str, set[date]] = field(default_factory=dict)
    newest_snapshot_date: date | None = None

    # ---- views in the warehouse's shape -------------------------------------------------------------
    def fact_rows(self) -> list[dict[str, object]]:
        return [dict(self.fact[key]) for key in sorted(self.fact)]

    def dim_rows(self) -> list[dict[str, object]]:
        return [self.dim[c].as_dict() for c in sorted(self.dim)]

    def contact_history(self) -> list[tuple[str, date]]:
        return sorted((c, d) for c, dates in self.contacts.items() for d in dates)

    # ---- one run ------------------------------------------------------------------------------------
    def apply(self, load: Load) -> RunCounts:
        _require_unique((u.company_id for u in load.usage), "usage")
        if load.crm is not None:
            _require_unique((r.company_id for r in load.crm), "CRM snapshot")
        day = load.run_date
        # "No such rows = no snapshot for this date": a snapshot without rows is no snapshot.
        snapshot = load.crm or None
        # Rule 6: companies whose first_seen_date or contact history change in this run.
        changed: set[str] = set()
        if snapshot is not None:
            self._apply_snapshot(day, snapshot, changed)
        for usage in load.usage:
            self._see(usage.company_id, day, changed)

        usage_by_company = {u.company_id: u for u in load.usage}
        if snapshot is not None:
            crm_set = {r.company_id for r in snapshot}
        else:
            crm_set = {c for c, d in self.dim.items() if d.in_latest_crm_snapshot and d.first_seen_date <= day}
        grain = set(usage_by_company) | crm_set

        # Rule 2: the rows of `day` are exactly the grain; stale rows of an earlier load of `day` go.
        deleted = [key for key in self.fact if key[1] == day and key[0] not in grain]
        for key in deleted:
            del self.fact[key]

        # Daily values of `day` first, so the rolling sums below see this run's numbers.
        daily: dict[tuple[str, date], tuple[int, int]] = {
            (key[0], key[1]): (int(row["daily_active_users"]), int(row["daily_events_count"]))  # type: ignore[arg-type]
            for key, row in self.fact.items()
        }
        for company in grain:
            usage = usage_by_company.get(company)
            daily[(company, day)] = (usage.active_users, usage.events) if usage else (0, 0)

        # Rule 6: the rows whose derived columns this run recomputes.
        window_end = day + timedelta(days=6)
        scope = {key for key in daily if day <= key[1] <= window_end or key[0] in changed}
        inserted = updated = 0
        for key in scope:
            company, activity_date = key
            new_row = self._row(company, activity_date, daily, load)
            old_row = self.fact.get(key)
            if old_row is None:
                inserted += 1
            elif any(_differs(old_row[c], new_row[c]) for c in STORED_COLUMNS):
                updated += 1
            else:
                continue  # Rule 8: unchanged rows keep their load_run_id (and loaded_at)
            new_row["load_run_id"] = load.run_id
            self.fact[key] = new_row
        # Rule 7: every row shows its company's current attributes (read through the view; not a write).
        for (company, _), row in self.fact.items():
            dim = self.dim[company]
            row.update(company_name=dim.company_name, industry_tag=dim.industry_tag, country=dim.country)
        return RunCounts(rows_inserted=inserted, rows_updated=updated, rows_deleted=len(deleted))

    def _apply_snapshot(self, day: date, rows: Sequence[CrmSnapshotRow], changed: set[str]) -> None:
        # "in_latest_crm_snapshot: the company is in the newest snapshot loaded so far". A reload of the
        # newest date replaces it (>=); a backfill of an older snapshot leaves the flags alone.
        is_newest = self.newest_snapshot_date is None or day >= self.newest_snapshot_date
        members = {r.company_id for r in rows}
        if is_newest:
            self.newest_snapshot_date = day
            for dim in self.dim.values():
                dim.in_latest_crm_snapshot = dim.company_id in members
        for row in rows:
            dim = self.dim.get(row.company_id)
            if dim is None:
                dim = DimRow(
                    company_id=row.company_id,
                    company_name=None,
                    industry_tag=None,
                    country=None,
                    crm_snapshot_date=None,
                    in_latest_crm_snapshot=is_newest,
                    first_seen_date=day,
                )
                self.dim[row.company_id] = dim
                changed.add(row.company_id)
            # Rule 1: attributes only from a snapshot whose date is >= the stored crm_snapshot_date. They
            # move no stored fact row (rule 7 reads them through the view), so they touch nothing here.
            if dim.crm_snapshot_date is None or day >= dim.crm_snapshot_date:
                attributes = (row.company_name, row.industry_tag, row.country)
                stored = (dim.company_name, dim.industry_tag, dim.country)
                if dim.crm_snapshot_date != day or _attributes_differ(attributes, stored):
                    dim.company_name, dim.industry_tag, dim.country = attributes
                dim.crm_snapshot_date = day
            if day < dim.first_seen_date:
                dim.first_seen_date = day
                changed.add(row.company_id)
            if row.last_contact_date is not None:
                known = self.contacts.setdefault(row.company_id, set())
                if row.last_contact_date not in known:
                    known.add(row.last_contact_date)
                    changed.add(row.company_id)

    def _see(self, company: str, day: date, changed: set[str]) -> None:
        """A company with usage on `day`: a dim row with NULL attributes if unknown; first_seen_date."""
        dim = self.dim.get(company)
        if dim is None:
            self.dim[company] = DimRow(
                company_id=company,
                company_name=None,
                industry_tag=None,
                country=None,
                crm_snapshot_date=None,
                in_latest_crm_snapshot=False,
                first_seen_date=day,
            )
            changed.add(company)
        elif day < dim.first_seen_date:
            dim.first_seen_date = day
            changed.add(company)

    def _row(
        self, company: str, activity_date: date, daily: dict[tuple[str, date], tuple[int, int]], load: Load
    ) -> dict[str, object]:
        dim = self.dim[company]
        users, events = daily[(company, activity_date)]
        # Rule 3: S over [D-6, D] (missing days count 0) / N days of that window on or after first_seen.
        total = sum(daily.get((company, activity_date - timedelta(days=k)), (0, 0))[0] for k in range(7))
        days_known = min(7, (activity_date - dim.first_seen_date).days + 1)
        if not 1 <= days_known <= 7:
            raise AssertionError(f"{company} {activity_date}: first_seen_date {dim.first_seen_date} after the row")
        rolling = total / days_known
        # Rule 4: the latest contact on or before D.
        past_contacts = [d for d in self.contacts.get(company, ()) if d <= activity_date]
        since_contact = (activity_date - max(past_contacts)).days if past_contacts else None
        # Rule 5, reasons in the page's order.
        reasons = []
        if rolling < load.low_activity_threshold:
            reasons.append("low_activity")
        if since_contact is not None and since_contact > load.stale_contact_days:
            reasons.append("stale_contact")
        if since_contact is None:
            reasons.append("no_contact")
        return {
            "company_id": company,
            "activity_date": activity_date,
            # Rule 7: current dim attributes.
            "company_name": dim.company_name,
            "industry_tag": dim.industry_tag,
            "country": dim.country,
            "daily_active_users": users,
            "daily_events_count": events,
            ROLLING: rolling,
            "days_since_last_contact": since_contact,
            "is_churn_risk": bool(reasons),
            "churn_risk_reason": ",".join(reasons) if reasons else None,
            "load_run_id": None,
        }


def _attributes_differ(new: tuple[str | None, ...], old: tuple[str | None, ...]) -> bool:
    """A reload of the same snapshot date compares attributes by code point and, as SQL Server compares
    text, ignores trailing spaces: 'Acme' -> 'Acme ' is no change (the stored spelling stays)."""
    return any((a is None) != (b is None) or (a is not None and b is not None and a.rstrip(" ") != b.rstrip(" "))
               for a, b in zip(new, old, strict=True))


def _differs(old: object, new: object) -> bool:
    """NULL-safe inequality (rule 8)."""
    if old is None or new is None:
        return (old is None) != (new is None)
    return old != new


def _require_unique(company_ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for company in company_ids:
        if company in seen:
            raise DuplicateKeyError(f"company_id {company!r} appears twice in the {what} of one run")
        seen.add(company)


def run_reference(loads: Iterable[Load]) -> tuple[ReferenceWarehouse, list[RunCounts]]:
    """Apply the loads in the given order to an empty reference warehouse."""
    reference = ReferenceWarehouse()
    counts = [reference.apply(load) for load in loads]
    return reference, counts


def with_run_ids(loads: Iterable[Load], prefix: str) -> list[Load]:
    """The same loads with fresh run ids (one per run), e.g. for a second warehouse."""
    return [replace(load, run_id=f"{prefix}-{i:03d}") for i, load in enumerate(loads)]
