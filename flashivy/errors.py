"""The one exception type that the CLI turns into a single line on stderr."""


class UserError(Exception):
    """A problem with the user's input (missing file, not a video, bad flag...).

    The CLI prints ``str(error)`` on one line and exits non-zero; no traceback.
    """
