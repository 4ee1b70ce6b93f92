"""The grammar of the command language, for every reader of a line: the session, the
scenario player, the recorder, completion and the REPL's highlighting.

Lines: words are separated by white space, ``"double quotes"`` group words, a word starting
with ``#`` starts a comment, and ``;`` separates commands on one typed line in every front end
(``split_line``, ``split_commands``, ``quote_word``, ``split_partial``). A scenario file holds
one command per line: there ``;`` is an error outside ``say`` and ``expect output`` text.

Usage strings (``read ADDR [LEN]``, ``export svg|iomem|json FILE``): after the command word,
lowercase words are literals, placeholders name the argument kind (``ARG_KINDS``), ``[X]``
is optional, ``X...`` repeats, ``a|b`` is a choice and ``name=VALUE`` an option word
(``parse_usage``). The matcher (``advance``, ``arg_kinds``) says which slot of a usage each
argument of a line fills, which is how completion offers the next word and how the recorder
and the player know which arguments are file names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

# ----------------------------------------------------------------------------- lines
# Words part at spaces and tabs only, as a shell's IFS does: a VT, NEL or U+2028 from a file
# stays in its word (and is shown escaped), so `say` repeats its text exactly.
_TOKEN = re.compile(r'"([^"]*)"|([^ \t]+)')


def split_line(line: str) -> list[str]:
    """Split a command line into words; '#' starts a comment; "double quotes" group words."""
    words: list[str] = []
    for m in _TOKEN.finditer(line):
        if m.group(2) is not None and m.group(2).startswith("#"):
            break
        words.append(m.group(1) if m.group(1) is not None else m.group(2))
    return words


def split_commands(text: str) -> list[str]:
    """Split a line into commands at ';' outside double quotes, as every front end reads a
    typed line (the REPL, the TUI's command bar, ``run -c`` and a ``run`` FILE). A word that
    starts with '#' outside quotes starts a comment, which runs to the end of the line: a
    ';' in it separates nothing. Blank pieces are kept (callers skip them)."""
    out: list[str] = []
    start = 0
    quoted = False
    word_start = True  # the next character begins a word
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            if ch == "#" and word_start:
                break  # a comment: the rest of the line belongs to the last command
            if ch == ";":
                out.append(text[start:i])
                start = i + 1
                word_start = True
                continue
        word_start = not quoted and ch.isspace()
    out.append(text[start:])
    return out


def has_separator(text: str) -> bool:
    """Whether ``split_commands`` would split this line (a ';' outside quotes and comments)."""
    return len(split_commands(text)) > 1


def quote_word(word: str) -> str:
    """A word as it must be written so that ``split_line`` reads it back as one word: in
    double quotes when it is empty, holds white space or starts with '#'. (A word that
    ``split_line`` returns never holds both white space and a double quote.)"""
    if not word or word.startswith("#") or any(c.isspace() for c in word):
        return f'"{word}"'
    return word


class Token(NamedTuple):
    """A word of a partial line: its text without quotes, and where it starts in the line."""

    text: str
    start: int


def split_partial(text: str) -> tuple[list[Token], Token | None, bool]:
    """The text before a cursor as ``split_line`` would read it: the complete words, the
    word being typed at the cursor (None after a space; an unclosed quote runs to the
    cursor), and whether the cursor sits in a comment."""
    words: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] == "#":
            return words, None, True
        if text[i] == '"':
            j = text.find('"', i + 1)
            if j < 0:
                return words, Token(text[i + 1 :], start), False
            tok = Token(text[i + 1 : j], start)
            i = j + 1
        else:
            while i < n and not text[i].isspace():
                i += 1
            tok = Token(text[start:i], start)
        if i >= n:
            return words, tok, False
        words.append(tok)
    return words, None, False


# ----------------------------------------------------------------------------- usage strings
# Placeholder -> argument kind, for completion and help.
ARG_KINDS: dict[str, str] = {
    "ADDR": "addr",
    "LEN": "size",
    "SIZE": "size",
    "OFFSET": "size",
    "RANGE": "range",
    "DEV": "device",
    "MAP": "mapping",
    "FILE": "file",
    "PRESET": "preset",
    "KERNEL": "kernel",
    "KEY": "config_key",
    "VALUE": "config_value",
    "memoryN": "memblock",
    "NAME": "resource",
    "COMMAND": "command",
    "DURATION": "duration",
    "TEXT": "text",
    "OUTCOME": "outcome",
    "KEY=VALUE": "setting",  # a config key and its value in one word (sweep --vs)
}
# Kinds whose slot swallows the rest of the line.
REST_KINDS = frozenset({"text", "command"})

# The records below are NamedTuples, not dataclasses: `devmem-tui run` imports this module on
# every start, and a frozen dataclass costs ten times as much to define.


class Alt(NamedTuple):
    """One alternative of a usage slot: a literal word, or a placeholder of some kind.
    ``prefix`` is set for ``block=SIZE``-style tokens (a literal prefix then a value)."""

    literal: str | None = None
    kind: str | None = None
    prefix: str = ""
    choices: tuple[str, ...] = ()  # `name=on|off`: the literal values after the prefix


class Slot(NamedTuple):
    alts: tuple[Alt, ...]
    optional: bool = False
    repeat: bool = False

    @property
    def rest(self) -> bool:
        return any(a.kind in REST_KINDS and not a.prefix for a in self.alts)


def _alt(word: str) -> Alt:
    if word in ARG_KINDS:
        return Alt(kind=ARG_KINDS[word])
    if "=" in word and not word.startswith("="):
        pre, _, ph = word.partition("=")
        values = tuple(v for v in ph.split("|") if v)
        if len(values) > 1 or (values and not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", values[0])):
            return Alt(kind="choice", prefix=pre + "=", choices=values)
        return Alt(kind=ARG_KINDS.get(ph, "value"), prefix=pre + "=")
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", word):
        return Alt(kind="value")  # a placeholder the registry does not know: free-form
    return Alt(literal=word)


def parse_usage(usage: str) -> list[Slot]:
    """``read ADDR [LEN]`` -> slots for the words after the command word."""
    slots: list[Slot] = []
    depth = 0
    for tok in usage.split()[1:]:
        opens = len(tok) - len(tok.lstrip("["))
        depth += opens
        core = tok.strip("[]")
        optional = depth > 0
        depth -= tok.count("]")
        depth = max(depth, 0)
        repeat = core.endswith("...")
        core = core.removesuffix("...")
        if not core:
            continue
        if re.match(r"^[\w-]+=", core):  # `name=a|b`: one alternative with value choices
            alts: tuple[Alt, ...] = (_alt(core),)
        else:
            alts = tuple(_alt(w) for w in core.split("|") if w)
        slots.append(Slot(alts, optional, repeat))
    return slots


def takes_no_args(slots: Sequence[Slot]) -> bool:
    """True for a usage that is the bare command word or only optional words."""
    return all(s.optional for s in slots)


def takes_file(usages: Iterable[Sequence[Slot]]) -> bool:
    """Whether any usage has a FILE slot (only a "file" slot can yield a "file" kind)."""
    return any(a.kind == "file" for slots in usages for slot in slots for a in slot.alts)


# ----------------------------------------------------------------------------- matching
class Usages(Protocol):
    """What the matcher needs of a command: its usages parsed once (``CommandSpec``)."""

    @property
    def usage_slots(self) -> tuple[list[Slot], ...]: ...

    @property
    def takes_file(self) -> bool: ...


def _alt_matches(alt: Alt, word: str) -> bool:
    if alt.prefix:
        return word.startswith(alt.prefix)
    if alt.literal is not None:
        return word.lower() == alt.literal.lower()
    if alt.kind in ("text", "command"):
        return True
    return not word.startswith("--")


class State(NamedTuple):
    """Where the matcher is in a usage: the next slot, or the rest-of-line slot it is in."""

    pos: int
    rest_from: int = -1  # index of the word where a rest-of-line slot began


START = State(0)


def closure(slots: list[Slot], states: Iterable[State]) -> set[State]:
    """States reachable by skipping optional slots."""
    out: set[State] = set()
    todo = list(states)
    while todo:
        st = todo.pop()
        if st in out:
            continue
        out.add(st)
        if st.rest_from < 0 and st.pos < len(slots) and slots[st.pos].optional:
            todo.append(State(st.pos + 1))
    return out


def advance(
    slots: list[Slot], states: set[State], word: str, index: int
) -> tuple[set[State], list[Alt]]:
    """Consume one word; also report the alternatives that accepted it (first = preferred)."""
    nxt: set[State] = set()
    matched: list[Alt] = []
    for st in sorted(closure(slots, states), key=lambda s: (s.pos, s.rest_from)):
        if st.rest_from >= 0:
            nxt.add(st)
            matched.extend(a for a in slots[st.pos].alts if a.kind in REST_KINDS)
            continue
        if st.pos >= len(slots):
            continue
        slot = slots[st.pos]
        for alt in slot.alts:
            if _alt_matches(alt, word):
                matched.append(alt)
                if slot.rest:
                    nxt.add(State(st.pos, index))
                elif slot.repeat:
                    nxt.add(State(st.pos))
                    nxt.add(State(st.pos + 1))
                else:
                    nxt.add(State(st.pos + 1))
                break
    # Literals first: `record stop` is the word stop, not a FILE named stop.
    matched.sort(key=lambda a: a.literal is None)
    return nxt, matched


def arg_kinds(spec: Usages, args: list[str]) -> list[str | None]:
    """The argument kind of each word in ``args`` (None for literals), by the first usage
    that accepts all the words; all None when no usage does."""
    for slots in spec.usage_slots:
        kinds: list[str | None] = []
        states: set[State] = {START}
        for i, word in enumerate(args):
            states, matched = advance(slots, states, word, i)
            if not states:
                break
            kinds.append(matched[0].kind if matched and matched[0].literal is None else None)
        if len(kinds) == len(args) and states:
            return kinds
    return [None] * len(args)


def file_arg_indexes(spec: Usages, args: list[str]) -> list[int]:
    """Indexes of the arguments that name files (for scenario-relative paths)."""
    # Most commands take no file: answer without matching the usage. The player asks this for
    # every scenario line, and the matching was a third of `devmem-tui play` time
    # (docs/performance.md). Same answer: only a "file" slot can yield a "file" kind.
    if not spec.takes_file:
        return []
    return [i for i, k in enumerate(arg_kinds(spec, args)) if k == "file"]
