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
