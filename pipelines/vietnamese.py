"""What officials read, decided once: the city's code, the roll-up levels, Vietnamese number and
date formats, and how a period says how far its data go. `make kpis`, the report and the alerts
all use these."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

CITY_CODE = "01"  # Thành phố Hà Nội: its GSO code, its unit code, the reform office's recipient
# Levels of marts.dim_units whose rows sum other units (the city, CAP_TP, CAP_HUYEN, CAP_XA).
ROLL_UP_LEVELS = ("city", "roll_up")
MISSING = "—"


def percent(value: Decimal | float | None) -> str:
    """``90,00%``: a decimal comma, two places."""
    return MISSING if value is None else f"{Decimal(str(value)) * 100:.2f}".replace(".", ",") + "%"


def integer(value: int) -> str:
    """``12.345``: a dot between thousands."""
    return f"{value:,}".replace(",", ".")


def vn_date(value: date | None) -> str:
    return MISSING if value is None else value.strftime("%d/%m/%Y")


def data_date_note(period: dict) -> str:
    """What an official must know about a period's figures: how far its data go when it is running."""
    if period["state"] == "running":
        return f"kỳ đang diễn ra, số liệu đến ngày {vn_date(period['evaluation_on'])}"
    if period["state"] == "not_started":
        return "kỳ chưa bắt đầu, chưa có số liệu"
    return f"số liệu đến ngày {vn_date(period['evaluation_on'])}"


def period_heading(period_code: str, state: str, evaluation_on: date) -> str:
    """``Kỳ báo cáo 2025-Q1 (số liệu đến ngày 20/12/2024):``, the date only for a running period."""
    heading = f"Kỳ báo cáo {period_code}"
    if state == "running":
        heading += f" (số liệu đến ngày {vn_date(evaluation_on)})"
    return heading + ":"
