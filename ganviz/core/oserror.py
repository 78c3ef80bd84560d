"""One line for the user about a failed read or write (the CLI's run folders and the Session's saved
runs say the same things the same way), and the exception of a read the user cancelled."""

from __future__ import annotations

import errno


class ReadCancelled(Exception):
    """A read stopped because its `cancel` Event was set (an IDX file, a point file, an image folder)."""


def reason(exc: BaseException, filename: bool = True, typed: bool = False, limit: int = 300) -> str:
    """`exc` in a few words: the disk is full, read-only, permission denied, ... (with the file's name
    when `filename`); any other error as its first line (after its type's name when `typed`)."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if filename and exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return "the disk is full"
        if exc.errno == errno.EROFS:
            return "the disk is read-only" + where
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "permission denied" + where
        if exc.errno in (errno.ENOTDIR, errno.EEXIST):
            return "a part of the path is a file, not a folder" + where
        if exc.strerror:
            return exc.strerror[0].lower() + exc.strerror[1:] + where
    text = " ".join(str(exc).split("\n", 1)[0].split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    if typed:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or type(exc).__name__
