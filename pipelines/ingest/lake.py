"""The Parquet lake: immutable Parquet files, one per kind of rows for each batch of a drop's
files read together, and a manifest with an entry per input file.

Fewer, larger files than one per export: every query over a year of drops opened each of them
(≈ 7,500 at 5M dossiers), and that, not the rows, was most of a staging test's time.

Crash safety comes from ordering: a batch's data files are written under a temporary name and
renamed into place, and only then are its files' manifest entries written, together in one
manifest file (the same way). A data file no manifest entry names was left by a killed run: it is
never read, and the next run removes it and reads its input files again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import re
import time
import unicodedata
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pipelines.ingest.dialects import ParsedFile, RejectedFile, is_json_lines, parse_file, parse_json_lines_files
from pipelines.ingest.reference import PlanCatalogue, SectorCatalogue, UnitRegistry
from pipelines.ingest.rules import (
    CheckedRows,
    check_dossiers,
    check_pakn,
    check_ratings,
    check_self_reports,
    check_task_progress,
    online_without_level,
)
from pipelines.progress import progress

DROP_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_FILE_BYTES = 512 * 1024 * 1024  # one export; a larger file is refused unread
KINDS = ("dossiers", "pakn", "ratings", "task_progress", "self_reports")
PROVENANCE = {"drop_date": pl.Date, "source_file": pl.String, "file_hash": pl.String}
LAKE_SCHEMAS = {
    "dossiers": {
        "row_number": pl.Int64, "dossier_id": pl.String, "procedure_code": pl.String, "procedure_name": pl.String,
        "sector_code": pl.String, "unit_code": pl.String, "channel": pl.Int8, "service_level": pl.String,
        "received_at": pl.Datetime("us"), "due_at": pl.Datetime("us"), "finished_at": pl.Datetime("us"),
        "returned_at": pl.Datetime("us"), "status": pl.Int8, "vneid_authenticated": pl.Boolean,
        "result_digitized": pl.Boolean, "applicant_hash": pl.String,
    },
    "pakn": {
        "row_number": pl.Int64, "pakn_id": pl.String, "unit_code": pl.String, "received_on": pl.Date,
        "due_on": pl.Date, "handled_on": pl.Date, "published_on": pl.Date,
    },
    "ratings": {
        "row_number": pl.Int64, "dossier_id": pl.String, "unit_code": pl.String, "rated_at": pl.Datetime("us"),
        "level": pl.Int8,
    },
    "task_progress": {
        "row_number": pl.Int64, "milestone_code": pl.String, "unit_code": pl.String, "done_on": pl.Date,
        "document_number": pl.String,
    },
    "self_reports": {
        "row_number": pl.Int64, "unit_code": pl.String, "period_code": pl.String, "indicator_code": pl.String,
        "numerator": pl.Int64, "denominator": pl.Int64,
    },
    "quarantine": {
        "kind": pl.String, "row_number": pl.Int64, "record_key": pl.String, "reasons": pl.String, "raw_values": pl.String,
    },
}  # fmt: skip


class RawDirMissing(Exception):
    """The drop folder does not exist."""


@dataclass(frozen=True)
class DropFile:
    drop_date: dt.date
    path: Path

    @property
    def name(self) -> str:
        """NFC, so that supersession sorts names the same whatever the file system returned."""
        return unicodedata.normalize("NFC", self.path.name)

    @property
    def relative(self) -> str:
        return f"{self.drop_date.isoformat()}/{self.name}"


@dataclass
class ManifestEntry:
    file_hash: str
    drop_date: str
    source_file: str
    path: str
    status: str  # loaded | rejected | skipped
    kind: str | None = None
    dialect: str | None = None
    reason: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_online_without_level: int = 0
    size: int = 0
    modified_ns: int = 0
    # Reading, checking and writing this file; a batch's check and write times are shared by rows.
    ingest_seconds: float = 0.0
    # The lake file holding its rows, <kind>/<lake_name>.parquet, shared by the files of its batch
    # (None in a lake written before batches: named by its own file_hash).
    lake_name: str | None = None
    # Microseconds: incremental builds compare it with the last build's (pipelines/incremental.py).
    ingested_at: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="microseconds"))


@dataclass(frozen=True)
class IgnoredEntry:
    """Something in the raw folder that is not ingested, and why (``audit.ignored_entries``)."""

    path: str  # relative to the raw folder
    reason: str

    def __str__(self) -> str:
        return f"Ignored {self.path}: {self.reason}"


def discover_drops(raw_dir: Path, today: dt.date | None = None) -> tuple[list[DropFile], list[IgnoredEntry]]:
    """Files of every drop folder, oldest drop first, and everything else found, with its reason.

    Only what lies inside the raw folder is read: a link resolving outside it is ignored. A folder
    dated after today (Vietnam time) is not a drop: its date would outrank every real drop.
    """
    require_raw_dir(raw_dir)
    root = raw_dir.resolve()
    today = today or dt.datetime.now(LOCAL_ZONE).date()
    files, ignored = [], []
    for entry in sorted(raw_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        drop_date = _drop_date(entry.name) if entry.is_dir() else None
        if not _inside(entry, root):
            ignored.append(IgnoredEntry(entry.name, "a link to a place outside CCHC_RAW_DIR: only what the raw folder holds is read"))
        elif drop_date is None:
            ignored.append(IgnoredEntry(entry.name, "only files inside a drop folder named YYYY-MM-DD are ingested"))
        elif drop_date > today:
            ignored.append(IgnoredEntry(entry.name, f"dated after today ({today.isoformat()}): not a drop until that day"))
        else:
            found = 0
            for path in sorted(entry.iterdir()):
                if path.name.startswith((".", "~$")):  # editor lock files and hidden files are not exports
                    continue
                relative = f"{entry.name}/{path.name}"
                if not _inside(path, root):
                    ignored.append(IgnoredEntry(relative, "a link to a place outside CCHC_RAW_DIR: only what the raw folder holds is read"))
                elif path.is_dir():
                    ignored.append(IgnoredEntry(relative, "a drop folder holds files, not folders"))
                elif not path.is_file():
                    ignored.append(IgnoredEntry(relative, "not a regular file (a pipe, socket, device or broken link)"))
                else:
                    files.append(DropFile(drop_date, path))
                    found += 1
            if not found:
                ignored.append(IgnoredEntry(entry.name, "an empty drop: no export to ingest from it"))
    return files, ignored


def require_raw_dir(raw_dir: Path) -> None:
    """Raises ``RawDirMissing``, in a sentence for the operator, when the drop folder is absent."""
    if not raw_dir.is_dir():
        raise RawDirMissing(f"The drop folder {raw_dir} does not exist: set CCHC_RAW_DIR to the folder holding the nightly YYYY-MM-DD drops.")


def _inside(path: Path, root: Path) -> bool:
    """Whether an entry of a folder inside the raw folder stays inside: only a link can leave it,
    so only a link is resolved (resolving every file of a year of drops took a second)."""
    return not path.is_symlink() or path.resolve().is_relative_to(root)


def record_ignored(con: duckdb.DuckDBPyConnection, ignored: list[IgnoredEntry], seen_at: dt.datetime) -> None:
    """``audit.ignored_entries``: what the raw folder holds that this run did not ingest, and why."""
    frame = pl.DataFrame(  # noqa: F841 (read by DuckDB)
        {"path": [e.path for e in ignored], "reason": [e.reason for e in ignored], "seen_at": [seen_at] * len(ignored)},
        schema={"path": pl.String, "reason": pl.String, "seen_at": pl.Datetime("us")},
    )
    con.execute("create schema if not exists audit; create or replace table audit.ignored_entries as select * from frame")


def is_drop_folder(name: str) -> bool:
    return _drop_date(name) is not None


def _drop_date(name: str) -> dt.date | None:
    if not DROP_FOLDER.match(name):
        return None
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


def _write_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(temporary)
    os.replace(temporary, path)


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    _write_atomically(path, lambda temporary: frame.write_parquet(temporary, compression_level=PARQUET_ZSTD_LEVEL))


class Lake:
    def __init__(self, root: Path):
        self.root = root
        self.manifest_dir = root / "manifest"
        self._entries: dict[str, list[ManifestEntry]] | None = None  # by manifest file name; read once

    def entries(self) -> list[ManifestEntry]:
        if self._entries is None:
            paths = self.manifest_dir.glob("*.json") if self.manifest_dir.is_dir() else []
            self._entries = {p.name: _manifest_entries(json.loads(p.read_text(encoding="utf-8"))) for p in paths}
        return [entry for name in sorted(self._entries) for entry in self._entries[name]]

    def folder(self, kind: str) -> Path:
        """The folder of one kind's files (Spark reads it whole and keeps the manifest's loaded files)."""
        return self.root / kind

    def data_path(self, kind: str, lake_name: str) -> Path:
        return self.folder(kind) / f"{lake_name}.parquet"

    def lake_path(self, entry: ManifestEntry, kind: str | None = None) -> Path:
        """The lake file holding a loaded entry's rows (kind "quarantine": its quarantined rows)."""
        return self.data_path(kind or entry.kind, entry.lake_name or entry.file_hash)

    def recorded_files(self) -> dict[str, list[Path]]:
        """The lake files the manifest names, by kind ("quarantine" too): all that is ever read."""
        loaded = [e for e in self.entries() if e.status == "loaded"]
        files = {kind: {self.lake_path(e) for e in loaded if e.kind == kind} for kind in KINDS}
        files["quarantine"] = {self.lake_path(e, "quarantine") for e in loaded if e.rows_quarantined}
        return {kind: sorted(paths) for kind, paths in files.items()}

    def _record(self, entries: list[ManifestEntry]) -> list[ManifestEntry]:
        """Writes entries into one manifest file: a batch's entries are recorded all or none."""
        key = hashlib.sha256("\0".join(f"{e.path}\0{e.file_hash}" for e in entries).encode()).hexdigest()[:32]
        text = json.dumps([asdict(entry) for entry in entries], ensure_ascii=False, indent=1)
        _write_atomically(self.manifest_dir / f"{key}.json", lambda p: p.write_text(text, encoding="utf-8"))
        if self._entries is not None:
            self._entries[f"{key}.json"] = entries
        return entries

    def _remove_unrecorded(self) -> None:
        """Removes what a killed run left: half-written files, and data files whose batch it never
        recorded (the next batch holding their input files may be another, under another name)."""
        for leftover in self.root.glob("*/.*.tmp"):
            leftover.unlink()
        for kind, recorded in self.recorded_files().items():
            for path in set(self.folder(kind).glob("*.parquet")) - set(recorded):
                path.unlink()

    def ingest(
        self,
        files: list[DropFile],
        units: UnitRegistry,
        sectors: SectorCatalogue,
        salt: str,
        workers: int | None = None,
        plan: PlanCatalogue | None = None,
    ) -> list[ManifestEntry]:
        """Ingests the files not seen before; returns the manifest entries this call wrote.

        Large backlogs (a first run over a year of drops) are read by a pool of processes, one per
        core; a nightly drop is read in this process, which is faster than starting the pool.
        """
        plan = plan or PlanCatalogue.from_seeds(units)
        self._remove_unrecorded()
        entries = self.entries()
        # A file unchanged since it was recorded (same path, size, mtime) is not read again: a
        # nightly run reads only the new drop, not the whole year.
        unchanged = {(e.path, e.size, e.modified_ns) for e in entries}
        seen = {(e.path, e.file_hash) for e in entries}
        loaded_hashes = {e.file_hash: e.path for e in entries if e.status == "loaded"}
        written, to_read, repeats = [], [], []
        first_with_hash: dict[str, str] = {}
        for file in files:
            try:
                stat = file.path.stat()
                if (file.relative, stat.st_size, stat.st_mtime_ns) in unchanged:
                    continue
                file_hash = hashlib.sha256(_read(file.path, stat.st_size)).hexdigest()
            except (OSError, RejectedFile) as problem:
                # One file the process cannot read is rejected; the rest of the drop loads.
                entry = _unreadable(file, problem)
                if (file.relative, entry.file_hash) not in seen:
                    seen.add((file.relative, entry.file_hash))
                    written.extend(self._record([entry]))
                continue
            if (file.relative, file_hash) in seen:
                continue
            seen.add((file.relative, file_hash))
            base = dict(
                file_hash=file_hash, drop_date=file.drop_date.isoformat(), source_file=file.name, path=file.relative,
                size=stat.st_size, modified_ns=stat.st_mtime_ns,
            )  # fmt: skip
            if file_hash in loaded_hashes:
                written.extend(self._record([_resent(base, loaded_hashes[file_hash])]))
            elif file_hash in first_with_hash:
                repeats.append((file, base))  # decided once the first file with this content is
            else:
                first_with_hash[file_hash] = file.relative
                to_read.append((file, base))

        batches = _batches(to_read)
        workers = workers or (os.cpu_count() or 1)
        # A backlog takes minutes: say how far it is. A nightly drop stays quiet.
        shown = len(to_read) >= PROGRESS_FROM_FILES
        with progress("Reading drop files", len(to_read)) if shown else nullcontext(lambda done: None) as advance:
            if workers > 1 and len(to_read) >= PARALLEL_FROM_FILES:
                context = multiprocessing.get_context("spawn")  # never fork a process running threads
                with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(self.root, units, sectors, plan, salt)) as pool:
                    for entries in pool.map(_ingest_in_worker, batches):
                        written.extend(self._record(entries))
                        advance(len(entries))
            else:
                for batch in batches:
                    written.extend(self._record(self._ingest_batch(batch, units, sectors, plan, salt)))
                    advance(len(batch))
        loaded_hashes.update({e.file_hash: e.path for e in written if e.status == "loaded"})
        for file, base in repeats:
            if base["file_hash"] in loaded_hashes:
                written.extend(self._record([_resent(base, loaded_hashes[base["file_hash"]])]))
            else:
                written.extend(self._record(self._ingest_batch([(file, base)], units, sectors, plan, salt)))
        return written

    def _ingest_batch(self, batch: list[tuple[DropFile, dict]], units, sectors, plan, salt) -> list[ManifestEntry]:
        """Ingests a few files of one drop, one manifest entry each (in the batch's order).

        Each file is parsed (or rejected) on its own, but for the JSON Lines exports, read in one
        call when none needs reading alone. The rows of the files of one dialect are then checked
        together, since every rule looks at one row: one pass over a drop's twenty small dvcqg
        files costs a fraction of twenty. Each file's rows are split back out by row number, to be
        numbered as in their file again and to carry its provenance, and the batch's rows of each
        kind are written to one lake file.
        """
        entries: dict[int, ManifestEntry] = {}
        parsed_by_shape: dict[tuple, list[tuple[int, ParsedFile, float]]] = defaultdict(list)
        started = time.perf_counter()
        read_together = _read_json_lines_together(batch)
        read_seconds_per_row = _since(started) / max(sum(parsed.rows.height for parsed in read_together.values()), 1)
        for index, parsed in read_together.items():
            parse_seconds = read_seconds_per_row * parsed.rows.height
            parsed_by_shape[(parsed.kind, parsed.dialect, tuple(parsed.rows.columns))].append((index, parsed, parse_seconds))
        for index, (file, base) in enumerate(batch):
            if index in read_together:
                continue
            started = time.perf_counter()
            try:
                parsed = parse_file(file.path, _read(file.path, base["size"]), units)
            except RejectedFile as rejection:
                entries[index] = ManifestEntry(**base, status="rejected", reason=str(rejection), ingest_seconds=_since(started))
                continue
            except Exception as error:  # noqa: BLE001 (whatever breaks on one file rejects that file, never the drop)
                reason = f"could not be read ({_cause(error)}); ask the unit to re-export it"
                entries[index] = ManifestEntry(**base, status="rejected", reason=reason, ingest_seconds=_since(started))
                continue
            parsed_by_shape[(parsed.kind, parsed.dialect, tuple(parsed.rows.columns))].append((index, parsed, _since(started)))

        lake_name = hashlib.sha256("\0".join(base["file_hash"] for _, base in batch).encode()).hexdigest()
        to_write: dict[str, list[pl.DataFrame]] = defaultdict(list)  # by kind, "quarantine" too
        for (kind, dialect, _), group in parsed_by_shape.items():
            started = time.perf_counter()
            # Row numbers shifted past the previous file's, so each file's rows are a range again.
            last_rows = [parsed.rows["row_number"].max() or 0 for _, parsed, _ in group]
            offsets = [sum(last_rows[:position]) for position in range(len(group))]
            rows = pl.concat(
                [parsed.rows.with_columns(pl.col("row_number") + offset) for (_, parsed, _), offset in zip(group, offsets)], how="vertical_relaxed"
            )
            checked = _check(ParsedFile(kind, dialect, rows), units, sectors, plan, salt, batch[group[0][0]][0].drop_date)
            loaded_by_file = _split_by_file(checked.loaded, offsets, last_rows)
            quarantined_by_file = _split_by_file(checked.quarantined, offsets, last_rows)
            check_seconds_per_row = _since(started) / max(rows.height, 1)
            for (index, parsed, parse_seconds), offset, loaded, quarantined in zip(group, offsets, loaded_by_file, quarantined_by_file):
                file, base = batch[index]
                provenance = dict(drop_date=pl.lit(file.drop_date), source_file=pl.lit(file.name), file_hash=pl.lit(base["file_hash"]))
                unshifted = pl.col("row_number") - offset
                to_write[kind].append(loaded.with_columns(unshifted).cast(LAKE_SCHEMAS[kind]).with_columns(**provenance))
                if quarantined.height:
                    quarantined = quarantined.with_columns(unshifted, kind=pl.lit(kind)).select(list(LAKE_SCHEMAS["quarantine"]))
                    to_write["quarantine"].append(quarantined.cast(LAKE_SCHEMAS["quarantine"]).with_columns(**provenance))
                entries[index] = ManifestEntry(
                    **base,
                    status="loaded",
                    kind=kind,
                    dialect=dialect,
                    rows_read=parsed.rows.height,
                    rows_loaded=loaded.height,
                    rows_quarantined=quarantined.height,
                    rows_online_without_level=online_without_level(loaded) if kind == "dossiers" else 0,
                    ingest_seconds=parse_seconds + check_seconds_per_row * parsed.rows.height,
                    lake_name=lake_name,
                )

        started = time.perf_counter()
        for kind, frames in to_write.items():  # no quarantine file for a batch that quarantined nothing
            _write_parquet(pl.concat(frames), self.data_path(kind, lake_name))
        write_seconds_per_row = _since(started) / max(sum(entry.rows_read for entry in entries.values()), 1)
        for entry in entries.values():
            entry.ingest_seconds = round(entry.ingest_seconds + write_seconds_per_row * entry.rows_read, 4)
        return [entries[index] for index in range(len(batch))]

    def expose(self, con: duckdb.DuckDBPyConnection) -> None:
        """(Re)creates ``raw.*`` views over the loaded files and the ``audit`` tables in a warehouse."""
        entries = self.entries()
        con.execute("create schema if not exists raw; create schema if not exists audit")
        for kind, files in self.recorded_files().items():
            paths = [str(path) for path in files]
            schema, name = ("audit", "quarantined_rows") if kind == "quarantine" else ("raw", kind)
            for (object_type,) in con.execute(
                "select table_type from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
            ).fetchall():
                con.execute(f"drop {'view' if object_type == 'VIEW' else 'table'} {schema}.{name}")
            # lake_file (DuckDB's virtual filename column): a filter on it skips the other files
            # unopened, so an incremental build reads only the new files of a year-long lake.
            lake_file = ", filename as lake_file" if schema == "raw" else ""
            if paths:
                con.execute(f"create view {schema}.{name} as select *{lake_file} from read_parquet({paths!r})")
            else:
                columns = {**LAKE_SCHEMAS[kind], **PROVENANCE, **({"lake_file": pl.String} if lake_file else {})}
                empty = pl.DataFrame(schema=columns)  # noqa: F841 (read by DuckDB)
                con.execute(f"create table {schema}.{name} as select * from empty")
        manifest = pl.DataFrame([vars(e) for e in entries], schema=_MANIFEST_SCHEMA).with_columns(  # noqa: F841
            pl.col("drop_date").str.to_date(),
            pl.col("ingested_at").str.to_datetime(),
            lake_file=pl.Series([str(self.lake_path(e)) if e.status == "loaded" else None for e in entries], dtype=pl.String),
        )
        con.execute("create or replace table audit.ingested_files as select * from manifest order by drop_date, source_file")


_MANIFEST_SCHEMA = {
    "file_hash": pl.String, "drop_date": pl.String, "source_file": pl.String, "path": pl.String, "status": pl.String,
    "kind": pl.String, "dialect": pl.String, "reason": pl.String, "rows_read": pl.Int64, "rows_loaded": pl.Int64,
    "rows_quarantined": pl.Int64, "rows_online_without_level": pl.Int64, "size": pl.Int64, "modified_ns": pl.Int64,
    "ingest_seconds": pl.Float64, "ingested_at": pl.String,
}  # fmt: skip


PARALLEL_FROM_FILES = 100
PARQUET_ZSTD_LEVEL = 1  # half the time of Polars' default level, and no larger on these files
PROGRESS_FROM_FILES = 50
BATCH_BYTES = 32 * 1024 * 1024
_worker: dict = {}


def _start_worker(root: Path, units: UnitRegistry, sectors: SectorCatalogue, plan: PlanCatalogue, salt: str) -> None:
    _worker.update(lake=Lake(root), units=units, sectors=sectors, plan=plan, salt=salt)


def _ingest_in_worker(batch: list[tuple[DropFile, dict]]) -> list[ManifestEntry]:
    return _worker["lake"]._ingest_batch(batch, _worker["units"], _worker["sectors"], _worker["plan"], _worker["salt"])


def _batches(to_read: list[tuple[DropFile, dict]]) -> list[list[tuple[DropFile, dict]]]:
    """Consecutive files of one drop, up to BATCH_BYTES together (a large export goes alone)."""
    batches: list[list[tuple[DropFile, dict]]] = []
    size = 0
    for file, base in to_read:
        if not batches or batches[-1][0][0].drop_date != file.drop_date or size + base["size"] > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((file, base))
        size += base["size"]
    return batches


def _split_by_file(frame: pl.DataFrame, offsets: list[int], counts: list[int]) -> list[pl.DataFrame]:
    """Each file's rows of a batch's frame, the file's rows numbered offset + 1 … offset + count:
    in row order each is one slice, found with one search for all files (a year has thousands)."""
    in_order = frame.sort("row_number")
    numbers = in_order["row_number"]
    starts = numbers.search_sorted(pl.Series([offset + 1 for offset in offsets]), side="left").to_list()
    ends = numbers.search_sorted(pl.Series([offset + count for offset, count in zip(offsets, counts)]), side="right").to_list()
    return [in_order.slice(start, end - start) for start, end in zip(starts, ends)]


def _read_json_lines_together(batch: list[tuple[DropFile, dict]]) -> dict[int, ParsedFile]:
    """The batch's JSON Lines exports parsed in one call (dialects.parse_json_lines_files), by their
    index in the batch; none when any needs reading alone, which then says what is wrong with it."""
    indexes = [index for index, (file, _) in enumerate(batch) if is_json_lines(file.path)]
    if len(indexes) < 2:
        return {}
    try:
        parsed = parse_json_lines_files([_read(batch[index][0].path, batch[index][1]["size"]) for index in indexes])
    except (OSError, RejectedFile):
        return {}
    return {} if parsed is None else dict(zip(indexes, parsed))


def _manifest_entries(content: dict | list[dict]) -> list[ManifestEntry]:
    """A manifest file's entries (a lake written before batches holds one entry a file)."""
    return [ManifestEntry(**entry) for entry in (content if isinstance(content, list) else [content])]


def _read(path: Path, size: int) -> bytes:
    if size > MAX_FILE_BYTES:
        raise RejectedFile(f"{size // 2**20} MiB, over the {MAX_FILE_BYTES // 2**20} MiB an export may take")
    return path.read_bytes()


def _cause(error: BaseException) -> str:
    """An error's kind, and for a system error its plain cause: never its message, which may quote
    the file's content."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def _unreadable(file: DropFile, problem: Exception) -> ManifestEntry:
    reason = str(problem) if isinstance(problem, RejectedFile) else f"the file could not be read ({_cause(problem)})"
    # No content to hash: the entry is keyed by its path and reason, so it is recorded once.
    key = hashlib.sha256(f"unreadable\0{file.relative}\0{reason}".encode()).hexdigest()
    return ManifestEntry(key, file.drop_date.isoformat(), file.name, file.relative, "rejected", reason=reason)


def _resent(base: dict, first_path: str) -> ManifestEntry:
    return ManifestEntry(**base, status="skipped", reason=f"same content as {first_path}, already ingested")


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)


def _check(parsed: ParsedFile, units: UnitRegistry, sectors: SectorCatalogue, plan: PlanCatalogue, salt: str, drop_date: dt.date) -> CheckedRows:
    if parsed.kind == "dossiers":
        return check_dossiers(parsed, units, sectors, salt, drop_date)
    if parsed.kind == "pakn":
        return check_pakn(parsed, units, drop_date)
    if parsed.kind == "task_progress":
        return check_task_progress(parsed, units, plan, drop_date)
    if parsed.kind == "self_reports":
        return check_self_reports(parsed, units, plan, drop_date)
    return check_ratings(parsed, units, drop_date)
