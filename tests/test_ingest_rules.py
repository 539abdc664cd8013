"""Parsing and row rules on small hand-made exports (no warehouse)."""

import datetime as dt
import io
import json
import unicodedata
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.config import PROJECT_ROOT
from pipelines.ingest.dialects import RejectedFile, _read_dvcqg_lines, parse_file, read_dvcqg, read_dvcqg_files
from pipelines.ingest.reference import SectorCatalogue, UnitRegistry, hash_applicant_id
from pipelines.ingest.rules import check_dossiers, check_pakn, check_ratings, parse_datetime

units = UnitRegistry.from_seed()
sectors = SectorCatalogue.from_seed()
SALT = "test-salt"
DROP = dt.date(2024, 6, 20)  # the night the test exports are dropped

IGATE_HEADER = (
    "STT,Mã hồ sơ,Mã thủ tục,Tên thủ tục,Lĩnh vực,Đơn vị xử lý,Hình thức nộp,Mức độ DVC,Người nộp,Số CCCD/CMND,"
    "Điện thoại,Ngày tiếp nhận,Ngày hẹn trả,Ngày có kết quả,Ngày trả kết quả,Trạng thái,Xác thực VNeID,Kết quả điện tử"
)


def igate_row(**overrides) -> str:
    row = {
        "STT": "1", "Mã hồ sơ": "H1", "Mã thủ tục": "1.1", "Tên thủ tục": '"Thủ tục, có dấu phẩy ""và ngoặc"""',
        "Lĩnh vực": "Hộ tịch", "Đơn vị xử lý": "UBND quận Ba Đình", "Hình thức nộp": "Trực tuyến",
        "Mức độ DVC": "Toàn trình", "Người nộp": "Nguyễn Văn A", "Số CCCD/CMND": "001 234.567890",
        "Điện thoại": "0912345678", "Ngày tiếp nhận": "03/05/2024 13:15", "Ngày hẹn trả": "23/05/2024",
        "Ngày có kết quả": "17/05/2024 10:20", "Ngày trả kết quả": "", "Trạng thái": "Đã trả kết quả",
        "Xác thực VNeID": "Có", "Kết quả điện tử": "Không",
    }  # fmt: skip
    row.update(overrides)
    return ",".join(row[h] for h in IGATE_HEADER.split(","))


def checked_igate(*rows: str, header: str = IGATE_HEADER, newline: str = "\n", bom: bool = False):
    text = newline.join([header, *rows]) + newline
    parsed = parse_file(Path("export.csv"), (("\ufeff" if bom else "") + text).encode(), units)
    return parsed, check_dossiers(parsed, units, sectors, SALT, DROP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20240503131500", dt.datetime(2024, 5, 3, 13, 15)),
        ("03/05/2024 13:15", dt.datetime(2024, 5, 3, 13, 15)),
        ("03/05/2024 13:15:09", dt.datetime(2024, 5, 3, 13, 15, 9)),
        ("03/05/2024", dt.datetime(2024, 5, 3)),
        ("2024-05-03 13:15:00", dt.datetime(2024, 5, 3, 13, 15)),
        ("2024-05-03", dt.datetime(2024, 5, 3)),
        ("31/02/2024", None),
        ("hôm qua", None),
    ],
)
def test_dates_in_every_export_format(text, expected):
    assert pl.DataFrame({"d": [text]}).select(parse_datetime("d")).item() == expected


def test_igate_row_is_typed_and_its_applicant_id_only_survives_hashed():
    parsed, checked = checked_igate(igate_row(), bom=True, newline="\r\n")
    assert parsed.dialect == "igate" and checked.quarantined.height == 0
    row = checked.loaded.row(0, named=True)
    assert row["unit_code"] == "001" and row["sector_code"] == "HT" and row["channel"] == 2
    assert row["service_level"] == "TOAN_TRINH" and row["status"] == 10
    assert row["vneid_authenticated"] is True and row["result_digitized"] is False
    assert row["procedure_name"] == 'Thủ tục, có dấu phẩy "và ngoặc"'
    assert row["applicant_hash"] == hash_applicant_id("001234567890", SALT)
    assert not {"applicant_id", "Người nộp", "Điện thoại"} & set(checked.loaded.columns)


def test_igate_columns_may_come_in_any_order():
    header = IGATE_HEADER.split(",")
    values = igate_row().split(",")
    # the quoted procedure name spans two comma-separated pieces; keep it whole when reordering
    values = values[:3] + [values[3] + "," + values[4]] + values[5:]
    shuffled = list(reversed(range(len(header))))
    _, checked = checked_igate(",".join(values[i] for i in shuffled), header=",".join(header[i] for i in shuffled))
    assert checked.loaded.height == 1 and checked.loaded["unit_code"].item() == "001"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Mã hồ sơ": ""}, "missing_dossier_id"),
        ({"Ngày hẹn trả": "32/05/2024"}, "unparseable_date"),
        ({"Ngày tiếp nhận": ""}, "missing_received_date"),
        ({"Ngày hẹn trả": ""}, "missing_due_date"),
        ({"Ngày có kết quả": "02/05/2024 23:00"}, "date_before_received"),
        ({"Đơn vị xử lý": "Quận 1"}, "unknown_unit"),
        ({"Đơn vị xử lý": "UBND phường Quang Trung"}, "ambiguous_unit"),
        ({"Lĩnh vực": "Thuế"}, "unknown_sector"),
        ({"Trạng thái": "Đã hủy"}, "unknown_status"),
        ({"Hình thức nộp": "Fax"}, "unknown_channel"),
        ({"Ngày có kết quả": "", "Ngày trả kết quả": ""}, "resolved_without_finish_date"),
        ({"Ngày có kết quả": "17/05/2100 10:20"}, "date_after_drop"),
        ({"Ngày tiếp nhận": "21/06/2024 08:00", "Ngày hẹn trả": "30/06/2024", "Ngày có kết quả": ""}, "date_after_drop"),
        ({"Ngày tiếp nhận": "03/05/1900 13:15"}, "date_before_2000"),
    ],
)
def test_each_row_rule_quarantines_with_its_reason_and_without_pii(overrides, reason):
    _, checked = checked_igate(igate_row(**overrides))
    assert checked.loaded.height == 0
    quarantined = checked.quarantined.row(0, named=True)
    assert reason in quarantined["reasons"].split("; ")
    assert "Nguyễn Văn A" not in quarantined["raw_values"] and "0912345678" not in quarantined["raw_values"]
    assert "567890" not in quarantined["raw_values"]


def test_a_row_whose_fields_are_out_of_place_keeps_no_value_and_an_aligned_one_keeps_its_own():
    """A line break inside a row before the applicant's name makes two rows: the first is the row's
    start, in place; the second has the name, ID number, phone and dates under the wrong headers,
    and keeps no value."""
    row = igate_row(**{"Mã hồ sơ": "H2", "Đơn vị xử lý": "Quận 1"})
    cut = row.index("Nguyễn Văn A")
    _, checked = checked_igate(row[:cut] + "\n" + row[cut:], igate_row(**{"Đơn vị xử lý": "Quận 1"}))
    assert checked.loaded.height == 0
    rows = checked.quarantined.rows(named=True)
    assert len(rows) == 3
    text = json.dumps(rows, ensure_ascii=False, default=str)
    assert "Nguyễn Văn A" not in text and "0912345678" not in text
    assert [r["record_key"] for r in rows] == ["H2", None, "H1"]
    assert json.loads(rows[1]["raw_values"]) == {"hidden": "the row's fields are out of place (a date column holds something else): its values are not kept"}
    assert json.loads(rows[2]["raw_values"])["unit_name"] == "Quận 1", "an aligned row keeps what the operator needs to fix it"


def test_same_day_finish_is_not_before_received_and_level_is_ignored_offline():
    _, checked = checked_igate(
        igate_row(**{"Ngày tiếp nhận": "19/01/2024 16:45", "Ngày hẹn trả": "19/01/2024", "Ngày có kết quả": "19/01/2024 08:40"}),
        igate_row(**{"Mã hồ sơ": "H2", "Hình thức nộp": "Trực tiếp", "Mức độ DVC": "Toàn trình"}),
        igate_row(**{"Mã hồ sơ": "H3", "Mức độ DVC": ""}),
    )
    assert checked.quarantined.height == 0
    assert checked.loaded["service_level"].to_list() == ["TOAN_TRINH", None, None]
    assert checked.online_without_level == 1


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ((IGATE_HEADER + "\n" + igate_row()).encode("cp1258", errors="replace") + "Đ".encode("cp1258"), "a.csv", "not UTF-8"),
        (IGATE_HEADER.replace(",Xác thực VNeID", "").encode(), "a.csv", "xác thực vneid"),
        (b"foo,bar\n1,2\n", "a.csv", "unrecognised format"),
        (b"hello", "a.txt", "unrecognised format"),
        (b"not a zip", "a.xlsx", "corrupt"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(content, name, message):
    with pytest.raises(RejectedFile, match=message):
        parse_file(Path(name), content, units)


def test_dvcqg_lines_absent_keys_and_digitised_results():
    lines = [
        {"MaHoSo": "D1", "MaLinhVuc": "DD", "TenLinhVuc": "Hộ tịch", "DonViXuLy": "STNMT", "KenhThucHien": 2,
         "MucDoDVC": "TOAN_TRINH", "NgayTiepNhan": "20240201080000", "NgayHenTra": "20240210170000",
         "NgayKetThucXuLy": "20240205090000", "TrangThaiHoSo": 10, "TaiKhoanDuocXacThucVoiVNeID": 1,
         "SoGiayToChuHoSo": "", "ChuHoSo": "Trần Thị B", "Extra": "ignored",
         "DanhSachGiayToKetQua": [{"DuongDanTepTinKetQua": ""}, {"DuongDanTepTinKetQua": "/kq/1.pdf"}]},
        {"MaHoSo": "D2", "MaLinhVuc": "DD", "DonViXuLy": "STNMT", "KenhThucHien": 1, "NgayTiepNhan": "20240201080000",
         "NgayHenTra": "20240210170000", "TrangThaiHoSo": 4, "DanhSachGiayToKetQua": [{"DuongDanTepTinKetQua": ""}]},
    ]  # fmt: skip
    content = ("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n{broken\n").encode()
    parsed = parse_file(Path("dept.jsonl"), content, units)
    checked = check_dossiers(parsed, units, sectors, SALT, DROP)
    assert checked.loaded["sector_code"].to_list() == ["DD", "DD"]  # the code wins over the name
    assert checked.loaded["result_digitized"].to_list() == [True, False]
    assert checked.loaded["applicant_hash"].to_list() == [None, None]
    assert checked.quarantined["reasons"].to_list() == ["malformed_line; missing_dossier_id; missing_received_date; missing_due_date; unknown_unit; unknown_sector; unknown_channel"]


def district_workbook(rows: list[list], title: tuple[str, ...] = ("ỦY BAN NHÂN DÂN", "QUẬN HOÀN KIẾM", "DANH SÁCH HỒ SƠ", "Ghi chú")) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for line in title:
        sheet.append([line])
    sheet.append([])
    sheet.append(["STT", "Số biên nhận", "Thủ tục", "Lĩnh vực", "Cấp xử lý", "Phường/Xã", "Kênh nộp", "Ngày nhận",
                  "Hẹn trả", "Ngày hoàn thành", "Ngày trả", "Tình trạng", "VNeID", "KQ điện tử", "Chủ hồ sơ", "Số giấy tờ"])  # fmt: skip
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_district_workbook_title_block_levels_mixed_dates_and_totals_row():
    content = district_workbook([
        [1, "X1", "Thủ tục", "Chứng thực", "Huyện", None, "Trực tuyến (toàn trình)", "27/05/2024",
         dt.datetime(2024, 6, 17), dt.datetime(2024, 6, 15, 18, 20), None, "Đã trả", "x", None, "Tên", 12345678901],
        [2, "X2", "Thủ tục", "Chứng thực", "Xã", "Phường Hàng Bạc", "Trực tuyến (một phần)", dt.datetime(2024, 1, 19, 16, 45),
         "22/01/2024", None, dt.datetime(2024, 1, 19, 10, 40), "Đã trả", None, "x", "Tên", "012345678"],
        [3, "X3", "Thủ tục", "Chứng thực", "Xã", "Phường Kim Mã", "BCCI", "01/02/2024", "05/02/2024", None, None,
         "Đang xử lý", None, None, "Tên", None],
        ["Tổng cộng", 3],
        [4, "FOOTER", "Thủ tục", "Chứng thực", "Huyện"],
    ])  # fmt: skip
    parsed = parse_file(Path("002.xlsx"), content, units)
    checked = check_dossiers(parsed, units, sectors, SALT, DROP)
    assert parsed.rows.height == 3  # the totals row ends the data; the footer is not read
    assert checked.loaded["dossier_id"].to_list() == ["X1", "X2"]
    assert checked.loaded["unit_code"].to_list() == ["002", "00061"]
    assert checked.loaded["received_at"].to_list() == [dt.datetime(2024, 5, 27), dt.datetime(2024, 1, 19, 16, 45)]
    assert checked.loaded["applicant_hash"].to_list() == [
        hash_applicant_id("012345678901", SALT),  # a numeric cell, padded to 12 digits
        hash_applicant_id("012345678", SALT),  # text keeps its own digits
    ]
    assert checked.quarantined["reasons"].to_list() == ["unknown_unit"]  # Kim Mã is not in Hoàn Kiếm


def test_workbook_without_header_or_district_is_rejected():
    with pytest.raises(RejectedFile, match="no header row"):
        parse_file(Path("a.xlsx"), district_workbook([], title=tuple(["x"] * 25)), units)
    with pytest.raises(RejectedFile, match="names no registered district"):
        parse_file(Path("a.xlsx"), district_workbook([], title=("ỦY BAN NHÂN DÂN", "QUẬN 1")), units)


def test_pakn_and_ratings_rules():
    pakn = parse_file(
        Path("p.csv"),
        "Mã PAKN,Mã đơn vị,Ngày tiếp nhận,Hạn xử lý,Ngày xử lý,Ngày công khai\n"
        "P1,001,01/03/2024,15/03/2024,10/03/2024,\nP2,999,01/03/2024,15/03/2024,,\nP3,001,01/03/2024,hôm nay,,\n".encode(),
        units,
    )
    checked = check_pakn(pakn, units, DROP)
    assert checked.loaded["pakn_id"].to_list() == ["P1"]
    assert checked.quarantined["reasons"].to_list() == ["unknown_unit", "unparseable_date"]

    ratings = parse_file(
        Path("r.csv"),
        "Mã hồ sơ,Mã đơn vị,Thời điểm đánh giá,Mức độ hài lòng\n"
        "H1,001,14/01/2024 19:07,Rất hài lòng\nH2,001,14/01/2024 19:07,Tuyệt vời\n".encode(),
        units,
    )
    checked = check_ratings(ratings, units, DROP)
    assert checked.loaded["level"].to_list() == [5]
    assert checked.quarantined["reasons"].to_list() == ["unknown_level"]


def test_district_workbook_written_in_nfd_still_resolves_its_communes():
    nfd = lambda text: unicodedata.normalize("NFD", text)  # noqa: E731
    content = district_workbook(
        [[1, "X1", "Thủ tục", nfd("Chứng thực"), nfd("Xã"), nfd("Phường Hàng Bạc"), nfd("Trực tiếp"), "01/02/2024",
          "05/02/2024", None, None, nfd("Đang xử lý"), None, None, "Tên", None]],  # fmt: skip
        title=(nfd("ỦY BAN NHÂN DÂN"), nfd("QUẬN HOÀN KIẾM")),
    )
    checked = check_dossiers(parse_file(Path("002.xlsx"), content, units), units, sectors, SALT, DROP)
    assert checked.quarantined.height == 0
    assert checked.loaded["unit_code"].to_list() == ["00061"]


def test_csv_and_json_exports_written_in_nfd_read_as_nfc():
    """NFC is checked on the file's text and skipped when it holds: an NFD file, or a JSON
    escape spelling a combining mark, must still be normalised."""
    nfd = lambda text: unicodedata.normalize("NFD", text)  # noqa: E731
    csv_text = IGATE_HEADER + "\n" + igate_row() + "\n"
    as_written = parse_file(Path("export.csv"), csv_text.encode(), units).rows
    assert as_written["unit_name"].to_list() == ["UBND quận Ba Đình"]
    assert_frame_equal(parse_file(Path("export.csv"), nfd(csv_text).encode(), units).rows, as_written)

    line = {"MaHoSo": "A1", "TenLinhVuc": "Hộ tịch", "DonViXuLy": "SNV", "TrangThaiHoSo": 10}
    as_written = parse_file(Path("SNV.jsonl"), json.dumps(line, ensure_ascii=False).encode(), units).rows
    for text in (nfd(json.dumps(line, ensure_ascii=False)), json.dumps({**line, "TenLinhVuc": nfd("Hộ tịch")})):
        assert_frame_equal(parse_file(Path("SNV.jsonl"), text.encode(), units).rows, as_written)
    assert as_written["sector_name"].to_list() == ["Hộ tịch"]


@pytest.mark.parametrize(
    "odd_line",
    ['{"KenhThucHien": 2.0}', '{"MaHoSo": true}', '{"MaHoSo": {"x": 1}}', '{"DanhSachGiayToKetQua": "abc"}', "null", "{bad json"],
)
def test_dvcqg_fast_reader_and_line_reader_agree(odd_line):
    good = '{"MaHoSo": " A1 ", "TrangThaiHoSo": 10, "DanhSachGiayToKetQua": [{"DuongDanTepTinKetQua": "/kq/a.pdf"}]}'
    for text in (good + "\n", f"{good}\n{odd_line}\n"):
        assert_frame_equal(read_dvcqg(text.encode()), _read_dvcqg_lines(text))
    assert read_dvcqg((good + "\n").encode()).row(0, named=True)["dossier_id"] == "A1"


def test_dvcqg_files_read_together_equal_each_read_alone():
    """One call of the reader for a drop's JSON Lines exports must give every file the frame it
    gets alone, whatever each file's blank lines, byte-order mark, line ends or normal form."""
    samples = sorted((PROJECT_ROOT / "data" / "raw" / "2024-06-20").glob("*.jsonl"))
    assert len(samples) > 10
    line = {"MaHoSo": "A1", "TenLinhVuc": "Hộ tịch", "DonViXuLy": "SNV", "TrangThaiHoSo": 10}
    nfc = json.dumps(line, ensure_ascii=False)
    hand_made = [
        ("\ufeff" + nfc + "\n").encode(),  # a byte-order mark
        f"\n{nfc}\n  \n\t\n{nfc}".encode(),  # blank lines, no newline at the end
        f"{nfc}\r\n\r\n{nfc}\r\n".encode(),  # Windows line ends
        b"",  # an empty export
        unicodedata.normalize("NFD", nfc).encode(),  # one file in NFD among NFC ones
        json.dumps({**line, "TenLinhVuc": "Ho\u0323 ti\u0323ch"}).encode(),  # an escape spelling a combining mark
    ]
    contents = [path.read_bytes() for path in samples] + hand_made
    together = read_dvcqg_files(contents)
    assert together is not None and len(together) == len(contents)
    for content, frame in zip(contents, together):
        assert_frame_equal(frame, read_dvcqg(content))
    assert [frame.height for frame in together[-6:]] == [1, 2, 2, 0, 1, 1]


@pytest.mark.parametrize("odd", [b'{"MaHoSo": "A1"}\n{bad json\n', b'{"MaHoSo": "A1"}\nnull\n', "Mã".encode("utf-16")])
def test_dvcqg_files_needing_care_are_not_read_together(odd):
    """A file the fast reader cannot take whole is left to read_dvcqg, which keeps its bad lines
    (or rejects it) file by file."""
    assert read_dvcqg_files([b'{"MaHoSo": "A1"}\n', odd]) is None


def test_a_due_date_ahead_of_the_drop_is_normal_and_an_event_on_the_drop_day_is_fine():
    _, checked = checked_igate(
        igate_row(**{"Ngày tiếp nhận": "20/06/2024 16:00", "Ngày hẹn trả": "15/07/2024", "Ngày có kết quả": "", "Trạng thái": "Đang xử lý"})
    )
    assert checked.quarantined.height == 0 and checked.loaded.height == 1


def test_pakn_and_ratings_dated_after_their_drop_are_quarantined():
    pakn = parse_file(
        Path("p.csv"),
        "Mã PAKN,Mã đơn vị,Ngày tiếp nhận,Hạn xử lý,Ngày xử lý,Ngày công khai\n"
        "P1,001,01/03/2024,15/09/2024,,\nP2,001,01/03/2024,15/03/2024,10/03/2099,\n".encode(),
        units,
    )
    assert check_pakn(pakn, units, DROP).quarantined["reasons"].to_list() == ["date_after_drop"]
    ratings = parse_file(Path("r.csv"), "Mã hồ sơ,Mã đơn vị,Thời điểm đánh giá,Mức độ hài lòng\nH1,001,14/01/1999 19:07,Hài lòng\n".encode(), units)
    assert check_ratings(ratings, units, DROP).quarantined["reasons"].to_list() == ["date_before_2000"]
