"""`make docs`: every mart documented column by column in English and Vietnamese, rendered by dbt docs."""

from __future__ import annotations

import json
import os
import re
from html import unescape
from pathlib import Path

import pytest

from tests.conftest import run_chromium, run_cli

MARTS = ["kpi_results", "fct_dossiers", "fct_form06_statistics", "fct_plan_tasks", "dim_units", "dim_kpis", "dim_periods"]


@pytest.fixture(scope="module")
def docs(sample_warehouse) -> Path:
    result = run_cli("pipelines.cli.docs", env={**os.environ, **sample_warehouse})
    assert result.returncode == 0, result.stderr
    out = Path(sample_warehouse["CCHC_WAREHOUSE"]).parent / "dbt_docs"
    assert str(out / "static_index.html") in result.stdout
    return out


def test_every_mart_column_is_described_in_english_and_vietnamese(docs):
    catalog = json.loads((docs / "catalog.json").read_text())["nodes"]
    manifest = json.loads((docs / "manifest.json").read_text())["nodes"]
    for model in MARTS:
        node = f"model.cchc_kpi.{model}"
        in_warehouse = {name.lower() for name in catalog[node]["columns"]}
        described = {name: column["description"] for name, column in manifest[node]["columns"].items()}
        assert in_warehouse == set(described), f"{model}: columns in the warehouse and in the docs differ"
        for name, text in described.items():
            english, _, vietnamese = text.rpartition(" / ")
            assert english and re.search("[À-ỹ]", vietnamese), f"{model}.{name} lacks an English / Vietnamese description"
        assert manifest[node]["description"]


def test_dbt_docs_render_the_column_descriptions(docs, chromium, tmp_path):
    url = (docs / "static_index.html").as_uri() + "#!/model/model.cchc_kpi.fct_form06_statistics"
    dom = run_chromium(chromium, tmp_path, "--virtual-time-budget=15000", "--dump-dom", url).stdout
    text = " ".join(unescape(re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", dom, flags=re.S)).split())
    assert "Biểu số 06/VPCP/KSTT" in text
    assert "In progress at the evaluation date, past its due day / Đang giải quyết quá hạn." in text
