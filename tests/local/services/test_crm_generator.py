"""Synthetic CRM snapshots: deterministic, the promised mix of companies, and valid under the contract."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from company_activity_local.services.crm_generator import (
    CRM_ONLY_BASE,
    CrmGenerator,
    CrmGeneratorError,
    crm_csv_bytes,
    write_crm_csv,
)
from company_activity_local.warehouse.crm import CRM_HEADER, parse_crm_csv

DAY = date(2026, 2, 1)


def test_same_seed_same_snapshot_other_seed_other_snapshot() -> None:
    assert CrmGenerator(300, seed=1).snapshot(DAY) == CrmGenerator(300, seed=1).snapshot(DAY)
    assert CrmGenerator(300, seed=1).snapshot(DAY) != CrmGenerator(300, seed=2).snapshot(DAY)


def test_mix_of_usage_companies_usage_only_and_crm_only() -> None:
    generator = CrmGenerator(1000, seed=3, crm_only=4)
    ids = [row.company_id for row in generator.snapshot(DAY)]
    usage_ids = {f"c{i:06d}" for i in range(1000)}
    in_both = usage_ids & set(ids)
    assert 900 <= len(in_both) < 1000  # most, not all: the rest are usage-only companies
    assert [c for c in ids if c not in usage_ids] == [f"c{CRM_ONLY_BASE + k}" for k in range(4)]
    assert len(ids) == len(set(ids))


def test_contact_dates_move_forward_and_are_sometimes_empty() -> None:
    generator = CrmGenerator(500, seed=4)
    days = [DAY + timedelta(days=k) for k in range(0, 120, 3)]
    snapshots = [{r.company_id: r for r in generator.snapshot(d)} for d in days]
    moved = empty = 0
    for company in snapshots[0]:
        seen = [s[company].last_contact_date for s in snapshots]
        known = [d for d in seen if d is not None]
        empty += len(seen) - len(known)
        assert known == sorted(known), company
        assert all(d <= day for d, day in zip(seen, days, strict=True) if d is not None)
        moved += len(set(known)) > 1
    assert moved > 300
    assert empty > 0


def test_some_names_or_industries_change_between_dates() -> None:
    generator = CrmGenerator(500, seed=6)
    before = {r.company_id: r for r in generator.snapshot(DAY)}
    after = {r.company_id: r for r in generator.snapshot(DAY + timedelta(days=60))}
    changed = [c for c in before if (before[c].company_name, before[c].industry_tag)
               != (after[c].company_name, after[c].industry_tag)]
    assert 10 <= len(changed) <= 100
    assert all(before[c].country == after[c].country for c in before)


def test_written_csv_is_the_contract_and_parses_back_identically(tmp_path) -> None:
    rows = CrmGenerator(400, seed=7).snapshot(DAY)
    data = crm_csv_bytes(rows)
    assert data.split(b"\n", 1)[0].decode() == ",".join(CRM_HEADER)
    assert not data.startswith(b"\xef\xbb\xbf")
    result = parse_crm_csv(io.BytesIO(data), DAY)
    assert result.ok, result.report()
    assert result.rows == rows
    assert any(r.company_name and ("," in r.company_name or '"' in r.company_name) for r in rows)
    assert any(r.company_name and not r.company_name.isascii() for r in rows)

    path = tmp_path / "companies.csv"
    with open(path, "w", encoding="utf-8", newline="") as text:
        assert write_crm_csv(rows, text) == len(rows)
    assert path.read_bytes() == data


def test_rejects_a_company_count_that_would_collide_with_crm_only_ids() -> None:
    with pytest.raises(CrmGeneratorError, match=r"companies must be 0\.\.900000"):
        CrmGenerator(CRM_ONLY_BASE + 1)
