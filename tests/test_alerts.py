"""Alert state, outbox and delivery against real local SMTP and HTTP servers."""

import datetime as dt
import json
import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.alerts import deliver_pending, enqueue_weekly_digests, record_contact_problems, sync_kpi_alerts
from pipelines.config import AlertChannels
from pipelines.contacts import read_contacts, registered_unit_codes
from pipelines.defs.resources import CchcSettings
from pipelines.defs.sensors import new_drop_sensor, run_failure_alert
from tests.servers import RecordingSmtp, RecordingWebhook, free_port

NIGHT = dt.datetime(2024, 6, 21, 1, 30)


@pytest.fixture
def warehouse(sample_warehouse, tmp_path):
    """A writable copy of the sample warehouse (it has the dimensions), with no alert history."""
    path = tmp_path / "alerts.duckdb"
    shutil.copyfile(sample_warehouse["CCHC_WAREHOUSE"], path)
    with duckdb.connect(str(path)) as con:
        con.execute("drop view if exists audit.alerts; drop table if exists audit.alert_state; drop table if exists audit.alert_outbox")
        yield con


@pytest.fixture
def servers():
    smtp, webhook = RecordingSmtp().start(), RecordingWebhook().start()
    yield smtp, webhook
    smtp.stop()
    webhook.stop()


def channels_for(smtp, webhook) -> AlertChannels:
    return AlertChannels(smtp_host="127.0.0.1", smtp_port=smtp.port, email_to=("cchc@hanoi.test",), webhook_url=webhook.url)


def below(*rows) -> pd.DataFrame:
    columns = ["period", "unit_code", "kpi_code", "numerator", "denominator", "value", "target"]
    frame = pd.DataFrame(list(rows), columns=columns[:5])
    frame["value"] = (frame["numerator"] / frame["denominator"]).round(4)
    frame["target"] = frame["kpi_code"].map({"ONTIME": 1.0, "FULLY_ONLINE": 0.7})
    return frame[columns]


def alert_rows(con):
    return con.execute("select period, unit_code, kpi_code, status, times_alerted, email_state, webhook_state from audit.alerts order by all").fetchall()


def test_first_alerts_once_per_unit_then_nothing_on_an_unchanged_rerun(warehouse, servers):
    smtp, webhook = servers
    channels = channels_for(smtp, webhook)
    results = below(("2024-Q1", "001", "ONTIME", 9, 10), ("2024-Q1", "001", "FULLY_ONLINE", 5, 10), ("2024-Q2", "002", "ONTIME", 1, 2))

    report = sync_kpi_alerts(warehouse, results, channels, NIGHT)
    delivered = deliver_pending(warehouse, channels, NIGHT)
    assert (report.alerted, report.messages, delivered.sent, delivered.failed) == (3, 2, 4, 0)
    assert sorted(m["Subject"] for m in smtp.messages) == ["[CCHC] Quận Ba Đình: 2 chỉ tiêu chưa đạt", "[CCHC] Quận Hoàn Kiếm: 1 chỉ tiêu chưa đạt"]
    ba_dinh = next(m for m in smtp.messages if "Ba Đình" in m["Subject"]).get_content()
    assert "Kỳ báo cáo 2024-Q1" in ba_dinh and "Tỷ lệ hồ sơ TTHC giải quyết đúng hạn, trước hạn: 90,00% (9/10), mục tiêu 100,00%" in ba_dinh
    assert sorted(p["recipient_unit"] for p in webhook.payloads) == ["001", "002"]
    assert {a["kpi_code"] for p in webhook.payloads for a in p["alerts"]} == {"ONTIME", "FULLY_ONLINE"}
    assert [row[4:] for row in alert_rows(warehouse)] == [(1, "sent", "sent")] * 3

    again = sync_kpi_alerts(warehouse, results, channels, NIGHT + dt.timedelta(days=1))
    deliver_pending(warehouse, channels, NIGHT + dt.timedelta(days=1))
    assert (again.alerted, again.messages) == (0, 0)
    assert len(smtp.messages) == 2 and len(webhook.payloads) == 2


def test_city_and_level_rows_go_to_the_reform_office_and_a_running_period_says_its_data_date(warehouse, servers):
    smtp, webhook = servers
    channels = channels_for(smtp, webhook)
    results = below(("2024-Q1", "01", "ONTIME", 9, 10), ("2024-Q1", "CAP_HUYEN", "ONTIME", 5, 6), ("2025-Q1", "CAP_XA", "FULLY_ONLINE", 1, 4))

    report = sync_kpi_alerts(warehouse, results, channels, NIGHT)
    deliver_pending(warehouse, channels, NIGHT)
    assert (report.alerted, report.messages) == (3, 1)
    (message,) = smtp.messages
    assert message["Subject"] == "[CCHC] Thành phố Hà Nội: 3 chỉ tiêu chưa đạt"
    body = message.get_content()
    assert "Cấp huyện (quận, huyện, thị xã): Tỷ lệ hồ sơ TTHC giải quyết đúng hạn" in body
    assert "Kỳ báo cáo 2025-Q1 (số liệu đến ngày 20/12/2024):" in body and "Kỳ báo cáo 2024-Q1:" in body
    (payload,) = webhook.payloads
    assert payload["recipient_unit"] == "01"
    assert {(a["unit_code"], a["period_state"]) for a in payload["alerts"]} == {("01", "closed"), ("CAP_HUYEN", "closed"), ("CAP_XA", "running")}


def test_a_change_while_below_realerts_and_recovery_is_resolved(warehouse, servers):
    smtp, webhook = servers
    channels = channels_for(smtp, webhook)
    sync_kpi_alerts(warehouse, below(("2024-Q1", "001", "ONTIME", 9, 10), ("2024-Q1", "002", "ONTIME", 1, 2)), channels, NIGHT)
    deliver_pending(warehouse, channels, NIGHT)

    later = NIGHT + dt.timedelta(days=1)
    report = sync_kpi_alerts(warehouse, below(("2024-Q1", "001", "ONTIME", 18, 20)), channels, later)
    deliver_pending(warehouse, channels, later)
    assert (report.alerted, report.resolved, report.messages) == (1, 1, 1)
    assert alert_rows(warehouse) == [
        ("2024-Q1", "001", "ONTIME", "below", 2, "sent", "sent"),
        ("2024-Q1", "002", "ONTIME", "resolved", 1, "sent", "sent"),
    ]
    assert "(số liệu thay đổi)" in smtp.messages[-1].get_content() and len(smtp.messages) == 3

    relapse = sync_kpi_alerts(warehouse, below(("2024-Q1", "001", "ONTIME", 18, 20), ("2024-Q1", "002", "ONTIME", 1, 2)), channels, later)
    assert (relapse.alerted, relapse.messages) == (1, 1)  # the recovered unit fell below again


def test_a_channel_down_keeps_the_message_and_the_next_run_sends_it_once(warehouse, servers):
    smtp, webhook = servers
    down_smtp = AlertChannels(smtp_host="127.0.0.1", smtp_port=free_port(), email_to=("cchc@hanoi.test",), webhook_url=webhook.url)
    webhook.failing = True
    sync_kpi_alerts(warehouse, below(("2024-Q1", "001", "ONTIME", 9, 10)), down_smtp, NIGHT)
    failed = deliver_pending(warehouse, down_smtp, NIGHT)
    assert (failed.sent, failed.failed) == (0, 2)
    assert alert_rows(warehouse)[0][5:] == ("pending", "pending")

    webhook.failing = False
    recovered = channels_for(smtp, webhook)
    retried = deliver_pending(warehouse, recovered, NIGHT + dt.timedelta(days=1))
    again = deliver_pending(warehouse, recovered, NIGHT + dt.timedelta(days=2))
    assert (retried.sent, again.sent) == (2, 0)
    assert len(smtp.messages) == 1 and len(webhook.payloads) == 1
    assert alert_rows(warehouse)[0][5:] == ("sent", "sent")


def test_every_expected_below_row_is_alerted_and_no_other(sample_warehouse, expected_kpis):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        alerted = set(con.execute("select period, unit_code, kpi_code from audit.alerts where status = 'below'").fetchall())
        gate = con.execute(
            "select unexpected_rows from audit.validation_results where suite = 'kpi_targets' and not success"
        ).fetchall()
    below_rows = {(r["period"], r["unit_code"], r["kpi_code"]) for r in expected_kpis if r["status"] == "below"}
    other_rows = {(r["period"], r["unit_code"], r["kpi_code"]) for r in expected_kpis if r["status"] != "below"}
    assert below_rows <= alerted and not other_rows & alerted
    gated = {(row["period"], row["unit_code"], row["kpi_code"]) for (rows,) in gate for row in json.loads(rows)}
    expected_periods, expected_codes = {r["period"] for r in expected_kpis}, {r["kpi_code"] for r in expected_kpis}
    assert {key for key in gated if key[0] in expected_periods and key[2] in expected_codes} == below_rows


def test_new_drop_sensor_requests_a_run_for_folders_not_seen(tmp_path):
    settings = {"cchc": CchcSettings(environment={"CCHC_RAW_DIR": str(tmp_path)})}
    (tmp_path / "2024-06-20").mkdir()
    (tmp_path / "notes").mkdir()
    first = new_drop_sensor(dg.build_sensor_context(resources=settings))
    assert [r.run_key for r in first.run_requests] == ["drops:2024-06-20"]
    quiet = new_drop_sensor(dg.build_sensor_context(cursor=first.cursor, resources=settings))
    assert isinstance(quiet, dg.SkipReason)
    (tmp_path / "2024-06-21").mkdir()
    second = new_drop_sensor(dg.build_sensor_context(cursor=first.cursor, resources=settings))
    assert [r.run_key for r in second.run_requests] == ["drops:2024-06-21"]


def test_a_failed_run_is_alerted_in_the_published_state(tmp_path, servers):
    """The outbox lives in the build file, which the last good run published by renaming it: the
    failure is queued in a copy of what was published, not in a new empty file."""
    smtp, webhook = servers
    with duckdb.connect(str(tmp_path / "w.duckdb")) as published:
        published.execute("create schema audit; create table audit.earlier_night as select 1 as kept")
    settings = CchcSettings(
        environment={
            "CCHC_WAREHOUSE": str(tmp_path / "w.duckdb"), "CCHC_SMTP_HOST": "127.0.0.1", "CCHC_SMTP_PORT": str(smtp.port),
            "CCHC_ALERT_EMAIL_TO": "cchc@hanoi.test", "CCHC_ALERT_WEBHOOK_URL": webhook.url,
        }
    )  # fmt: skip

    @dg.op
    def breaks():
        raise dg.Failure("the drop folder vanished")

    @dg.job
    def nightly():
        breaks()

    instance = dg.DagsterInstance.ephemeral()
    result = nightly.execute_in_process(instance=instance, raise_on_error=False)
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()  # fmt: skip
    run_failure_alert(context, cchc=settings)
    assert [m["Subject"] for m in smtp.messages] == ["[CCHC] Lượt chạy đêm bị lỗi"]
    assert webhook.payloads[0]["kind"] == "run_failed" and webhook.payloads[0]["step"] == "breaks"
    with duckdb.connect(str(tmp_path / "w.build.duckdb"), read_only=True) as build:
        assert build.execute("select kept from audit.earlier_night").fetchall() == [(1,)]
        assert build.execute("select kind from audit.alert_outbox").fetchall() == [("run_failed",)]


def test_each_unit_hears_from_its_own_contacts_with_the_office_copied(warehouse, servers, tmp_path):
    smtp, webhook = servers
    channels = channels_for(smtp, webhook)
    contacts = read_contacts(
        contacts_file(tmp_path, "unit_code,email,name\n001,vp@badinh.test,VP\n001,cchc@badinh.test,Tổ CCHC\n002,broken@,x\n"),
        registered_unit_codes(),
    )
    results = below(("2024-Q1", "001", "ONTIME", 9, 10), ("2024-Q1", "002", "ONTIME", 1, 2), ("2024-Q1", "CAP_XA", "ONTIME", 5, 6))

    sync_kpi_alerts(warehouse, results, channels, NIGHT, contacts)
    assert record_contact_problems(warehouse, contacts, channels, NIGHT) == 1
    deliver_pending(warehouse, channels, NIGHT)
    received = {m["Subject"]: (m["To"], m["Cc"], rcpt) for m, rcpt in zip(smtp.messages, smtp.envelope_recipients, strict=True)}
    assert received["[CCHC] Quận Ba Đình: 1 chỉ tiêu chưa đạt"] == (
        "vp@badinh.test, cchc@badinh.test", "cchc@hanoi.test", ["cchc@badinh.test", "cchc@hanoi.test", "vp@badinh.test"]
    )
    # Hoàn Kiếm's only row is unusable: its message goes to the office, and the office learns why.
    assert received["[CCHC] Quận Hoàn Kiếm: 1 chỉ tiêu chưa đạt"] == ("cchc@hanoi.test", None, ["cchc@hanoi.test"])
    assert received["[CCHC] Thành phố Hà Nội: 1 chỉ tiêu chưa đạt"][0] == "cchc@hanoi.test"
    problem_mail = received["[CCHC] Danh bạ nhận cảnh báo: 1 dòng không dùng được"]
    assert problem_mail[0] == "cchc@hanoi.test"
    assert warehouse.execute("select line, unit_code, email, problem from audit.contact_problems").fetchall() == [
        (4, "002", "broken@", "malformed e-mail address")
    ]
    by_unit = {p["recipient_unit"]: p for p in webhook.payloads if p["kind"] == "kpi_below"}
    assert by_unit["001"]["email_to"] == ["vp@badinh.test", "cchc@badinh.test"]

    # The same unusable row the next night is still listed, but the office is not told twice.
    record_contact_problems(warehouse, contacts, channels, NIGHT + dt.timedelta(days=1))
    deliver_pending(warehouse, channels, NIGHT + dt.timedelta(days=1))
    assert len(smtp.messages) == 4


def test_the_first_run_of_each_week_sends_each_unit_a_digest_of_what_is_still_below(warehouse, servers, tmp_path):
    smtp, webhook = servers
    channels = channels_for(smtp, webhook)
    contacts = read_contacts(contacts_file(tmp_path, "unit_code,email,name\n001,vp@badinh.test,VP\n"), registered_unit_codes())
    monday = dt.datetime(2024, 6, 24, 1, 30)
    sync_kpi_alerts(warehouse, below(("2024-Q1", "001", "ONTIME", 9, 10), ("2024-Q2", "001", "FULLY_ONLINE", 1, 2), ("2024-Q1", "002", "ONTIME", 1, 2)), channels, NIGHT, contacts)
    # Hoàn Kiếm recovers before Monday: the digest lists only what is still below.
    sync_kpi_alerts(warehouse, below(("2024-Q1", "001", "ONTIME", 9, 10), ("2024-Q2", "001", "FULLY_ONLINE", 1, 2)), channels, monday, contacts)
    deliver_pending(warehouse, channels, monday)
    smtp.messages.clear()
    smtp.envelope_recipients.clear()

    assert enqueue_weekly_digests(warehouse, channels, monday, contacts) == 1
    assert enqueue_weekly_digests(warehouse, channels, monday + dt.timedelta(days=1), contacts) == 0
    deliver_pending(warehouse, channels, monday)
    (digest,) = smtp.messages
    assert digest["Subject"] == "[CCHC] Quận Ba Đình: tổng hợp tuần 2024-W26, 2 chỉ tiêu còn chưa đạt"
    assert (digest["To"], digest["Cc"]) == ("vp@badinh.test", "cchc@hanoi.test")
    text = digest.get_content()
    assert "Kỳ báo cáo 2024-Q1" in text and "Kỳ báo cáo 2024-Q2" in text and "90,00% (9/10)" in text
    assert [p["week"] for p in webhook.payloads if p["kind"] == "weekly_digest"] == ["2024-W26"]
    assert enqueue_weekly_digests(warehouse, channels, monday + dt.timedelta(days=7), contacts) == 1


def contacts_file(tmp_path, text):
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8")
    return path
