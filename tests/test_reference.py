import unicodedata

import polars as pl
import pytest

from pipelines.ingest.reference import (
    AMBIGUOUS_UNIT,
    SectorCatalogue,
    UnitRegistry,
    hash_applicant_id,
    normalized_applicant_id,
    spreadsheet_number_to_id,
)

units = UnitRegistry.from_seed()
sectors = SectorCatalogue.from_seed()


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("display_name", "code"),
    [
        ("Quận Ba Đình", "001"),
        ("UBND quận Ba Đình", "001"),
        ("Ủy ban nhân dân Quận Hai Bà Trưng", "007"),
        ("Uỷ ban nhân dân Quận Hai Bà Trưng", "007"),  # old tone placement
        ("  huyện   BA VÌ ", "271"),
        (nfd("Huyện Đan Phượng"), "273"),
        ("Sở Tư pháp", "STP"),
        ("Phường Kim Mã", "00028"),
        ("UBND phường Kim Mã, quận Ba Đình", "00028"),
        ("Phường Kim Mã (Ba Đình)", "00028"),
        (nfd("Phường Hàng Bạc (Quận Hoàn Kiếm)"), "00061"),
    ],
)
def test_display_names_match_registered_units(display_name, code):
    assert units.match_name(display_name) == code


@pytest.mark.parametrize(
    "display_name",
    ["Ba Đình", "Phường Kim Mã, quận Hoàn Kiếm", "Phường Kim Mã (Tây Hồ)", "Quận 1", "", None, "UBND"],
)
def test_anything_else_is_an_unknown_unit(display_name):
    assert units.match_name(display_name) is None


@pytest.mark.parametrize(
    ("display_name", "code"),
    [
        ("UBND phường Quang Trung", AMBIGUOUS_UNIT),  # Đống Đa and Hà Đông
        (nfd("Xã Tiền Phong"), AMBIGUOUS_UNIT),  # Mê Linh and Thường Tín
        ("Phường Quang Trung (Đống Đa)", "00214"),
        ("UBND phường Quang Trung, quận Hà Đông", "09538"),
        ("Phường Nguyễn Trung Trực (Ba Đình)", "00010"),  # former unit, from our own seed
    ],
)
def test_a_commune_name_two_districts_share_needs_its_district(display_name, code):
    assert units.match_name(display_name) == code


def test_inside_a_district_workbook_a_shared_commune_name_is_that_districts():
    assert units.match_commune("Phường Quang Trung", "006") == "00214"
    assert units.match_commune("Phường Quang Trung", "268") == "09538"


def test_workbook_title_names_a_district_and_communes_are_matched_inside_it():
    assert units.match_district_title("QUẬN HOÀN KIẾM") == "002"
    assert units.match_district_title("ỦY BAN NHÂN DÂN") is None
    assert units.match_district_title("DANH SÁCH HỒ SƠ THỦ TỤC HÀNH CHÍNH") is None
    assert units.match_commune("Phường Hàng Bạc", "002") == "00061"
    assert units.match_commune("Phường Hàng Bạc", "001") is None


def test_sector_code_wins_over_name_and_names_match_after_normalisation():
    assert sectors.code_for("DD", "Hộ tịch") == "DD"
    assert sectors.code_for(None, nfd("  đất   ĐAI ")) == "DD"
    assert sectors.code_for("NOPE", "Đất đai") is None
    assert sectors.code_for(None, "Thuế") is None


def test_applicant_ids_are_normalised_before_hashing():
    ids = pl.DataFrame({"id": [" 0123 456.789 ", " . "]}).select(normalized_applicant_id("id")).to_series().to_list()
    assert ids == ["0123456789", None]
    assert spreadsheet_number_to_id(12345678901.0) == "012345678901"
    digest = hash_applicant_id("012345678901", "salt")
    assert len(digest) == 64 and "012345678901" not in digest
    assert digest != hash_applicant_id("012345678901", "another salt")
