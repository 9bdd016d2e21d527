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


def import_upload(upload: UploadFile, ambassador: str | None) -> FileOutcome:
    limit = get_settings().web_upload_max_bytes
    with tempfile.TemporaryDirectory(prefix="reach-upload-") as folder:
        path = Path(folder) / safe_name(upload.filename)
        written = 0
        with open(path, "wb") as out:
            while chunk := upload.file.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise UploadTooLarge(
                        f"{path.name} is larger than {limit:,} bytes (REACH_WEB_UPLOAD_MAX_BYTES); "
                        "nothing was stored"
                    )
                out.write(chunk)
        if path.suffix.lower() != ".xlsx":
            return FileOutcome(
                path, False, f"{path.name}: not an .xlsx file (upload LinkedIn's analytics export)"
            )
        outcome = import_files([path], ambassador_slug=ambassador)[0]
        shutil.rmtree(folder, ignore_errors=True)
        return outcome
