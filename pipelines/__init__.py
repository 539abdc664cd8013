"""KPI warehouse for Hà Nội's 2024 administrative reform plan (QĐ 6745/QĐ-UBND)."""
