"""The one exception type user-facing code turns into a one-line error."""


class DevmemError(Exception):
    """A problem with the user's input or request; str(e) is one line naming it."""
