"""Reference lookups used at the ingestion boundary: text normalisation, units, sectors, and the
plan's task catalogue and indicators."""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from hashlib import sha256
from pathlib import Path

import polars as pl

from pipelines.config import SEEDS_DIR

_WHITESPACE = re.compile(r"\s+")
# "Ủy" and "Uỷ" are the new and old Vietnamese tone placements; district software emits both.
_COUNCIL_PREFIX = re.compile(r"^(ubnd|ủy ban nhân dân|uỷ ban nhân dân)\s+")
_UNIT_KINDS = ("thị xã", "quận", "huyện", "phường", "xã", "thị trấn")
_PAREN_DISTRICT = re.compile(r"^(?P<commune>.+?)\s*\((?P<district>[^()]+)\)$")
# What ``UnitRegistry.match_name`` returns for a commune name two districts share, written without
# its district: not a unit code, so the row rules quarantine it with its own reason.
AMBIGUOUS_UNIT = "?ambiguous"


def normalize_text(value: str) -> str:
    """NFC, case folding and collapsed white space: how every label and name is compared."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", value).casefold()).strip()


def normalize_unit_name(value: str) -> str:
    return _COUNCIL_PREFIX.sub("", normalize_text(value))


def _without_kind(name: str) -> str:
    for kind in _UNIT_KINDS:
        if name.startswith(kind + " "):
            return name[len(kind) + 1 :]
    return name


def normalized_applicant_id(column: str) -> pl.Expr:
    """An ID number without spaces and dots (the readers wrote it NFC); null when nothing is left."""
    return pl.col(column).str.replace_all(r"[\s.]", "").replace("", None)


def spreadsheet_number_to_id(value: float) -> str:
    """A numeric cell lost its leading zeros: write it back as 12 digits."""
    return f"{int(value):012d}"


def hash_applicant_id(normalized_id: str, salt: str) -> str:
    return applicant_hasher(salt)(normalized_id)


def applicant_hasher(salt: str) -> Callable[[str | None], str | None]:
    """HMAC-SHA256 of IDs under the salt: the keyed state is set up once and copied per ID."""
    keyed = hmac.new(salt.encode(), digestmod=sha256)

    def hash_one(normalized_id: str | None) -> str | None:
        if not normalized_id:
            return None
        state = keyed.copy()
        state.update(normalized_id.encode())
        return state.hexdigest()

    return hash_one


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    level: str
    parent_code: str


class UnitRegistry:
    """Matches display names to registered units by the rules of ``docs/exports.md``."""

    def __init__(self, units: list[Unit]):
        self.units = {unit.code: unit for unit in units}

    @classmethod
    def from_seed(cls, path: Path = SEEDS_DIR / "units.csv") -> UnitRegistry:
        return cls([Unit(r["unit_code"], r["unit_name"], r["level"], r["parent_code"]) for r in _seed_rows(path)])

    @cached_property
    def _by_name(self) -> dict[str, list[Unit]]:
        index: dict[str, list[Unit]] = {}
        for unit in self.units.values():
            index.setdefault(normalize_unit_name(unit.name), []).append(unit)
        return index

    @cached_property
    def _districts(self) -> dict[str, Unit]:
        """Districts by full name and by bare name ("ba đình"), for "(Ba Đình)" suffixes."""
        index: dict[str, Unit] = {}
        for unit in self.units.values():
            if unit.level == "district":
                name = normalize_unit_name(unit.name)
                index[name] = unit
                index[_without_kind(name)] = unit
        return index

    def _commune_in(self, commune_name: str, district: Unit | None) -> str | None:
        if district is None:
            return None
        for unit in self._by_name.get(normalize_unit_name(commune_name), []):
            if unit.level == "commune" and unit.parent_code == district.code:
                return unit.code
        return None

    def match_name(self, display_name: str | None) -> str | None:
        """The unit code of a display name, ``AMBIGUOUS_UNIT`` for a commune name that two districts
        share written without its district, or ``None`` for an unknown unit."""
        if not display_name or not display_name.strip():
            return None
        name = normalize_unit_name(display_name)
        candidates = self._by_name.get(name, [])
        if len(candidates) == 1:
            return candidates[0].code
        if len(candidates) > 1:
            return AMBIGUOUS_UNIT
        if "," in name:
            commune, _, district = name.rpartition(",")
            return self._commune_in(commune, self._districts.get(normalize_unit_name(district)))
        if match := _PAREN_DISTRICT.match(name):
            district = self._districts.get(normalize_unit_name(match["district"]))
            return self._commune_in(match["commune"], district)
        return None

    def match_district_title(self, line: str) -> str | None:
        """A workbook title line such as ``QUẬN ĐỐNG ĐA`` names a district."""
        unit = self._districts.get(normalize_unit_name(line))
        return unit.code if unit else None

    def match_commune(self, commune_name: str | None, district_code: str) -> str | None:
        if not commune_name:
            return None
        return self._commune_in(commune_name, self.units.get(district_code))


class SectorCatalogue:
    """Sector codes and names, matched after the same normalisation as unit names."""

    def __init__(self, rows: list[dict[str, str]]):
        self.codes = {r["sector_code"] for r in rows}
        self._by_name = {normalize_text(r["sector_name"]): r["sector_code"] for r in rows}

    @classmethod
    def from_seed(cls, path: Path = SEEDS_DIR / "sectors.csv") -> SectorCatalogue:
        return cls(_seed_rows(path))

    def code_for(self, code: str | None, name: str | None) -> str | None:
        """The code wins where both are given; a name alone is matched."""
        if code and code.strip():
            return code.strip() if code.strip() in self.codes else None
        if name and name.strip():
            return self._by_name.get(normalize_text(name))
        return None


class PlanCatalogue:
    """What the plan's two self-reported exports are checked against: each milestone of the task
    catalogue with the units that owe it (a group lead expanded, as ``int_plan_obligations`` does
    from the same seeds), the self-reported indicator codes and the report period codes."""

    def __init__(self, obligees: dict[str, frozenset[str]], indicators: frozenset[str], start_offsets: dict[str, int], reporting_units: frozenset[str]):
        self.obligees = obligees  # milestone code -> the unit codes that owe it
        self.indicators = indicators
        self._start_offsets = start_offsets  # period suffix -> its start, in months from 15 January
        self.reporting_units = reporting_units  # who sends self-reports: departments and districts

    @classmethod
    def from_seeds(cls, units: UnitRegistry, seeds: Path = SEEDS_DIR) -> PlanCatalogue:
        def rows(name: str) -> list[dict[str, str]]:
            return _seed_rows(seeds / name)

        group_levels = {row["group_code"]: row["level"] for row in rows("lead_groups.csv")}
        by_level: dict[str, set[str]] = {}
        for unit in units.units.values():
            by_level.setdefault(unit.level, set()).add(unit.code)
        obligees = {}
        for task in rows("plan_tasks.csv"):
            leads = task["lead_codes"].split(";")
            obligees[task["milestone_code"]] = frozenset(
                code for lead in leads for code in (by_level.get(group_levels[lead], set()) if lead in group_levels else {lead})
            )
        indicators = frozenset(row["kpi_code"] for row in rows("kpis.csv") if row["source"] == "self_report")
        starts = {row["period_suffix"]: int(row["start_month_offset"]) for row in rows("report_periods.csv")}
        reporting = frozenset(by_level.get("department", set()) | by_level.get("district", set()))
        return cls(obligees, indicators, starts, reporting)

    @cached_property
    def obligations(self) -> pl.DataFrame:
        """(milestone_code, unit_code) of every obligation, to join progress rows against."""
        pairs = [(milestone, unit) for milestone, obligees in self.obligees.items() for unit in obligees]
        return pl.DataFrame(pairs, schema={"milestone_code": pl.String, "unit_code": pl.String}, orient="row")

    def period_start(self, period_code: str | None) -> dt.date | None:
        """The first day of a report period code such as ``2024-Q2`` (the plan's cut-off rule:
        YYYY-Q1 starts on 15 December of YYYY-1), or None for anything else."""
        match = _PERIOD_CODE.match(period_code or "")
        if not match or match["suffix"] not in self._start_offsets:
            return None
        months = int(match["year"]) * 12 + self._start_offsets[match["suffix"]]
        return dt.date(months // 12, months % 12 + 1, 15)


def _seed_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


_PERIOD_CODE = re.compile(r"^(?P<year>\d{4})-(?P<suffix>[A-Z0-9]+)$")
