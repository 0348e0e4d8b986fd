"""The input history: a private file (mode 0600, in a 0700 directory) that never gets a
private message, or only memory with `--no-history`.

prompt_toolkit's `FileHistory` appends every accepted line to a file created with the umask
(usually 0644: readable by everyone on the machine). Here the file is created 0600 before
prompt_toolkit opens it, an existing file is tightened to 0600, and `/msg` lines stay in the
session's memory only: Up still recalls them, the file never has them. (A nick typed at the nick
prompt is kept nowhere: the UI clears the line before prompt_toolkit records it.)
"""

from __future__ import annotations

import os
from pathlib import Path

from prompt_toolkit.history import FileHistory, History, InMemoryHistory

from client.commands import is_private


def history_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "chat" / "history"


class PrivateHistory(FileHistory):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(path, 0o600)
        super().__init__(str(path))

    def store_string(self, string: str) -> None:
        if not is_private(string):
            super().store_string(string)


def open_history(enabled: bool) -> History:
    return PrivateHistory(history_path()) if enabled else InMemoryHistory()
