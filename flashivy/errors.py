"""The one exception type that the CLI turns into a single line on stderr."""


class UserError(Exception):
    """A problem with the user's input (missing file, not a video, bad flag...).

    The CLI prints ``str(error)`` on one line and exits non-zero; no traceback.
    """


def require_file(path) -> None:
    """A clear error for a missing path or one that is not a regular file (folder, FIFO, device)."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file")
