"""Errors of the ML agent. Each names the file, column, budget or database at fault."""


class AgentError(ValueError):
    """Base class of the agent's errors (a ValueError: bad input from the user)."""


class DataError(AgentError):
    """A dataset that is empty, unreadable, or lacks the target column."""


class BudgetError(AgentError):
    """A time or trial budget that cannot be parsed or is too small for one trial."""


class StudyLockedError(AgentError):
    """The study database stayed locked by another process longer than the lock timeout."""
