"""Writes the sample drops' key-task progress and self-report files (``make plan-samples``).

Deterministic: the same files every time, so the committed samples are this script's output
(a test checks it) and the hand-checked results in ``tests/test_plan.py`` stay true. Each drop
mixes good rows with one row for every quarantine rule of docs/plan-exports.md; the second drop
corrects, withdraws and adds reports, as units do.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipelines.config import PROJECT_ROOT

PROGRESS_HEADER = ["Mã nhiệm vụ", "Mã đơn vị", "Ngày hoàn thành", "Số văn bản", "Ghi chú"]
SELF_REPORT_HEADER = ["Mã đơn vị", "Kỳ báo cáo", "Mã chỉ tiêu", "Tử số", "Mẫu số", "Ghi chú"]

PROGRESS = {
    "2024-06-20": [
        ["1.1", "SNV", "02/02/2024", "125/KH-SNV", ""],
        ["1.2", "SNV", "20/02/2024", "130/KH-SNV", ""],
        ["1.2", "001", "25/02/2024", "45/KH-UBND", "Ban hành muộn"],
        ["1.2", "STP", "21/02/2024", "12/KH-STP", ""],
        ["2.1", "SNV", "28/02/2024", "140/KH-SNV", ""],
        ["3.1", "STTTT", "05/03/2024", "20/KH-STTTT", ""],
        ["4.1", "SNV", "29/02/2024", "150/KH-SNV", ""],
        ["6.1", "SNV", "14/03/2024", "01/BC-SNV", ""],
        ["6.2", "SNV", "15/06/2024", "02/BC-SNV", ""],
        ["10.1", "SNV", "30/05/2024", "300/KH-SNV", ""],
        # a note may name a person: read, never kept
        ["1.2", "006", "20/02/2024", "77/KH-UBND", "Liên hệ: Nguyễn Thị Mẫu Test 0912345678"],
        ["1.2", "002", "20/02/2024", "", ""],  # missing_document_number
        ["99.1", "SNV", "01/03/2024", "1/KH-SNV", ""],  # unknown_milestone
        ["6.1", "STP", "01/03/2024", "2/KH-STP", ""],  # not_an_obligee
        ["1.2", "XYZ", "20/02/2024", "3/KH", ""],  # unknown_unit
        ["2.2", "003", "31/02/2024", "4/KH-UBND", ""],  # unparseable_date
        ["2.2", "004", "25/06/2024", "5/KH-UBND", ""],  # date_after_drop
        ["2.2", "005", "01/01/1999", "6/KH-UBND", ""],  # date_before_2000
    ],
    "2024-12-20": [
        ["6.3", "SNV", "10/09/2024", "03/BC-SNV", ""],
        ["6.4", "SNV", "20/12/2024", "04/BC-SNV", ""],
        ["10.1", "SNV", "", "", "Báo cáo nhầm, rút lại"],  # withdraws the June report
        ["1.2", "001", "19/02/2024", "45/KH-UBND", "Sửa ngày ban hành"],  # corrects the June report
        ["12.1", "SNV", "15/10/2024", "400/KH-SNV", ""],
        ["30.1", "SNV", "25/11/2024", "10/BC-SNV", ""],
        ["12.1", "SNV", "15/10/2024", "400/KH-SNV", ""],  # sent twice: the later row wins, same values
        ["", "SNV", "15/10/2024", "401/KH-SNV", ""],  # unknown_milestone (empty)
    ],
}

SELF_REPORTS = {
    "2024-06-20": [
        ["SNV", "2024-Q1", "TRAIN_DIGITAL", "120", "130", ""],
        ["SNV", "2024-Q1", "TRAIN_DATA", "30", "130", ""],
        ["SNV", "2024-Q2", "TRAIN_DIGITAL", "130", "130", ""],
        ["001", "2024-Q1", "WORK_PLATFORM", "55", "100", ""],
        ["001", "2024-Q2", "WORK_PLATFORM", "62", "100", ""],
        ["STP", "2024-H1", "E_ARCHIVE", "400", "500", ""],
        ["ZZZ", "2024-Q1", "E_ARCHIVE", "1", "2", ""],  # unknown_unit
        ["00001", "2024-Q1", "E_ARCHIVE", "1", "2", ""],  # not_a_reporting_unit (a commune)
        ["SNV", "2024-Q5", "E_ARCHIVE", "1", "2", ""],  # unknown_period
        ["SNV", "2024-Q4", "E_ARCHIVE", "1", "2", ""],  # unknown_period (not begun by the drop)
        ["SNV", "2024-Q1", "TRAIN_X", "1", "2", ""],  # unknown_indicator
        ["SNV", "2024-Q1", "ROTATION", "-3", "10", ""],  # count_not_a_whole_number
        ["SNV", "2024-Q1", "JOB_POSITION", "12,5", "20", ""],  # count_not_a_whole_number
        ["SNV", "2024-Q1", "ARCHIVE_ONLINE", "21", "20", ""],  # numerator_above_denominator
    ],
    "2024-12-20": [
        ["SNV", "2024-Q3", "TRAIN_DIGITAL", "128", "130", ""],
        ["SNV", "2024-Q4", "TRAIN_DIGITAL", "129", "131", ""],
        ["001", "2024-Q2", "WORK_PLATFORM", "64", "100", "Sửa số liệu quý II"],  # corrects June's 62
        ["001", "2024-Q3", "WORK_PLATFORM", "58", "100", ""],
        ["001", "2024-Q3", "DIGITAL_INSPECTION", "", "12", ""],  # count_not_a_whole_number
    ],
}


def file_texts() -> dict[Path, str]:
    """Relative path under the raw folder -> the file's text."""
    texts = {}
    for name, header, drops in (("nhiem_vu_tien_do", PROGRESS_HEADER, PROGRESS), ("chi_tieu_tu_bao_cao", SELF_REPORT_HEADER, SELF_REPORTS)):
        for drop, rows in drops.items():
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            texts[Path(drop) / f"{name}_{drop.replace('-', '')}.csv"] = out.getvalue()
    return texts


def main() -> None:
    raw = PROJECT_ROOT / "data" / "raw"
    for relative, text in file_texts().items():
        (raw / relative).write_text(text, encoding="utf-8")
        print(f"wrote {raw / relative}")


if __name__ == "__main__":
    main()
