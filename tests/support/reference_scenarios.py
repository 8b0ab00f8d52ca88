"""Deterministic multi-week scenarios for the reference-vs-warehouse comparison.

A `World` is what the sources say for each date (usage rows, the CRM snapshot exported that day if
any); a load plan turns it into the ordered `Load`s a data engineer would run: in order, shuffled,
with late dates, with reloads of a date whose usage changed, with thresholds changed mid-way.
Everything is derived from `random.Random(seed)`, so a failing scenario is reproduced by its name.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from tests.support.reference_model import CrmSnapshotRow, Load, UsageRow

START = date(2024, 1, 1)

NAMES = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella plc",
    "Société Générale d'Études",
    "Müller & Söhne GmbH",
    "Østfold Fisk AS",
    "株式会社サンプル",
    "O'Reilly, Smith \"and\" Co",
    "Hooli",
    "HOOLI",  # a change of case only is still a change (rule 7), even in a case-insensitive database
)
INDUSTRIES = ("saas", "retail", "fintech", "health", "logistics", None)
COUNTRIES = ("US", "DE", "FR", "NO", "JP", "België", None)


@dataclass(frozen=True)
class Day:
    day: date
    usage: tuple[UsageRow, ...]
    crm: tuple[CrmSnapshotRow, ...] | None


@dataclass(frozen=True)
class World:
    days: tuple[Day, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    loads: tuple[Load, ...]
    # True when every date is loaded once with its own snapshot: any load order must give the same table.
    order_independent: bool = False


@dataclass
class _Company:
    company_id: str
    usage_span: tuple[int, int] | None  # [first, last] day index with possible usage; None = CRM only
    crm_span: tuple[int, int] | None  # [first, last] day index in the CRM export; None = usage only
    attributes: list[tuple[int, tuple[str | None, str | None, str | None]]]  # (from day index, attrs)
    contacts: list[tuple[date, int]]  # (contact date, day index of the first snapshot reporting it)
    usage_probability: float


def build_world(
    seed: int,
    *,
    companies: int = 14,
    days: int = 35,
    start: date = START,
    snapshot_every: int = 1,
    crm_only: int = 2,
    usage_only: int = 2,
) -> World:
    """Companies that appear and disappear, with gaps, CRM-only and usage-only ones, moving contacts.

    Contact dates are sometimes reported late (a later snapshot reveals an earlier contact date),
    sometimes blank in one export, and some are old enough to be stale.
    """
    rng = random.Random(seed)
    population = [_company(rng, f"c{i:06d}", days, start, kind="both") for i in range(companies)]
    population += [_company(rng, f"c9{i:05d}", days, start, kind="crm") for i in range(crm_only)]
    population += [_company(rng, f"u{i:06d}", days, start, kind="usage") for i in range(usage_only)]
    out = []
    for index in range(days):
        day = start + timedelta(days=index)
        usage = tuple(
            UsageRow(c.company_id, active_users=_users(rng), events=rng.randint(0, 400))
            for c in population
            if c.usage_span and c.usage_span[0] <= index <= c.usage_span[1] and rng.random() < c.usage_probability
        )
        crm = None
        if index % snapshot_every == 0:
            crm = tuple(
                _snapshot_row(rng, c, index)
                for c in population
                if c.crm_span and c.crm_span[0] <= index <= c.crm_span[1]
            )
        out.append(Day(day, usage, crm))
    return World(tuple(out))


def _users(rng: random.Random) -> int:
    return 0 if rng.random() < 0.25 else rng.randint(1, 6)


def _span(rng: random.Random, days: int) -> tuple[int, int]:
    roll = rng.random()
    if roll < 0.4:
        return (0, days - 1)
    first = rng.randint(0, days // 2)
    last = days - 1 if roll < 0.7 else rng.randint(first, days - 1)
    return (first, last)


def _company(rng: random.Random, company_id: str, days: int, start: date, kind: str) -> _Company:
    usage_span = _span(rng, days) if kind in ("both", "usage") else None
    crm_span = None
    if kind == "crm":
        crm_span = _span(rng, days)
    elif kind == "both":
        # The CRM may know a company before its first usage, or only from some later export.
        first, last = usage_span or (0, days - 1)
        crm_span = (max(0, first + rng.randint(-5, 5)), min(days - 1, max(first, last + rng.randint(-3, 8))))
    attributes = [(0, (rng.choice(NAMES), rng.choice(INDUSTRIES), rng.choice(COUNTRIES)))]
    for _ in range(rng.choice((0, 0, 1, 2))):
        at = rng.randint(1, days - 1)
        name, industry, country = attributes[-1][1]
        which = rng.randrange(3)
        new = (
            rng.choice(NAMES) if which == 0 else name,
            rng.choice(INDUSTRIES) if which == 1 else industry,
            rng.choice(COUNTRIES) if which == 2 else country,
        )
        attributes.append((at, new))
    attributes.sort(key=lambda pair: pair[0])
    contacts: list[tuple[date, int]] = []
    if rng.random() < 0.8:
        # One contact from before the scenario (stale after a while), then a few during it.
        old = start - timedelta(days=rng.randint(5, 120))
        contacts.append((old, 0))
        for _ in range(rng.randint(0, 3)):
            happened = rng.randint(0, days - 1)
            lag = rng.choice((0, 0, 1, 3, 9))  # lag > 0: a later snapshot reveals an earlier contact date
            contacts.append((start + timedelta(days=happened), min(days - 1, happened + lag)))
    return _Company(company_id, usage_span, crm_span, attributes, contacts, rng.choice((1.0, 0.85, 0.6)))


def _snapshot_row(rng: random.Random, company: _Company, index: int) -> CrmSnapshotRow:
    name, industry, country = next(a for start, a in reversed(company.attributes) if start <= index)
    reported = [d for d, first_reported in company.contacts if first_reported <= index]
    last_contact = max(reported) if reported else None
    if last_contact is not None and rng.random() < 0.05:
        last_contact = None  # a blank field in one export: the history keeps what was seen before
    return CrmSnapshotRow(
        company_id=company.company_id,
        company_name=name,
        industry_tag=industry,
        country=country,
        last_contact_date=last_contact,
    )


# ---- load plans -------------------------------------------------------------------------------------


def in_order(world: World, prefix: str, **thresholds: float) -> list[Load]:
    return [_load(d, f"{prefix}-{i:03d}", **thresholds) for i, d in enumerate(world.days)]


def shuffled(world: World, prefix: str, seed: int) -> list[Load]:
    days = list(world.days)
    random.Random(seed).shuffle(days)
    return [_load(d, f"{prefix}-{i:03d}") for i, d in enumerate(days)]


def with_late_dates(world: World, prefix: str, seed: int, late: int = 4) -> list[Load]:
    """Some dates arrive days late (after later dates were loaded), each with its own snapshot."""
    rng = random.Random(seed)
    held = set(rng.sample(range(1, len(world.days) - 1), late))
    order: list[Day] = []
    pending: list[tuple[int, Day]] = []
    for index, day in enumerate(world.days):
        if index in held:
            pending.append((index + rng.randint(2, 9), day))
        else:
            order.append(day)
        for due in [p for p in pending if p[0] <= index]:
            order.append(due[1])
            pending.remove(due)
    order.extend(day for _, day in pending)
    return [_load(d, f"{prefix}-{i:03d}") for i, d in enumerate(order)]


def with_reloads(world: World, prefix: str, seed: int, reloads: int = 4) -> list[Load]:
    """Some dates are loaded first with different usage and reloaded later with the final usage.

    The first version drops some companies, changes numbers and adds a company the final one lacks,
    so the reload must update, delete and keep rows (and a rerun of identical data changes nothing).
    """
    rng = random.Random(seed)
    chosen = rng.sample(range(len(world.days)), reloads)
    immediate, late = set(chosen[: reloads // 2]), chosen[reloads // 2 :]
    order: list[Day] = []
    for index, day in enumerate(world.days):
        if index in chosen:
            order.append(replace(day, usage=_perturbed(rng, day.usage)))
        if index in immediate:
            order += [day, day]  # the corrected data, then an identical rerun
        elif index not in late:
            order.append(day)
    # The corrected data of the other dates comes last, after later dates used their windows.
    order.extend(world.days[i] for i in late)
    return [_load(d, f"{prefix}-{i:03d}") for i, d in enumerate(order)]


def _perturbed(rng: random.Random, usage: Sequence[UsageRow]) -> tuple[UsageRow, ...]:
    kept = [u for u in usage if rng.random() < 0.7]
    changed = [replace(u, active_users=u.active_users + rng.randint(1, 9), events=u.events + 1) for u in kept]
    return (*changed, UsageRow("x000001", active_users=3, events=30))


def with_changing_thresholds(world: World, prefix: str) -> list[Load]:
    """Thresholds differ per run: rows outside a run's rule-6 scope keep the flags of their last run."""
    settings = ((1.0, 90), (2.5, 10), (0.5, 30), (3.0, 5))
    return [
        _load(d, f"{prefix}-{i:03d}", low_activity_threshold=settings[i % 4][0], stale_contact_days=settings[i % 4][1])
        for i, d in enumerate(world.days)
    ]


def _load(day: Day, run_id: str, **thresholds: float) -> Load:
    return Load(run_date=day.day, run_id=run_id, usage=day.usage, crm=day.crm, **thresholds)  # type: ignore[arg-type]


# ---- the catalogue ----------------------------------------------------------------------------------


def catalogue() -> list[Scenario]:
    daily = build_world(11, companies=12, days=24)
    weekly = build_world(12, snapshot_every=7, companies=12, days=22)
    stale = build_world(13, companies=10, days=28)
    return [
        Scenario("daily_snapshots_in_order", tuple(in_order(daily, "ino")), order_independent=True),
        Scenario("daily_snapshots_shuffled", tuple(shuffled(daily, "shf", seed=1)), order_independent=True),
        Scenario("late_dates", tuple(with_late_dates(daily, "late", seed=2)), order_independent=True),
        Scenario("weekly_snapshots_in_order", tuple(in_order(weekly, "wk"))),
        Scenario("reloads_with_changed_usage", tuple(with_reloads(daily, "rel", seed=3))),
        Scenario("reloads_weekly_snapshots", tuple(with_reloads(weekly, "relw", seed=4))),
        Scenario("stale_contacts_tight_threshold", tuple(in_order(stale, "stl", stale_contact_days=10))),
        Scenario("thresholds_change_per_run", tuple(with_changing_thresholds(stale, "thr"))),
    ]
