"""The one exception type user-facing code turns into a one-line error."""


class DevmemError(Exception):
    """A problem with the user's input or request; str(e) is one line naming it."""


#: An error line quotes at most this many characters of what the user gave.
QUOTED_MAX = 40


def quoted(text: str) -> str:
    """text as an error line quotes it (repr), cut to ``QUOTED_MAX`` characters so that a
    5000-digit number or a pasted page still gives a short one-line error."""
    if len(text) <= QUOTED_MAX:
        return repr(text)
    return repr(text[: QUOTED_MAX - 3] + "...") + f" ({len(text)} characters)"


def quoted_value(value: object) -> str:
    """Any value from a file as an error line shows it: strings as ``quoted``, others by
    repr, cut to ``QUOTED_MAX`` characters (a session file can hold a 5000-digit string)."""
    if isinstance(value, str):
        return quoted(value)
    text = repr(value)
    return text if len(text) <= QUOTED_MAX else text[: QUOTED_MAX - 3] + "..."
