"""Alerts: who fell below which target, told once, by e-mail and webhook, through an outbox.

State lives in the build warehouse, which persists between runs:
- ``audit.alert_state``: one row per (period, unit, KPI) ever alerted, open or resolved;
- ``audit.alert_outbox``: one message per recipient unit and run (or per rejected file, per failed
  run, per unit and week for the digest), its addresses and the delivery state of each channel;
  undelivered messages are retried on every run;
- ``audit.alerts``: the view analysts read, alert rows with their last message's channel states;
- ``audit.contact_problems``: the rows of the operator's contacts file that could not be used.
A message is marked sent on a channel right after that channel accepted it: nothing is sent twice.
A unit's messages go to its own contacts with the city's reform office copied (the office alone for
a unit without contacts); the city's and the levels' rows, rejected files and failed runs go to the
office, the city unit ``01``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import smtplib
import urllib.request
import uuid
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage

import duckdb
import pandas as pd

from pipelines.config import AlertChannels
from pipelines.contacts import Contacts, Recipients, recipients_for
from pipelines.storage import connect_build

CITY = "01"

SCHEMA = """
create schema if not exists audit;
create table if not exists audit.alert_outbox (
    message_id varchar primary key,
    reference varchar,            -- what the message is about: run, file or alert batch
    kind varchar,                 -- kpi_below | file_rejected | run_failed
    recipient_unit varchar,
    created_at timestamp,
    subject varchar,
    body varchar,
    payload json,
    email_to varchar,             -- the addresses, comma-separated, decided when the message was written
    email_cc varchar,
    email_state varchar,          -- pending | sent | failed (cannot be built) | not_configured
    email_sent_at timestamp,
    webhook_state varchar,
    webhook_sent_at timestamp,
    attempts integer default 0,
    last_error varchar
);
-- warehouses built before unit contacts existed
alter table audit.alert_outbox add column if not exists email_to varchar;
alter table audit.alert_outbox add column if not exists email_cc varchar;
create table if not exists audit.contact_problems (line integer, unit_code varchar, email varchar, problem varchar);
create table if not exists audit.alert_state (
    period varchar, unit_code varchar, kpi_code varchar,
    numerator bigint, denominator bigint, value decimal(10, 4), target decimal(3, 2),
    status varchar,               -- open | resolved
    first_alerted_at timestamp, last_alerted_at timestamp, resolved_at timestamp,
    times_alerted integer, last_message_id varchar,
    primary key (period, unit_code, kpi_code)
);
create or replace view audit.alerts as
select s.period, s.unit_code, s.kpi_code, s.numerator, s.denominator, s.value, s.target,
       case s.status when 'open' then 'below' else 'resolved' end as status,
       s.first_alerted_at, s.last_alerted_at, s.resolved_at, s.times_alerted,
       o.email_state, o.webhook_state, s.last_message_id
from audit.alert_state as s
left join audit.alert_outbox as o on o.message_id = s.last_message_id;
"""


@dataclass(frozen=True)
class SyncReport:
    alerted: int
    resolved: int
    messages: int


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int
    errors: tuple[str, ...]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA)


def _percent(value) -> str:
    return f"{Decimal(str(value)) * 100:.2f}".replace(".", ",") + "%"


def _period_heading(row) -> str:
    """``Kỳ báo cáo 2025-Q1 (số liệu đến ngày 20/12/2024)``: a running period says how far its data go."""
    heading = f"Kỳ báo cáo {row.period}"
    if row.period_state == "running":
        heading += f" (số liệu đến ngày {row.evaluation_on:%d/%m/%Y})"
    return heading + ":"


def _kpi_message(recipient_name: str, rows: pd.DataFrame, digest_week: str | None = None) -> tuple[str, str]:
    """The message of newly alerted rows or, given ``digest_week``, the week's digest of what is
    still below target."""
    if digest_week:
        subject = f"[CCHC] {recipient_name}: tổng hợp tuần {digest_week}, {len(rows)} chỉ tiêu còn chưa đạt"
        finding = f"tổng hợp tuần {digest_week} các chỉ tiêu vẫn chưa đạt mục tiêu:"
    else:
        subject = f"[CCHC] {recipient_name}: {len(rows)} chỉ tiêu chưa đạt"
        finding = "ghi nhận các chỉ tiêu chưa đạt mục tiêu sau:"
    lines = [
        f"Kính gửi {recipient_name},",
        "",
        f"Hệ thống theo dõi Kế hoạch cải cách hành chính năm 2024 (Quyết định 6745/QĐ-UBND) {finding}",
    ]
    for _, group in rows.groupby("period", sort=False):
        lines += ["", _period_heading(group.iloc[0])]
        for row in group.itertuples():
            change = " (số liệu thay đổi)" if getattr(row, "change", "new") == "changed" else ""
            # The city office also receives the city's and the levels' rows: each names its row.
            whose = "" if row.unit_name == recipient_name else f"{row.unit_name}: "
            lines.append(
                f"  - {whose}{row.kpi_name}: {_percent(row.value)} ({row.numerator}/{row.denominator}), "
                f"mục tiêu {_percent(row.target)}{change}"
            )
    lines += ["", "Đề nghị đơn vị rà soát và có biện pháp khắc phục."]
    return subject, "\n".join(lines)


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Text fit for a header: file and unit names are data, and a line feed in one must not end
    the Subject (or start a header of its own)."""
    return _CONTROL_CHARACTERS.sub(" ", text).strip()


def _enqueue(con, *, reference, kind, recipient_unit, subject, body, payload, channels: AlertChannels, contacts: Contacts, now) -> str:
    message_id = str(uuid.uuid4())
    subject = one_line(subject)
    recipients = recipients_for(recipient_unit, contacts, channels.email_to)
    payload = {**payload, "subject": subject, "email_to": list(recipients.to), "email_cc": list(recipients.cc)}
    con.execute(
        "insert into audit.alert_outbox (message_id, reference, kind, recipient_unit, created_at, subject, body, payload,"
        " email_to, email_cc, email_state, webhook_state) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            message_id, reference, kind, recipient_unit, now, subject, body, json.dumps(payload, ensure_ascii=False, default=str),
            ", ".join(recipients.to), ", ".join(recipients.cc),
            "pending" if channels.smtp_host and recipients.to else "not_configured",
            "pending" if channels.webhook_url else "not_configured",
        ],
    )  # fmt: skip
    return message_id


def sync_kpi_alerts(
    con: duckdb.DuckDBPyConnection, below: pd.DataFrame, channels: AlertChannels, now: dt.datetime, contacts: Contacts = Contacts()
) -> SyncReport:
    """Alerts each (period, unit, KPI) newly below or changed while below; resolves recovered ones.

    ``below`` has one row per unit result below target, with the columns of marts.kpi_results.
    """
    ensure_schema(con)
    con.register("below_now", below[["period", "unit_code", "kpi_code", "numerator", "denominator", "value", "target"]])
    to_alert = con.execute(
        """
        select b.*, case when s.period is null or s.status = 'resolved' then 'new' else 'changed' end as change,
               u.unit_name, k.name_vi as kpi_name, p.state as period_state, p.evaluation_on,
               -- the city's and the level roll-ups' rows go to the city's reform office
               case when u.level in ('city', 'roll_up') then ? else b.unit_code end as recipient_unit,
               coalesce(recipient.unit_name, u.unit_name) as recipient_name
        from below_now as b
        left join audit.alert_state as s using (period, unit_code, kpi_code)
        join marts.dim_units as u using (unit_code)
        join marts.dim_kpis as k using (kpi_code)
        join marts.dim_periods as p on p.period_code = b.period
        left join marts.dim_units as recipient on recipient.unit_code = ? and u.level in ('city', 'roll_up')
        where s.period is null or s.status = 'resolved'
           or s.numerator <> b.numerator or s.denominator <> b.denominator
        order by u.registry_order, p.period_order, k.kpi_order
        """,
        [CITY, CITY],
    ).df()
    resolved = con.execute(
        """
        update audit.alert_state as s set status = 'resolved', resolved_at = ?
        where s.status = 'open'
          and not exists (select 1 from below_now as b
                          where b.period = s.period and b.unit_code = s.unit_code and b.kpi_code = s.kpi_code)
        returning 1
        """,
        [now],
    ).fetchall()

    message_ids = {}
    for unit_code, rows in to_alert.groupby("recipient_unit", sort=False):
        unit_name = rows["recipient_name"].iloc[0]
        subject, body = _kpi_message(unit_name, rows)
        alerts = rows[["period", "unit_code", "unit_name", "kpi_code", "kpi_name", "numerator", "denominator", "value", "target", "change"]]
        payload = {
            "kind": "kpi_below",
            "recipient_unit": unit_code,
            "unit_name": unit_name,
            "subject": subject,
            "text": body,
            "alerts": alerts.assign(evaluated_on=rows["evaluation_on"].astype(str), period_state=rows["period_state"]).to_dict("records"),
        }
        message_ids[unit_code] = _enqueue(
            con, reference=f"kpi:{unit_code}:{now.isoformat()}", kind="kpi_below", recipient_unit=unit_code,
            subject=subject, body=body, payload=payload, channels=channels, contacts=contacts, now=now,
        )  # fmt: skip
    alerted = to_alert.assign(message_id=to_alert["recipient_unit"].map(message_ids))  # noqa: F841 (read by DuckDB)
    # One statement for every alerted row: row-by-row upserts cost seconds at city scale.
    con.execute(
        """
        insert into audit.alert_state
        select period, unit_code, kpi_code, numerator, denominator, value, target, 'open', $now, $now, null, 1, message_id
        from alerted
        on conflict (period, unit_code, kpi_code) do update set
            numerator = excluded.numerator, denominator = excluded.denominator, value = excluded.value,
            target = excluded.target, status = 'open', last_alerted_at = excluded.last_alerted_at,
            resolved_at = null, times_alerted = audit.alert_state.times_alerted + 1,
            last_message_id = excluded.last_message_id
        """,
        {"now": now},
    )
    messages = len(message_ids)
    con.unregister("below_now")
    return SyncReport(alerted=len(to_alert), resolved=len(resolved), messages=messages)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def enqueue_weekly_digests(con: duckdb.DuckDBPyConnection, channels: AlertChannels, now: dt.datetime, contacts: Contacts = Contacts()) -> int:
    """The week's first run writes each recipient a digest of its results still below target."""
    ensure_schema(con)
    week = iso_week(now.date())
    still_below = con.execute(
        """
        select s.period, s.unit_code, s.kpi_code, s.numerator, s.denominator, s.value, s.target,
               u.unit_name, k.name_vi as kpi_name, p.state as period_state, p.evaluation_on,
               case when u.level in ('city', 'roll_up') then $city else s.unit_code end as recipient_unit,
               coalesce(recipient.unit_name, u.unit_name) as recipient_name
        from audit.alert_state as s
        join marts.dim_units as u using (unit_code)
        join marts.dim_kpis as k using (kpi_code)
        join marts.dim_periods as p on p.period_code = s.period
        left join marts.dim_units as recipient on recipient.unit_code = $city and u.level in ('city', 'roll_up')
        where s.status = 'open'
          and 'digest:' || recipient_unit || ':' || $week not in (select reference from audit.alert_outbox where kind = 'weekly_digest')
        order by u.registry_order, p.period_order, k.kpi_order
        """,
        {"city": CITY, "week": week},
    ).df()
    for unit_code, rows in still_below.groupby("recipient_unit", sort=False):
        unit_name = rows["recipient_name"].iloc[0]
        subject, body = _kpi_message(unit_name, rows, digest_week=week)
        alerts = rows[["period", "unit_code", "unit_name", "kpi_code", "kpi_name", "numerator", "denominator", "value", "target"]]
        _enqueue(
            con, reference=f"digest:{unit_code}:{week}", kind="weekly_digest", recipient_unit=unit_code,
            subject=subject, body=body, channels=channels, contacts=contacts, now=now,
            payload={"kind": "weekly_digest", "week": week, "recipient_unit": unit_code, "unit_name": unit_name,
                     "text": body, "alerts": alerts.to_dict("records")},
        )  # fmt: skip
    return still_below["recipient_unit"].nunique()


def record_contact_problems(con: duckdb.DuckDBPyConnection, contacts: Contacts, channels: AlertChannels, now: dt.datetime) -> int:
    """Keeps the unusable contact rows in ``audit.contact_problems`` and tells the reform office
    once per distinct list."""
    ensure_schema(con)
    con.execute("delete from audit.contact_problems")
    if not contacts.problems:
        return 0
    rows = [(p.line, p.unit_code, p.email, p.problem) for p in contacts.problems]
    con.executemany("insert into audit.contact_problems values (?, ?, ?, ?)", rows)
    reference = "contacts:" + hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    if not con.execute("select 1 from audit.alert_outbox where reference = ?", [reference]).fetchone():
        subject = f"[CCHC] Danh bạ nhận cảnh báo: {len(rows)} dòng không dùng được"
        body = "\n".join(
            ["Các dòng sau trong tệp danh bạ đơn vị (CCHC_UNIT_CONTACTS) bị bỏ qua cho đến khi được sửa:", ""]
            + [f"  - dòng {line}: {unit_code or '(trống)'}, {email or '(trống)'}: {problem}" for line, unit_code, email, problem in rows]
        )
        _enqueue(
            con, reference=reference, kind="contacts_invalid", recipient_unit=CITY, subject=subject, body=body,
            payload={"kind": "contacts_invalid", "text": body, "problems": [p.__dict__ for p in contacts.problems]},
            channels=channels, contacts=Contacts(), now=now,
        )  # fmt: skip
    return len(rows)


def enqueue_rejected_files(con: duckdb.DuckDBPyConnection, channels: AlertChannels, now: dt.datetime, contacts: Contacts = Contacts()) -> int:
    """One message to the reform office (the city unit) per rejected file not yet reported."""
    ensure_schema(con)
    rejected = con.execute(
        """
        select path, file_hash, reason from audit.ingested_files
        where status = 'rejected'
          and 'file:' || file_hash || ':' || path not in (select reference from audit.alert_outbox where kind = 'file_rejected')
        order by path
        """
    ).fetchall()
    for path, file_hash, reason in rejected:
        subject = f"[CCHC] Tệp bị từ chối: {path}"
        body = f"Tệp {path} trong thư mục dữ liệu đêm đã bị từ chối và không được nạp.\nLý do: {reason}\n\nĐề nghị đơn vị gửi lại tệp đã sửa."
        _enqueue(
            con, reference=f"file:{file_hash}:{path}", kind="file_rejected", recipient_unit=CITY, subject=subject,
            body=body, payload={"kind": "file_rejected", "path": path, "reason": reason, "subject": subject, "text": body},
            channels=channels, contacts=contacts, now=now,
        )  # fmt: skip
    return len(rejected)


def enqueue_run_failure(con: duckdb.DuckDBPyConnection, run_id: str, step: str, error: str, channels: AlertChannels, now: dt.datetime) -> None:
    ensure_schema(con)
    subject = "[CCHC] Lượt chạy đêm bị lỗi"
    body = f"Lượt chạy {run_id} dừng ở bước {step}.\nLỗi: {error}\n\nKho dữ liệu công bố gần nhất được giữ nguyên."
    _enqueue(
        con, reference=f"run:{run_id}", kind="run_failed", recipient_unit=CITY, subject=subject, body=body,
        payload={"kind": "run_failed", "run_id": run_id, "step": step, "error": error, "subject": subject, "text": body},
        channels=channels, contacts=Contacts(), now=now,
    )  # fmt: skip


def _send_email(channels: AlertChannels, subject: str, body: str, recipients: Recipients) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = channels.email_from
    message["To"] = ", ".join(recipients.to)
    if recipients.cc:
        message["Cc"] = ", ".join(recipients.cc)
    message.set_content(body, charset="utf-8")
    with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=10) as smtp:
        if channels.smtp_starttls:
            smtp.starttls()
        if channels.smtp_user:
            smtp.login(channels.smtp_user, channels.smtp_password or "")
        smtp.send_message(message)


def _post_webhook(url: str, payload: str) -> None:
    request = urllib.request.Request(
        url, data=payload.encode("utf-8"), method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the operator's URL)
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered HTTP {response.status}")


def _addresses(joined: str | None) -> tuple[str, ...]:
    return tuple(address.strip() for address in (joined or "").split(",") if address.strip())


def deliver_pending(con: duckdb.DuckDBPyConnection, channels: AlertChannels, now: dt.datetime) -> DeliveryReport:
    """Sends every pending message on every configured channel; a failure leaves it pending."""
    ensure_schema(con)
    pending = con.execute(
        "select message_id, subject, body, payload, email_to, email_cc, email_state, webhook_state from audit.alert_outbox "
        "where email_state = 'pending' or webhook_state = 'pending' order by created_at, message_id"
    ).fetchall()
    sent, failed, errors = 0, 0, []
    for message_id, subject, body, payload, email_to, email_cc, email_state, webhook_state in pending:
        # A message written before unit contacts existed has no addresses: it goes to the office.
        recipients = Recipients(_addresses(email_to) or channels.email_to, _addresses(email_cc))
        deliveries = []
        if email_state == "pending" and channels.smtp_host and recipients.to:
            deliveries.append(("email", lambda: _send_email(channels, subject, body, recipients)))
        if webhook_state == "pending" and channels.webhook_url:
            deliveries.append(("webhook", lambda: _post_webhook(channels.webhook_url, payload)))
        for channel, send in deliveries:
            try:
                send()
            except (OSError, smtplib.SMTPException) as error:
                # The channel is down: the message stays pending and is retried next run.
                failed += 1
                message = f"{channel}: {type(error).__name__}: {error}"
                errors.append(message)
                con.execute(
                    "update audit.alert_outbox set attempts = attempts + 1, last_error = ? where message_id = ?",
                    [message, message_id],
                )
                continue
            except Exception as error:  # noqa: BLE001 (this message cannot be built: it fails alone)
                failed += 1
                message = f"{channel}: the message could not be built ({type(error).__name__})"
                errors.append(message)
                con.execute(
                    f"update audit.alert_outbox set {channel}_state = 'failed', attempts = attempts + 1, last_error = ? "
                    "where message_id = ?",
                    [message, message_id],
                )
                continue
            sent += 1
            con.execute(
                f"update audit.alert_outbox set {channel}_state = 'sent', {channel}_sent_at = ?, attempts = attempts + 1 "
                "where message_id = ?",
                [now, message_id],
            )
    return DeliveryReport(sent, failed, tuple(errors))


def alert_run_failure(build_db, channels: AlertChannels, run_id: str, step: str, error: str) -> DeliveryReport:
    """Records a failed run in the outbox and tries to deliver everything pending."""
    now = dt.datetime.now()
    with connect_build(build_db) as con:
        enqueue_run_failure(con, run_id, step, error, channels, now)
        return deliver_pending(con, channels, now)
