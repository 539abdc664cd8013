"""The unit registry is the field's package plus our small seed, and equals the contract's list."""

import csv

from pipelines.cli.registry import build_registry, local_units, package_units, registry_csv
from pipelines.config import SEEDS_DIR
from tests.conftest import FIXTURES


def _read(path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_committed_seed_is_what_the_installed_package_gives():
    # Fails after a package upgrade that changes a unit: run `make registry` and review the diff.
    assert (SEEDS_DIR / "units.csv").read_text(encoding="utf-8") == registry_csv(build_registry())


def test_every_district_and_commune_of_the_package_is_registered_with_its_gso_code():
    registry = {u["unit_code"]: u for u in _read(SEEDS_DIR / "units.csv")}
    package = package_units()
    assert sum(u["level"] == "district" for u in package) == 30
    assert sum(u["level"] == "commune" for u in package) == 526
    for unit in package:
        assert {k: registry[unit["unit_code"]][k] for k in unit} == unit
    ours = {u["unit_code"] for u in local_units()}
    assert set(registry) == {u["unit_code"] for u in package} | ours


def test_registry_equals_the_contracts_unit_list():
    contract = _read(FIXTURES / "reference_units.csv")
    registry = [{k: u[k] for k in contract[0]} for u in _read(SEEDS_DIR / "units.csv")]
    assert registry == contract
    assert [u["registry_order"] for u in _read(SEEDS_DIR / "units.csv")] == [str(i) for i in range(1, len(contract) + 1)]
