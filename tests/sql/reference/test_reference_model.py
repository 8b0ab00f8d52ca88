"""The reference checked against a second, naive reading of the rules (no warehouse needed).

The model applies rule 6 literally (only rows in a run's scope are recomputed). With constant
thresholds that must equal recomputing every row from the final state with the plain formulas of
rules 3-5, written again here as directly as the page states them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.support.reference_model import ROLLING, CrmSnapshotRow, DuplicateKeyError, Load, UsageRow, run_reference
from tests.support.reference_scenarios import catalogue

CONSTANT_THRESHOLDS = [s for s in catalogue() if len({(x.low_activity_threshold, x.stale_contact_days)
                                                        for x in s.loads}) == 1]


@pytest.mark.parametrize("scenario", CONSTANT_THRESHOLDS, ids=[s.name for s in CONSTANT_THRESHOLDS])
def test_incremental_rows_equal_a_full_recompute(scenario) -> None:
    reference, _ = run_reference(scenario.loads)
    low, stale = scenario.loads[0].low_activity_threshold, scenario.loads[0].stale_contact_days
    users = {key: row["daily_active_users"] for key, row in reference.fact.items()}
    for (company, day), row in reference.fact.items():
        first_seen = reference.dim[company].first_seen_date
        window = [day - timedelta(days=k) for k in range(7)]
        average = sum(users.get((company, d), 0) for d in window) / sum(1 for d in window if d >= first_seen)
        contacts = [d for d in reference.contacts.get(company, ()) if d <= day]
        since = (day - max(contacts)).days if contacts else None
        reasons = [name for name, holds in (("low_activity", average < low),
                                            ("stale_contact", since is not None and since > stale),
                                            ("no_contact", since is None)) if holds]
        assert row[ROLLING] == average, (company, day)
        assert row["days_since_last_contact"] == since, (company, day)
        assert row["churn_risk_reason"] == (",".join(reasons) or None), (company, day)
        assert row["is_churn_risk"] == bool(reasons)
        dim = reference.dim[company]
        assert (row["company_name"], row["industry_tag"], row["country"]) == (dim.company_name, dim.industry_tag,
                                                                              dim.country)


def test_worked_example_from_the_rules() -> None:
    """Hand-computed: a company seen on day 1, usage 4 then 2, a contact reported late."""
    d1 = date(2024, 3, 1)
    loads = [
        Load(
            run_date=d1,
            run_id="r1",
            usage=(UsageRow("c1", 4, 9),),
            crm=(
                CrmSnapshotRow(
                    company_id="c1", company_name="Acme", industry_tag="saas", country="US", last_contact_date=None
                ),
            ),
        ),
        Load(
            run_date=d1 + timedelta(days=2),
            run_id="r2",
            usage=(UsageRow("c1", 2, 5),),
            crm=(
                CrmSnapshotRow(
                    company_id="c1",
                    company_name="Acme",
                    industry_tag="saas",
                    country="US",
                    last_contact_date=d1 - timedelta(days=100),
                ),
            ),
        ),
    ]
    reference, counts = run_reference(loads)
    rows = reference.fact_rows()
    assert [(r["activity_date"], r["daily_active_users"], r[ROLLING]) for r in rows] == [
        (d1, 4, 4.0), (d1 + timedelta(days=2), 2, 2.0)]  # (4 + 0 + 2) / 3 days since first seen
    # The late snapshot revealed a contact 100 days before day 1: both rows are recomputed (rule 6).
    assert [r["days_since_last_contact"] for r in rows] == [100, 102]
    assert [r["churn_risk_reason"] for r in rows] == ["stale_contact", "stale_contact"]
    assert [r["load_run_id"] for r in rows] == ["r2", "r2"]
    assert [(c.rows_inserted, c.rows_updated, c.rows_deleted) for c in counts] == [(1, 0, 0), (1, 1, 0)]


def test_duplicates_raise_and_change_nothing() -> None:
    reference, _ = run_reference([Load(run_date=date(2024, 1, 1), run_id="a", usage=(UsageRow("c1", 1, 1),))])
    before = (reference.fact_rows(), reference.dim_rows())
    with pytest.raises(DuplicateKeyError, match="c1"):
        reference.apply(Load(run_date=date(2024, 1, 2), run_id="b", usage=(UsageRow("c1", 1, 1), UsageRow("c1", 2, 2))))
    with pytest.raises(DuplicateKeyError, match="c2"):
        reference.apply(
            Load(
                run_date=date(2024, 1, 2),
                run_id="b",
                usage=(),
                crm=(
                    CrmSnapshotRow(
                        company_id="c2", company_name=None, industry_tag=None, country=None, last_contact_date=None
                    ),
                )
                * 2,
            )
        )
    assert (reference.fact_rows(), reference.dim_rows()) == before


def test_the_catalogue_exercises_every_promised_situation() -> None:
    """Guard against a generator change silently dropping a case the comparison relies on."""
    seen: dict[str, bool] = dict.fromkeys(
        ("usage_only", "crm_only", "gap", "disappears", "null_contact", "earlier_contact_revealed",
         "attribute_change", "late_date", "changed_reload", "rows_deleted", "no_snapshot_date"), False)
    for scenario in catalogue():
        usage_ids = {u.company_id for load in scenario.loads for u in load.usage}
        crm_ids = {r.company_id for load in scenario.loads for r in load.crm or ()}
        seen["usage_only"] |= bool(usage_ids - crm_ids)
        seen["crm_only"] |= bool(crm_ids - usage_ids)
        seen["no_snapshot_date"] |= any(load.crm is None for load in scenario.loads)
        by_date: dict[date, list[Load]] = {}
        latest_contact: dict[str, date] = {}
        attributes: dict[str, tuple] = {}
        contacts: dict[str, set[date]] = {}
        snapshot_dates: dict[str, list[date]] = {}
        newest = None
        for load in scenario.loads:
            by_date.setdefault(load.run_date, []).append(load)
            seen["late_date"] |= newest is not None and load.run_date < newest
            newest = max(newest or load.run_date, load.run_date)
            for row in load.crm or ():
                if row.last_contact_date is None:
                    seen["null_contact"] |= row.company_id in latest_contact
                    continue
                # A contact date first reported now, although an earlier snapshot on or after it did not have it.
                known = latest_contact.get(row.company_id)
                seen["earlier_contact_revealed"] |= row.last_contact_date not in contacts.get(row.company_id, set()) \
                    and any(row.last_contact_date <= d for d in snapshot_dates.get(row.company_id, ()))
                contacts.setdefault(row.company_id, set()).add(row.last_contact_date)
                snapshot_dates.setdefault(row.company_id, []).append(load.run_date)
                latest_contact[row.company_id] = max(known or row.last_contact_date, row.last_contact_date)
                attrs = (row.company_name, row.industry_tag, row.country)
                seen["attribute_change"] |= attributes.get(row.company_id, attrs) != attrs
                attributes[row.company_id] = attrs
        seen["changed_reload"] |= any(len({tuple(x.usage) for x in loads}) > 1 for loads in by_date.values())
        days = sorted(by_date)
        active = [{u.company_id for load in by_date[d] for u in load.usage} for d in days]
        triples = zip(active, active[1:], active[2:], strict=False)
        seen["gap"] |= any(c not in b and c in z for a, b, z in triples for c in a)
        cut = 2 * len(active) // 3
        seen["disappears"] |= bool(set().union(*active[:cut]) - set().union(*active[cut:]))
        _, counts = run_reference(scenario.loads)
        seen["rows_deleted"] |= any(c.rows_deleted for c in counts)
    assert all(seen.values()), [name for name, hit in seen.items() if not hit]
