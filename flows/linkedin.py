"""Flow `import-linkedin`: import every LinkedIn export dropped into the inbox folder.

Imported files move to `<inbox>/imported/`, failed ones to `<inbox>/failed/` with
`<file>.error.txt` beside them giving the reason. The run fails after processing every file if
any failed. Importing this module has no side effects (deploy and workers import it).
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

ARTIFACT_KEY = "linkedin-import"
# Still being written by a browser or held open by Excel: leave them for the next run.
_IN_PROGRESS_SUFFIXES = (".crdownload", ".part", ".download", ".tmp")


class LinkedInImportFailed(RuntimeError):
    """Some files in the inbox are not importable; they are in failed/ with the reason beside them."""


@dataclass
class InboxOutcome:
    """One inbox file after the run: where it went and why."""

    file: str
    ok: bool
    message: str
    moved_to: Path


def inbox_files(folder: Path) -> list[Path]:
    """Files waiting in the inbox (not in its sub-folders, not hidden, not half-downloaded)."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith((".", "~$"))
        and not p.name.endswith(".error.txt")
        and p.suffix.lower() not in _IN_PROGRESS_SUFFIXES
    )


def _free_name(target_dir: Path, name: str) -> Path:
    """A path in target_dir that does not overwrite an earlier file of the same name."""
    target = target_dir / name
    n = 1
    while target.exists():
        target = target_dir / f"{Path(name).stem} ({n}){Path(name).suffix}"
        n += 1
    return target


def import_inbox(
    folder: Path, database_url: str | None = None, flow_run_id: str | None = None
) -> list[InboxOutcome]:
    """Import the inbox and sort its files into imported/ and failed/ (the flow's core, no Prefect)."""
    from reach.linkedin.store import import_files

    files = inbox_files(folder)
    if not files:
        return []
    outcomes: list[InboxOutcome] = []
    for outcome in import_files(files, url=database_url, flow_run_id=flow_run_id):
        target_dir = folder / ("imported" if outcome.ok else "failed")
        target_dir.mkdir(parents=True, exist_ok=True)
        target = _free_name(target_dir, outcome.path.name)
        shutil.move(str(outcome.path), target)  # a rename: keeps the download date (mtime)
        if not outcome.ok:
            target.with_name(target.name + ".error.txt").write_text(
                outcome.message + "\n", encoding="utf-8"
            )
        outcomes.append(InboxOutcome(outcome.path.name, outcome.ok, outcome.message, target))
    return outcomes


def outcomes_markdown(folder: Path, outcomes: list[InboxOutcome]) -> str:
    """The run's artifact: every file and what happened to it."""
    failed = sum(1 for o in outcomes if not o.ok)
    lines = [
        f"# LinkedIn import from `{folder}`",
        "",
        f"{len(outcomes)} file(s): {len(outcomes) - failed} imported, {failed} failed.",
        "",
    ]
    if outcomes:
        lines += ["| file | outcome | details |", "|---|---|---|"]
        for o in outcomes:
            details = o.message.removeprefix(f"{o.file}: ").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{o.file}` | {'imported' if o.ok else '**failed**'} | {details} |")
    return "\n".join(lines) + "\n"


@task(name="import_exports")
def import_exports(folder: Path, flow_run_id: str | None) -> list[InboxOutcome]:
    """Import the inbox's files (one coarse task: retrying a bad file cannot help)."""
    return import_inbox(folder, flow_run_id=flow_run_id)


def _run_name() -> str:
    from prefect.runtime import flow_run

    folder = flow_run.parameters.get("folder")
    return f"import-linkedin {folder or 'inbox'}"


@flow(name="import-linkedin", flow_run_name=_run_name)
def import_linkedin(
    folder: str | None = Field(
        default=None,
        description="Folder of dropped LinkedIn .xlsx exports; empty means the configured "
        "REACH_LINKEDIN_INBOX.",
    ),
) -> list[str]:
    """Import every LinkedIn export in the inbox; fails, after the others, if any file failed."""
    from prefect.runtime import flow_run

    from reach.settings import get_settings

    inbox = Path(folder).expanduser().resolve() if folder else get_settings().linkedin_inbox
    outcomes = import_exports(inbox, flow_run.id)
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=outcomes_markdown(inbox, outcomes),
        description="LinkedIn exports imported from the inbox",
    )
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise LinkedInImportFailed(
            f"{len(failed)} of {len(outcomes)} file(s) failed (moved to {inbox / 'failed'}): "
            + "; ".join(o.message for o in failed)
        )
    return [o.message for o in outcomes]
