"""A LinkedIn export uploaded through the dashboard goes through `reach import linkedin`'s own
validation and import: the file all or nothing, its problem named by sheet, row or cell."""

import re
import shutil
import tempfile
from pathlib import Path

from fastapi import UploadFile

from reach.linkedin.store import FileOutcome, import_files
from reach.settings import get_settings


class UploadTooLarge(ValueError):
    """A file over REACH_WEB_UPLOAD_MAX_BYTES, refused before it is parsed."""


def safe_name(filename: str | None) -> str:
    """The upload's base name, kept (the ambassador may be matched by it) but made harmless."""
    name = Path(filename or "export.xlsx").name
    name = re.sub(r"[^\w .()-]+", "_", name).strip(" .") or "export.xlsx"
    return name[:200]


def _save(upload: UploadFile, folder: str, limit: int, setting: str) -> Path:
    """The upload written to `folder` under its safe name, refused past `limit` bytes."""
    path = Path(folder) / safe_name(upload.filename)
    written = 0
    with open(path, "wb") as out:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise UploadTooLarge(
                    f"{path.name} is larger than {limit:,} bytes ({setting}); nothing was stored"
                )
            out.write(chunk)
    return path


def import_roster_upload(upload: UploadFile) -> tuple[bool, str]:
    """A roster file (CSV or YAML) imported as `reach roster import` does: all rows or none."""
    from sqlmodel import Session

    from reach.db import get_engine
    from reach.roster import RosterError, import_roster, parse_roster

    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="reach-upload-") as folder:
        path = _save(upload, folder, settings.roster_max_bytes, "REACH_ROSTER_MAX_BYTES")
        try:
            rows = parse_roster(path, allow_private_hosts=settings.allow_private_hosts)
        except RosterError as exc:
            return False, str(exc)
        with Session(get_engine()) as session, session.begin():
            result = import_roster(session, rows)
    return True, (
        f"{path.name}: ambassadors +{result.ambassadors_created} ~{result.ambassadors_updated}, "
        f"accounts +{result.accounts_created} ~{result.accounts_updated}, unchanged {result.unchanged}"
    )


def import_upload(upload: UploadFile, ambassador: str | None) -> FileOutcome:
    with tempfile.TemporaryDirectory(prefix="reach-upload-") as folder:
        path = _save(
            upload, folder, get_settings().web_upload_max_bytes, "REACH_WEB_UPLOAD_MAX_BYTES"
        )
        if path.suffix.lower() != ".xlsx":
            return FileOutcome(
                path, False, f"{path.name}: not an .xlsx file (upload LinkedIn's analytics export)"
            )
        outcome = import_files([path], ambassador_slug=ambassador)[0]
        shutil.rmtree(folder, ignore_errors=True)
        return outcome
