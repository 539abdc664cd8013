"""Who receives each unit's alerts: the operator's contacts file, read and checked.

The file lives outside the repository (``CCHC_UNIT_CONTACTS``), one row per address:
``unit_code,email,name``, several rows per unit allowed. A row that cannot be used (unknown unit,
malformed address, missing field) is reported with its line number, never silently dropped.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.ingest.reference import UnitRegistry

COLUMNS = ("unit_code", "email", "name")
# Deliberately plain: one @, no spaces or commas, a dot in the domain. SMTP servers reject the rest.
_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+$")


class ContactsFileError(Exception):
    """The contacts file cannot be read at all; the message is one sentence for the operator."""


@dataclass(frozen=True)
class ContactProblem:
    line: int
    unit_code: str
    email: str
    problem: str


@dataclass(frozen=True)
class Contacts:
    addresses: dict[str, tuple[str, ...]] = field(default_factory=dict)  # unit code → its addresses
    problems: tuple[ContactProblem, ...] = ()

    def of(self, unit_code: str) -> tuple[str, ...]:
        return self.addresses.get(unit_code, ())


NO_CONTACTS = Contacts()  # no contacts file: every message goes to the reform office


def is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text))


def read_contacts(path: Path, unit_codes: set[str]) -> Contacts:
    """The usable addresses per unit of ``unit_codes``, and a problem for every other row."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise ContactsFileError(f"The contacts file {path} (CCHC_UNIT_CONTACTS) does not exist: create it or unset the variable.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ContactsFileError(f"The contacts file {path} cannot be read ({error}): save it as UTF-8 CSV.") from None
    if not rows or tuple(cell.strip().lower() for cell in rows[0][:3]) != COLUMNS:
        raise ContactsFileError(f"The contacts file {path} must start with the header line {','.join(COLUMNS)}.")

    addresses: dict[str, list[str]] = {}
    problems = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        unit_code, email = (row + ["", ""])[0].strip(), (row + ["", ""])[1].strip()
        if unit_code not in unit_codes:
            reason = "no unit code" if not unit_code else "unknown unit code (write it as in marts.dim_units, e.g. 001, 00004)"
            problems.append(ContactProblem(line, unit_code, email, reason))
        elif not is_address(email):
            problems.append(ContactProblem(line, unit_code, email, "no e-mail address" if not email else "malformed e-mail address"))
        elif email.lower() not in (known.lower() for known in addresses.get(unit_code, [])):
            addresses.setdefault(unit_code, []).append(email)
    return Contacts({unit: tuple(emails) for unit, emails in addresses.items()}, tuple(problems))


@dataclass(frozen=True)
class Recipients:
    to: tuple[str, ...]
    cc: tuple[str, ...]


def recipients_for(unit_code: str, contacts: Contacts, office: tuple[str, ...]) -> Recipients:
    """A unit's contacts, with the city's reform office copied; the office alone for a unit without
    contacts."""
    own = contacts.of(unit_code)
    if not own:
        return Recipients(to=office, cc=())
    lowered = {address.lower() for address in own}
    return Recipients(to=own, cc=tuple(address for address in office if address.lower() not in lowered))


def registered_unit_codes() -> set[str]:
    """Codes of the unit registry (the city, departments, districts, communes): levels have no
    contacts of their own, their rows go to the city."""
    return set(UnitRegistry.from_seed().units)


def load_contacts(path: Path | None) -> Contacts:
    return read_contacts(path, registered_unit_codes()) if path else NO_CONTACTS
