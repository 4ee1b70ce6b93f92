"""The one completer source for the REPL and the TUI command bar.

``complete(text_before_cursor, session)`` returns ``Suggestion``s: command words first, then
the right kind of argument for each position, read from the usage strings in the command
registry (placeholders -> ``registry.ARG_KINDS``). It is pure: no prompt_toolkit or textual
import, so the TUI and tests can call it directly; the REPL wraps it in a thin adapter.

The usage matcher here (``arg_kinds``) is also how the scenario player and the recorder know
which arguments of a command are file paths.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devmem_tui.commands.registry import (
    ALIASES,
    ARG_KINDS,
    REGISTRY,
    CommandSpec,
    UsageError,
    load_all,
    lookup,
)

if TYPE_CHECKING:
    from devmem_tui.commands.session import Session

# Kinds whose slot swallows the rest of the line.
REST_KINDS = frozenset({"text", "command"})
# Common sizes offered after a bare number for size-like arguments.
SIZE_SUFFIXES = ("K", "M", "G")
MAX_NAME_SUGGESTIONS = 200  # keep huge maps from flooding a menu


@dataclass(frozen=True)
class Suggestion:
    """One completion: replace the ``-start`` characters before the cursor with ``text``."""

    text: str
    start: int  # <= 0, relative to the cursor
    display: str = ""
    meta: str = ""


@dataclass(frozen=True)
class Alt:
    """One alternative of a usage slot: a literal word, or a placeholder of some kind.
    ``prefix`` is set for ``block=SIZE``-style tokens (a literal prefix then a value)."""

    literal: str | None = None
    kind: str | None = None
    prefix: str = ""
    choices: tuple[str, ...] = ()  # `name=on|off`: the literal values after the prefix


@dataclass(frozen=True)
class Slot:
    alts: tuple[Alt, ...]
    optional: bool = False
    repeat: bool = False

    @property
    def rest(self) -> bool:
        return any(a.kind in REST_KINDS and not a.prefix for a in self.alts)


# ----------------------------------------------------------------------------- usage grammar
def _alt(word: str) -> Alt:
    if "=" in word and not word.startswith("="):
        pre, _, ph = word.partition("=")
        values = tuple(v for v in ph.split("|") if v)
        if len(values) > 1 or (values and not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", values[0])):
            return Alt(kind="choice", prefix=pre + "=", choices=values)
        return Alt(kind=ARG_KINDS.get(ph, "value"), prefix=pre + "=")
    if word in ARG_KINDS:
        return Alt(kind=ARG_KINDS[word])
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


def _alt_matches(alt: Alt, word: str) -> bool:
    if alt.prefix:
        return word.startswith(alt.prefix)
    if alt.literal is not None:
        return word.lower() == alt.literal.lower()
    if alt.kind in ("text", "command"):
        return True
    return not word.startswith("--")


@dataclass(frozen=True)
class _State:
    pos: int
    rest_from: int = -1  # index of the word where a rest-of-line slot began


def _closure(slots: list[Slot], states: Iterable[_State]) -> set[_State]:
    """States reachable by skipping optional slots."""
    out: set[_State] = set()
    todo = list(states)
    while todo:
        st = todo.pop()
        if st in out:
            continue
        out.add(st)
        if st.rest_from < 0 and st.pos < len(slots) and slots[st.pos].optional:
            todo.append(_State(st.pos + 1))
    return out


def _advance(
    slots: list[Slot], states: set[_State], word: str, index: int
) -> tuple[set[_State], list[Alt]]:
    """Consume one word; also report the alternatives that accepted it (first = preferred)."""
    nxt: set[_State] = set()
    matched: list[Alt] = []
    for st in sorted(_closure(slots, states), key=lambda s: (s.pos, s.rest_from)):
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
                    nxt.add(_State(st.pos, index))
                elif slot.repeat:
                    nxt.add(_State(st.pos))
                    nxt.add(_State(st.pos + 1))
                else:
                    nxt.add(_State(st.pos + 1))
                break
    # Literals first: `record stop` is the word stop, not a FILE named stop.
    matched.sort(key=lambda a: a.literal is None)
    return nxt, matched


def _all_usage_slots(spec: CommandSpec) -> list[list[Slot]]:
    return [parse_usage(u) for u in spec.usages]


def arg_kinds(spec: CommandSpec, args: list[str]) -> list[str | None]:
    """The argument kind of each word in ``args`` (None for literals), by the first usage
    that accepts all the words; all None when no usage does."""
    for slots in _all_usage_slots(spec):
        kinds: list[str | None] = []
        states: set[_State] = {_State(0)}
        for i, word in enumerate(args):
            states, matched = _advance(slots, states, word, i)
            if not states:
                break
            kinds.append(matched[0].kind if matched and matched[0].literal is None else None)
        if len(kinds) == len(args) and states:
            return kinds
    return [None] * len(args)


def file_arg_indexes(spec: CommandSpec, args: list[str]) -> list[int]:
    """Indexes of the arguments that name files (for scenario-relative paths)."""
    # Most commands take no file: answer without matching the usage. The player asks this for
    # every scenario line, and the matching was a third of `devmem-tui play` time
    # (docs/performance.md). Same answer: only a "file" slot can yield a "file" kind.
    if not _takes_file(tuple(spec.usages)):
        return []
    return [i for i, k in enumerate(arg_kinds(spec, args)) if k == "file"]


@functools.lru_cache(maxsize=512)
def _takes_file(usages: tuple[str, ...]) -> bool:
    return any(a.kind == "file" for u in usages for slot in parse_usage(u) for a in slot.alts)


# ----------------------------------------------------------------------------- tokenizing
@dataclass
class _Tok:
    text: str  # unquoted
    raw_start: int


def _tokenize(text: str) -> tuple[list[_Tok], _Tok | None, bool]:
    """Words before the cursor, the partial word at the cursor (None after a space), and
    whether the cursor sits in a comment."""
    words: list[_Tok] = []
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
                return words, _Tok(text[i + 1 :], start), False
            tok = _Tok(text[i + 1 : j], start)
            i = j + 1
        else:
            while i < n and not text[i].isspace():
                i += 1
            tok = _Tok(text[start:i], start)
        if i >= n:
            return words, tok, False
        words.append(tok)
    return words, None, False


def _quote(word: str) -> str:
    return (
        f'"{word}"'
        if (not word or any(c.isspace() for c in word) or word.startswith("#"))
        else word
    )


# ----------------------------------------------------------------------------- candidates
def _machine(session: Session | None) -> Any:
    return getattr(session, "machine", None)


def _commands() -> Iterator[tuple[str, str]]:
    load_all()
    for name, spec in sorted(REGISTRY.items()):
        yield name, spec.summary
    for alias, name in sorted(ALIASES.items()):
        target = REGISTRY.get(name)
        yield alias, f"= {name}" + (f": {target.summary}" if target else "")


def _config_keys() -> Iterator[tuple[str, str]]:
    from devmem_tui.engine.config import KEYS

    for key, (_, help_text) in KEYS.items():
        yield key, help_text


def _config_values(key: str) -> Iterator[tuple[str, str]]:
    from devmem_tui.engine.config import ERAS, KEYS

    entry = KEYS.get(key.lower())
    if entry is None:
        return
    allowed, _ = entry
    if allowed:
        for v in allowed:
            yield v, ""
    elif key.lower() == "kernel":
        for v in ERAS:
            yield v, "kernel era"
    elif key.lower() == "phys_bits":
        for v in ("36", "39", "46", "52"):
            yield v, "physical address bits"


def _presets() -> Iterator[tuple[str, str]]:
    try:
        from devmem_tui.engine import presets
    except ImportError:
        return
    table = getattr(presets, "PRESETS", {})
    items = table.items() if isinstance(table, dict) else ((n, None) for n in table)
    for name, info in items:
        meta = ""
        if isinstance(info, str):
            meta = info
        else:
            meta = str(getattr(info, "description", "") or getattr(info, "summary", "") or "")
            if not meta and isinstance(info, dict):
                meta = str(info.get("description", ""))
        yield str(name), meta.splitlines()[0] if meta else ""


def _devices(session: Session | None) -> Iterator[tuple[str, str]]:
    m = _machine(session)
    for name, dev in (getattr(m, "vmem", None) or {}).items():
        meta = ""
        d = getattr(dev, "device", None)
        if d is not None:
            try:
                meta = f"{d.addr:#x} +{d.region_size:#x}"
            except (AttributeError, TypeError):
                meta = ""
        yield name, meta


def _mappings(session: Session | None) -> Iterator[tuple[str, str]]:
    m = _machine(session)
    for mid, mp in (getattr(m, "mappings", None) or {}).items():
        try:
            meta = f"{mp.start:#x}+{mp.length:#x}" + (" private" if mp.private else "")
        except AttributeError:
            meta = ""
        yield mid, meta


def memory_blocks(session: Session | None) -> list[tuple[str, str]]:
    """``memoryN`` names of the memory blocks that exist (added memory), with their state.

    Asks the device objects: a VirtioMem keeps ``mm`` (block id -> zone, or "offline");
    without it, derives the ids the way Linux names them (``phys_index = addr /
    memory_block_size``) for each block of the device's region whose memory is added.
    Tolerates devices without either."""
    m = _machine(session)
    if m is None:
        return []
    out: dict[int, str] = {}
    bs = int(getattr(m, "memory_block_size", 0x8000000) or 0x8000000)
    for dev in (getattr(m, "vmem", None) or {}).values():
        try:
            mm = getattr(dev, "mm", None)
            if isinstance(mm, dict):
                for mb, zone in mm.items():
                    out[int(mb)] = "offline" if zone == "offline" else f"online {zone}"
                continue
            d = dev.device
            first, last = d.addr // bs, (d.addr + d.region_size - 1) // bs
            if last - first > 4096:
                continue
            for mb in range(first, last + 1):
                state = str(dev.memory_state(mb * bs))
                if state != "not_added":
                    out[mb] = state
        except Exception:  # a device model mid-change must not break completion
            continue
    return [(f"memory{n}", out[n]) for n in sorted(out)]


def _memblocks_for(command_name: str, session: Session | None) -> Iterator[tuple[str, str]]:
    """``online`` offers offline blocks and ``offline`` online ones (all if none fit)."""
    blocks = memory_blocks(session)
    if command_name in ("online", "offline"):
        want_offline = command_name == "online"
        fit = [b for b in blocks if (b[1] in ("offline", "page_offline")) == want_offline]
        if fit:
            blocks = fit
    yield from blocks


def _resources(session: Session | None, releasable: bool = False) -> Iterator[tuple[str, str]]:
    """Distinct resource names; ``releasable``: only what ``release`` can free (busy, no
    children, a unique busy name, not a virtio-mem device's memory)."""
    m = _machine(session)
    tree = getattr(m, "tree", None)
    if tree is None:
        return
    all_res = [r for _, r in tree.walk()]
    if releasable:
        busy_names: dict[str, int] = {}
        for r in all_res:
            if r.busy:
                busy_names[r.name] = busy_names.get(r.name, 0) + 1
        devices = list((getattr(m, "vmem", None) or {}).values())

        def device_owned(addr: int) -> bool:
            for dev in devices:
                try:
                    if dev.covers(addr):
                        return True
                except Exception:
                    continue
            return False

        all_res = [
            r
            for r in all_res
            if r.busy and not r.children and busy_names[r.name] == 1 and not device_owned(r.start)
        ]
    seen: set[str] = set()
    for r in all_res:
        if r.name in seen:
            continue
        seen.add(r.name)
        yield r.name, f"{r.start:#x}-{r.end:#x}"
        if len(seen) >= MAX_NAME_SUGGESTIONS:
            return


def _resource_starts(session: Session | None) -> Iterator[tuple[str, str]]:
    """Start addresses of resources, named in the meta: `whatis Kern<Tab>` becomes the
    address of "Kernel code" (whatis takes an address, not a name)."""
    tree = getattr(_machine(session), "tree", None)
    if tree is None:
        return
    seen: set[int] = set()
    for _, r in tree.walk():
        if r.start not in seen:
            seen.add(r.start)
            yield f"{r.start:#x}", r.name
        if len(seen) >= MAX_NAME_SUGGESTIONS:
            return


def _outcomes() -> Iterator[tuple[str, str]]:
    from devmem_tui.engine.devmem.verdict import Outcome

    for o in Outcome:
        yield o.value, ""


def _files(partial: str) -> Iterator[tuple[str, str]]:
    """File-system paths starting with partial (directories end with '/')."""
    expanded = os.path.expanduser(partial)
    head, tail = os.path.split(expanded)
    shown_head = partial[: len(partial) - len(tail)]
    try:
        names = sorted(os.listdir(head or "."))
    except OSError:
        return
    for name in names:
        if not name.startswith(tail):
            continue
        if name.startswith(".") and not tail.startswith("."):
            continue
        full = os.path.join(head or ".", name)
        suffix = "/" if os.path.isdir(full) else ""
        yield shown_head + name + suffix, "dir" if suffix else ""


def _kind_candidates(
    kind: str, partial: str, session: Session | None, spec: CommandSpec, args: list[str]
) -> Iterator[tuple[str, str]]:
    if kind == "config_key":
        yield from _config_keys()
    elif kind == "config_value":
        key = args[0] if args else ""
        yield from _config_values(key)
    elif kind == "preset":
        yield from _presets()
    elif kind == "device":
        yield from _devices(session)
    elif kind == "mapping":
        yield from _mappings(session)
    elif kind == "memblock":
        yield from _memblocks_for(spec.name, session)
    elif kind == "resource":
        yield from _resources(session, releasable=spec.name == "release")
    elif kind == "addr" and spec.name == "whatis":
        yield from _resource_starts(session)
    elif kind == "outcome":
        yield from _outcomes()
    elif kind == "file":
        yield from _files(partial)
    elif kind == "size" and partial.isdigit():
        for s in SIZE_SUFFIXES:
            yield partial + s, ""


def complete(text: str, session: Session | None = None) -> list[Suggestion]:
    """Completions for the text before the cursor of one command line."""
    words, partial, in_comment = _tokenize(text)
    if in_comment:
        return []
    cur = partial.text if partial else ""
    start = -(len(text) - partial.raw_start) if partial else 0
    if not words:
        return [
            Suggestion(name, start, name, meta)
            for name, meta in _commands()
            if name.startswith(cur.lower())
        ]
    try:
        spec = lookup(words[0].text)
    except UsageError:
        return []
    args = [w.text for w in words[1:]]
    out: dict[str, Suggestion] = {}

    def sub_complete(from_text: str) -> None:
        for s in complete(from_text, session):
            out.setdefault(s.text, s)

    for slots in _all_usage_slots(spec):
        states: set[_State] = {_State(0)}
        for i, word in enumerate(args):
            states, _ = _advance(slots, states, word, i)
            if not states:
                break
        for st in _closure(slots, states):
            if st.rest_from >= 0:  # inside TEXT or COMMAND: only a COMMAND completes
                if any(a.kind == "command" for a in slots[st.pos].alts):
                    sub_complete(text[words[1 + st.rest_from].raw_start :])
                continue
            if st.pos >= len(slots):
                continue
            for alt in slots[st.pos].alts:
                if alt.kind == "command" and not alt.prefix:
                    sub_complete(text[partial.raw_start :] if partial else "")
                    continue
                if alt.literal is not None:
                    cands: Iterable[tuple[str, str]] = [(alt.literal, "")]
                elif alt.prefix:
                    if cur.startswith(alt.prefix) and alt.choices:
                        cands = [(alt.prefix + c, "") for c in alt.choices]
                    elif cur.startswith(alt.prefix):
                        inner = cur[len(alt.prefix) :]
                        cands = [
                            (alt.prefix + t, m)
                            for t, m in _kind_candidates(alt.kind or "", inner, session, spec, args)
                        ]
                    else:
                        cands = [(alt.prefix, "")]
                else:
                    cands = _kind_candidates(alt.kind or "", cur, session, spec, args)
                by_name = alt.kind == "addr" and spec.name == "whatis"
                for cand, meta in cands:
                    hit = cand.lower().startswith(cur.lower()) or (
                        by_name and cur and meta.lower().startswith(cur.lower().lstrip('"'))
                    )
                    if hit and cand not in out:
                        out[cand] = Suggestion(_quote(cand), start, cand, meta)
    return list(out.values())
