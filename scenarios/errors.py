"""The scenario runner's exceptions."""

from __future__ import annotations


class ScenarioError(Exception):
    """A scenario file that cannot be run as written.

    ``key`` is the path of the offending key (``step[3].action``: the third ``[[step]]``,
    counting from 1), ``line`` its line in the file (None when the file has no such line,
    e.g. a required key that is missing from an inline table), ``problem`` what is wrong.
    ``str()`` gives ``FILE:LINE: key 'KEY': PROBLEM``.
    """

    def __init__(
        self,
        problem: str,
        *,
        key: str | None = None,
        line: int | None = None,
        filename: str = "<scenario>",
    ) -> None:
        self.problem = problem
        self.key = key
        self.line = line
        self.filename = filename
        super().__init__(self.format())

    def format(self) -> str:
        """The one-line message the CLI prints."""
        where = self.filename if self.line is None else f"{self.filename}:{self.line}"
        if self.key:
            return f"{where}: key '{self.key}': {self.problem}"
        return f"{where}: {self.problem}"


class EngineUnavailable(Exception):
    """The pieces a real run needs (binding, STIR, delivery service, client core) are missing.

    ``missing`` names each missing piece and the issue that builds it.
    """

    def __init__(self, missing: tuple[str, ...]) -> None:
        self.missing = missing
        super().__init__("cannot run scenarios yet: needs " + "; ".join(missing))


class WorkerFailed(Exception):
    """A client worker process died, or a client crashed inside one, during a run.

    ``actors`` names the clients it was running; the message says how it ended and
    ends with the worker's last stderr lines when it left any.
    """

    def __init__(self, message: str, actors: list[str] | tuple[str, ...]) -> None:
        self.actors = tuple(actors)
        super().__init__(message)
