"""Errors that reach the user as one line, with an exit code of their own."""


class PystepsError(Exception):
    """A failure explained in one line; `exit_code` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()) if "\n" in message else message)


class UsageError(PystepsError):
    """Bad input from the user: a spec, a name, a file, an option. Nothing ran."""

    exit_code = 2


class StepFailed(PystepsError):
    """An az command failed, permanently or after its retries ran out."""

    exit_code = 1


class ExportError(PystepsError):
    """A step ran but its output does not hold what its exports declare."""

    exit_code = 1


class PlanInvalid(PystepsError):
    """`pysteps validate` found problems; each was already reported."""

    exit_code = 1
