"""Checkpoint integrity: the SHA-256 of every file of a checkpoint folder, and the check against its record.

A course checkpoint folder holds its weights, config, tokenizer files, generation settings and a
``training_record.json`` that says how it was trained. The record's ``"files"`` entry holds the SHA-256 of
*every other file* in the folder (whatever files a future save adds), so that a loaded checkpoint is
exactly the one whose training and held-out figures the record reports. :func:`verify_folder` compares
them and names the first file that differs, is missing, or is not vouched for.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

RECORD_NAME = "training_record.json"


class CheckpointIntegrityError(RuntimeError):
    """A checkpoint folder's files do not match the hashes in its training record."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_files(folder: Path) -> list[str]:
    """Every file of the folder (and its subfolders) that a record vouches for, as sorted relative paths.

    Left out: the record itself, and hidden files and folders (names starting with '.', such as
    .ipynb_checkpoints or .DS_Store), which editors and file browsers create.
    """
    folder = Path(folder)
    names = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_file() and relative.as_posix() != RECORD_NAME and not any(p.startswith(".") for p in relative.parts):
            names.append(relative.as_posix())
    return sorted(names)


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a checkpoint folder except its record: what a record vouches for."""
    folder = Path(folder)
    return {name: sha256(folder / name) for name in checkpoint_files(folder)}


def verify_folder(folder: Path, label: str | None = None) -> dict[str, str]:
    """Check every file of ``folder`` against the hashes of its training record; return the hashes.

    Raises :class:`CheckpointIntegrityError` naming the file when one was changed, is missing, or is not
    listed in the record, and when the record itself is missing or has no hashes.
    """
    folder = Path(folder)
    label = label or str(folder)
    fix = (f"Restore the folder (e.g. `git checkout -- {folder}` in the course repository, or reinstall the "
           "course), or rebuild the checkpoint with `python -m helpers.checkpoints bert|gpt`.")
    record_path = folder / RECORD_NAME
    if not record_path.is_file():
        raise CheckpointIntegrityError(f"The checkpoint {label!r} has no {RECORD_NAME} in {folder}, so its files cannot "
                                       f"be checked. {fix}")
    try:
        expected = json.loads(record_path.read_text(encoding="utf-8")).get("files")
    except (ValueError, AttributeError) as error:
        raise CheckpointIntegrityError(f"The training record of {label!r} ({record_path}) is not valid JSON: {error}. "
                                       f"{fix}") from error
    if not isinstance(expected, dict) or not expected:
        raise CheckpointIntegrityError(f"The training record of {label!r} lists no file hashes. {fix}")
    present = checkpoint_files(folder)
    for name in sorted(expected):
        if name not in present:
            raise CheckpointIntegrityError(f"The checkpoint {label!r} is missing {name}, which its training record "
                                           f"lists. {fix}")
    for name in present:
        if name not in expected:
            raise CheckpointIntegrityError(f"The checkpoint {label!r} holds {name}, which its training record does not "
                                           f"vouch for (a file added after training). Remove it. {fix}")
    actual = {name: sha256(folder / name) for name in present}
    for name in present:
        if actual[name] != expected[name]:
            raise CheckpointIntegrityError(
                f"The checkpoint {label!r} does not match its training record: {name} has SHA-256 "
                f"{actual[name][:12]}..., the record says {str(expected[name])[:12]}.... The file was changed or "
                f"damaged after training. {fix}")
    return actual


def complete_record(folder: Path) -> list[str]:
    """Add the hashes of files a record does not list yet (e.g. a record written before every file was hashed).

    Only when every file the record already lists still matches: a changed file is never re-vouched for.
    Returns the names added. Command line: ``python -m helpers.integrity FOLDER [FOLDER ...]``.
    """
    folder = Path(folder)
    record_path = folder / RECORD_NAME
    record = json.loads(record_path.read_text(encoding="utf-8"))
    listed = record.get("files") or {}
    for name, expected in listed.items():
        if not (folder / name).is_file() or sha256(folder / name) != expected:
            raise CheckpointIntegrityError(f"{folder}: {name} does not match its recorded hash; not completing the record.")
    added = [name for name in checkpoint_files(folder) if name not in listed]
    if added:
        record["files"] = {**listed, **{name: sha256(folder / name) for name in added}}
        record["files"] = dict(sorted(record["files"].items()))
        record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return added


if __name__ == "__main__":
    import sys

    for argument in sys.argv[1:] or ["helpers/assets/checkpoints/course-bert", "helpers/assets/checkpoints/course-gpt"]:
        print(argument, "added:", complete_record(Path(argument)) or "nothing")
