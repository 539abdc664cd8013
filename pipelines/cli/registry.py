"""The unit registry (``data/seeds/units.csv``), built from the field's package, not by hand.

Districts and communes are Hà Nội's rows of ``vietnamadminunits`` (GSO codes, its data before the
1 July 2025 reform: ``admin_units_legacy``); the city, its departments and former units the package
lacks come from our small ``data/reference/local_units.csv``. Order: the city, districts,
departments, then communes by code. ``make registry`` rewrites the seed; a test fails when the
committed seed and the installed package disagree, so an upstream correction is one upgrade and
one ``make registry`` away.

Run as ``python -m pipelines.cli.registry``.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from pipelines.config import PROJECT_ROOT, SEEDS_DIR
from pipelines.vietnamese import CITY_CODE

LOCAL_UNITS = PROJECT_ROOT / "data" / "reference" / "local_units.csv"
COLUMNS = ["unit_code", "unit_name", "level", "parent_code", "unit_kind", "registry_order"]
_LEVEL_ORDER = {"city": 0, "district": 1, "department": 2, "commune": 3}


def package_units() -> list[dict[str, str]]:
    """Hà Nội's districts and communes as the installed ``vietnamadminunits`` lists them."""
    from importlib.resources import files

    database = files("vietnamadminunits") / "data" / "dataset.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as con:
        rows = con.execute(
            "select distinct district, districtType, districtCode, ward, wardType, wardCode "
            "from admin_units_legacy where provinceCode = ?",
            [CITY_CODE],
        ).fetchall()
    districts = {
        code: {"unit_code": code, "unit_name": name, "level": "district", "parent_code": CITY_CODE, "unit_kind": kind.lower()}
        for name, kind, code, *_ in rows
    }
    communes = [
        {"unit_code": code, "unit_name": name, "level": "commune", "parent_code": district, "unit_kind": kind.lower()}
        for _, _, district, name, kind, code in rows
    ]
    return [*districts.values(), *communes]


def local_units(path: Path = LOCAL_UNITS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [{c: row[c] for c in COLUMNS[:-1]} for row in csv.DictReader(f)]


def build_registry() -> list[dict[str, str]]:
    # Departments keep the local file's order (equal keys: the sort is stable); the rest go by code.
    by_level_then_code = lambda u: (_LEVEL_ORDER[u["level"]], "" if u["level"] == "department" else u["unit_code"])  # noqa: E731
    units = sorted([*package_units(), *local_units()], key=by_level_then_code)
    return [{**unit, "registry_order": str(order)} for order, unit in enumerate(units, start=1)]


def registry_csv(units: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(units)
    return out.getvalue()


def main() -> None:
    target = SEEDS_DIR / "units.csv"
    target.write_text(registry_csv(build_registry()), encoding="utf-8")
    print(f"Wrote {target.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
