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
from email.message import EmailMessage

import duckdb
import pandas as pd

from pipelines.config import AlertChannels
from pipelines.contacts import NO_CONTACTS, Contacts, Recipients, recipients_for
from pipelines.storage import connect_build, grouped, rows_as_dicts
from pipelines.vietnamese import CITY_CODE, percent, period_heading, vn_date

SCHEMA = """
create schema if not exists audit;
create table if not exists audit.alert_outbox (
    message_id varchar primary key,
    reference varchar,            -- what the message is about: run, file or alert batch
    kind varchar,                 -- kpi_below | weekly_digest | task_overdue | file_rejected | run_failed | contacts_invalid
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
-- each key-task obligation alerted once, when it first is overdue
create table if not exists audit.task_alerts (
    obligation_key varchar primary key, milestone_code varchar, unit_code varchar, deadline date,
    alerted_at timestamp, message_id varchar
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


def _kpi_message(recipient_name: str, rows: list[dict], digest_week: str | None = None) -> tuple[str, str]:
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
    for period_rows in grouped(rows, "period").values():
        first = period_rows[0]
        lines += ["", period_heading(first["period"], first["period_state"], first["evaluation_on"])]
        for row in period_rows:
            change = " (số liệu thay đổi)" if row.get("change") == "changed" else ""
            # The city office also receives the city's and the levels' rows: each names its row.
            whose = "" if row["unit_name"] == recipient_name else f"{row['unit_name']}: "
            lines.append(
                f"  - {whose}{row['kpi_name']}: {percent(row['value'])} ({row['numerator']}/{row['denominator']}), "
                f"mục tiêu {percent(row['target'])}{change}"
            )
    lines += ["", "Đề nghị đơn vị rà soát và có biện pháp khắc phục."]
    return subject, "\n".join(lines)


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Text fit for a header: file and unit names are data, and a line feed in one must not end
    the Subject (or start a header of its own)."""
    return _CONTROL_CHARACTERS.sub(" ", text).strip()


@dataclass(frozen=True)
class Message:
    reference: str  # what the message is about: kpi:<unit>:<time>, digest:<unit>:<week>, file:…, run:…
    kind: str
    recipient_unit: str
    subject: str
    body: str
    payload: dict


def _enqueue(con, messages: list[Message], channels: AlertChannels, contacts: Contacts, now: dt.datetime) -> list[str]:
    """Writes the messages to the outbox in one statement (a city's night is hundreds of them) and
    returns their ids, in order. Each message's addresses are decided here, once."""
    rows = []
    for message in messages:
        subject = one_line(message.subject)
        recipients = recipients_for(message.recipient_unit, contacts, channels.email_to)
        payload = {**message.payload, "subject": subject, "email_to": list(recipients.to), "email_cc": list(recipients.cc)}
        rows.append((
            str(uuid.uuid4()), message.reference, message.kind, message.recipient_unit, now, subject, message.body,
            json.dumps(payload, ensure_ascii=False, default=str), ", ".join(recipients.to), ", ".join(recipients.cc),
            "pending" if channels.smtp_host and recipients.to else "not_configured",
            "pending" if channels.webhook_url else "not_configured",
        ))  # fmt: skip
    if rows:
        columns = ["message_id", "reference", "kind", "recipient_unit", "created_at", "subject", "body", "payload",
                   "email_to", "email_cc", "email_state", "webhook_state"]  # fmt: skip
        new_messages = pd.DataFrame(rows, columns=columns)  # noqa: F841 (read by DuckDB)
        con.execute(f"insert into audit.alert_outbox ({', '.join(columns)}) select * from new_messages")
    return [row[0] for row in rows]


def _enqueue_per_recipient(con, messages: list[Message], channels: AlertChannels, contacts: Contacts, now: dt.datetime) -> dict[str, str]:
    """``_enqueue`` for messages written one per recipient unit: their ids by recipient."""
    ids = _enqueue(con, messages, channels, contacts, now)
    return dict(zip((message.recipient_unit for message in messages), ids, strict=True))


_ALERT_FIELDS = ["period", "unit_code", "unit_name", "kpi_code", "kpi_name", "numerator", "denominator", "value", "target"]


def _kpi_messages(rows: list[dict], *, kind: str, reference: str, digest_week: str | None = None) -> list[Message]:
    """One message per recipient unit over ``rows`` (ordered by unit, period and KPI)."""
    messages = []
    for unit_code, unit_rows in grouped(rows, "recipient_unit").items():
        unit_name = unit_rows[0]["recipient_name"]
        subject, body = _kpi_message(unit_name, unit_rows, digest_week)
        fields = _ALERT_FIELDS + (["change"] if kind == "kpi_below" else [])
        alerts = [
            {**{f: row[f] for f in fields}, "evaluated_on": str(row["evaluation_on"]), "period_state": row["period_state"]}
            for row in unit_rows
        ]
        payload = {"kind": kind, "recipient_unit": unit_code, "unit_name": unit_name, "text": body, "alerts": alerts}
        if digest_week:
            payload["week"] = digest_week
        messages.append(Message(reference.format(unit=unit_code), kind, unit_code, subject, body, payload))
    return messages


# The city's and the level roll-ups' rows go to the city's reform office.
_RECIPIENT_COLUMNS = """
    u.unit_name, k.name_vi as kpi_name, p.state as period_state, p.evaluation_on,
    case when u.level in ('city', 'roll_up') then $city else r.unit_code end as recipient_unit,
    coalesce(recipient.unit_name, u.unit_name) as recipient_name
"""
_RECIPIENT_JOINS = """
    join marts.dim_units as u on u.unit_code = r.unit_code
    join marts.dim_kpis as k on k.kpi_code = r.kpi_code
    join marts.dim_periods as p on p.period_code = r.period
    left join marts.dim_units as recipient on recipient.unit_code = $city and u.level in ('city', 'roll_up')
"""


def sync_kpi_alerts(
    con: duckdb.DuckDBPyConnection, below: pd.DataFrame, channels: AlertChannels, now: dt.datetime, contacts: Contacts = NO_CONTACTS
) -> SyncReport:
    """Alerts each (period, unit, KPI) newly below or changed while below; resolves recovered ones.

    ``below`` has one row per unit result below target, with the columns of marts.kpi_results.
    """
    ensure_schema(con)
    below_columns = ["period", "unit_code", "kpi_code", "numerator", "denominator", "value", "target"]
    con.register("below_now", below[below_columns])
    to_alert = rows_as_dicts(
        con.execute(
            f"""
            select r.*, case when s.period is null or s.status = 'resolved' then 'new' else 'changed' end as change,
                   {_RECIPIENT_COLUMNS}
            from below_now as r
            left join audit.alert_state as s using (period, unit_code, kpi_code)
            {_RECIPIENT_JOINS}
            where s.period is null or s.status = 'resolved'
               or s.numerator <> r.numerator or s.denominator <> r.denominator
            order by u.registry_order, p.period_order, k.kpi_order
            """,
            {"city": CITY_CODE},
        )
    )
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

    messages = _kpi_messages(to_alert, kind="kpi_below", reference=f"kpi:{{unit}}:{now.isoformat()}")
    message_ids = _enqueue_per_recipient(con, messages, channels, contacts, now)
    alerted = pd.DataFrame(to_alert, columns=[*below_columns, "recipient_unit"])
    alerted["message_id"] = alerted["recipient_unit"].map(message_ids)
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
    con.unregister("below_now")
    return SyncReport(alerted=len(to_alert), resolved=len(resolved), messages=len(messages))


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def enqueue_weekly_digests(con: duckdb.DuckDBPyConnection, channels: AlertChannels, now: dt.datetime, contacts: Contacts = NO_CONTACTS) -> int:
    """The week's first run writes each recipient a digest of its results still below target."""
    ensure_schema(con)
    week = iso_week(now.date())
    still_below = rows_as_dicts(
        con.execute(
            f"""
            select r.period, r.unit_code, r.kpi_code, r.numerator, r.denominator, r.value, r.target, {_RECIPIENT_COLUMNS}
            from audit.alert_state as r
            {_RECIPIENT_JOINS}
            where r.status = 'open'
              and 'digest:' || recipient_unit || ':' || $week not in (select reference from audit.alert_outbox where kind = 'weekly_digest')
            order by u.registry_order, p.period_order, k.kpi_order
            """,
            {"city": CITY_CODE, "week": week},
        )
    )
    messages = _kpi_messages(still_below, kind="weekly_digest", reference=f"digest:{{unit}}:{week}", digest_week=week)
    _enqueue(con, messages, channels, contacts, now)
    return len(messages)


def enqueue_overdue_tasks(con: duckdb.DuckDBPyConnection, channels: AlertChannels, now: dt.datetime, contacts: Contacts = NO_CONTACTS) -> int:
    """Tells each unit, once, of its key-task obligations that have become overdue (marts.fct_plan_tasks)."""
    ensure_schema(con)
    overdue = rows_as_dicts(
        con.execute(
            """
            select t.obligation_key, t.milestone_code, t.unit_code, t.unit_name, t.task_vi, t.product_vi, t.deadline,
                   t.days_overdue, t.data_date
            from marts.fct_plan_tasks as t
            join marts.dim_units as u using (unit_code)
            where t.state = 'overdue' and t.obligation_key not in (select obligation_key from audit.task_alerts)
            order by u.registry_order, t.deadline, t.task_number, t.milestone_number
            """
        )
    )
    messages = []
    for unit_code, tasks in grouped(overdue, "unit_code").items():
        unit_name = tasks[0]["unit_name"]
        subject = f"[CCHC] {unit_name}: {len(tasks)} nhiệm vụ trọng tâm quá hạn"
        lines = [
            f"Kính gửi {unit_name},",
            "",
            "Hệ thống theo dõi Kế hoạch cải cách hành chính năm 2024 (Quyết định 6745/QĐ-UBND) ghi nhận các nhiệm vụ "
            f"trọng tâm đơn vị chủ trì đã quá hạn mà chưa báo cáo hoàn thành (số liệu đến ngày {vn_date(tasks[0]['data_date'])}):",
            "",
        ]
        lines += [
            f"  - Nhiệm vụ {task['milestone_code']}: {task['task_vi']} ({task['product_vi']}), hạn {vn_date(task['deadline'])}, "
            f"quá {task['days_overdue']} ngày"
            for task in tasks
        ]
        lines += ["", "Đề nghị đơn vị hoàn thành và gửi báo cáo tiến độ (số văn bản) trong tệp tiến độ nhiệm vụ."]
        body = "\n".join(lines)
        payload = {"kind": "task_overdue", "recipient_unit": unit_code, "unit_name": unit_name, "text": body,
                   "tasks": [{k: str(v) if isinstance(v, dt.date) else v for k, v in task.items()} for task in tasks]}  # fmt: skip
        messages.append(Message(f"tasks:{unit_code}:{now.isoformat()}", "task_overdue", unit_code, subject, body, payload))
    message_ids = _enqueue_per_recipient(con, messages, channels, contacts, now)
    alerted = pd.DataFrame(  # noqa: F841 (read by DuckDB)
        [(t["obligation_key"], t["milestone_code"], t["unit_code"], t["deadline"], now, message_ids[t["unit_code"]]) for t in overdue],
        columns=["obligation_key", "milestone_code", "unit_code", "deadline", "alerted_at", "message_id"],
    )
    if overdue:
        con.execute("insert into audit.task_alerts select * from alerted")
    return len(overdue)


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
        problems = [p.__dict__ for p in contacts.problems]
        message = Message(reference, "contacts_invalid", CITY_CODE, subject, body, {"kind": "contacts_invalid", "text": body, "problems": problems})
        _enqueue(con, [message], channels, NO_CONTACTS, now)
    return len(rows)


def enqueue_rejected_files(con: duckdb.DuckDBPyConnection, channels: AlertChannels, now: dt.datetime, contacts: Contacts = NO_CONTACTS) -> int:
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
    messages = []
    for path, file_hash, reason in rejected:
        subject = f"[CCHC] Tệp bị từ chối: {path}"
        body = f"Tệp {path} trong thư mục dữ liệu đêm đã bị từ chối và không được nạp.\nLý do: {reason}\n\nĐề nghị đơn vị gửi lại tệp đã sửa."
        payload = {"kind": "file_rejected", "path": path, "reason": reason, "text": body}
        messages.append(Message(f"file:{file_hash}:{path}", "file_rejected", CITY_CODE, subject, body, payload))
    _enqueue(con, messages, channels, contacts, now)
    return len(messages)


def enqueue_run_failure(con: duckdb.DuckDBPyConnection, run_id: str, step: str, error: str, channels: AlertChannels, now: dt.datetime) -> None:
    ensure_schema(con)
    subject = "[CCHC] Lượt chạy đêm bị lỗi"
    body = f"Lượt chạy {run_id} dừng ở bước {step}.\nLỗi: {error}\n\nKho dữ liệu công bố gần nhất được giữ nguyên."
    payload = {"kind": "run_failed", "run_id": run_id, "step": step, "error": error, "text": body}
    _enqueue(con, [Message(f"run:{run_id}", "run_failed", CITY_CODE, subject, body, payload)], channels, NO_CONTACTS, now)


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
        channels_due = [
            channel
            for channel, due in (
                ("email", email_state == "pending" and channels.smtp_host and recipients.to),
                ("webhook", webhook_state == "pending" and channels.webhook_url),
            )
            if due
        ]
        for channel in channels_due:
            try:
                if channel == "email":
                    _send_email(channels, subject, body, recipients)
                else:
                    _post_webhook(channels.webhook_url, payload)
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
