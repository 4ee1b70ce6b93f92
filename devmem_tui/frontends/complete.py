"""The one completer source for the REPL and the TUI command bar.

``complete(text_before_cursor, session)`` returns ``Suggestion``s: command words first, then
the right kind of argument for each position, read from the usage strings in the command
registry with the usage grammar and matcher of ``commands.grammar`` (placeholders ->
``grammar.ARG_KINDS``). It is pure: no prompt_toolkit or textual import, so the TUI and tests
can call it directly; the REPL wraps it in a thin adapter.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from devmem_tui.commands.grammar import START, State, advance, closure, quote_word, split_partial
from devmem_tui.commands.registry import CommandSpec, UsageError
from devmem_tui.commands.session import ALIASES, REGISTRY, Session, load_all, lookup
from devmem_tui.engine import presets
from devmem_tui.engine.config import KEYS, kernel_suggestions
from devmem_tui.engine.devmem.verdict import Outcome
from devmem_tui.engine.errors import DevmemError

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
    for key, (_, help_text) in KEYS.items():
        yield key, help_text


def _config_values(key: str) -> Iterator[tuple[str, str]]:
    entry = KEYS.get(key.lower())
    if entry is None:
        return
    allowed, _ = entry
    if allowed:
        for v in allowed:
            yield v, ""
    elif key.lower() == "kernel":
        yield from kernel_suggestions()
    elif key.lower() == "phys_bits":
        for v in ("36", "39", "46", "52"):
            yield v, "physical address bits"


def _presets() -> Iterator[tuple[str, str]]:
    for name, description in presets.PRESETS.items():
        yield name, description.splitlines()[0] if description else ""


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
            if isinstance(mm, Mapping):  # the driver's memory-block table (or a dict)
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


def _resources(
    session: Session | None, releasable: bool = False, prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """Distinct resource names starting with prefix (quotes aside, any case), alphabetically,
    from the tree's name index: O(log n + the names listed), not a walk of the map.
    ``releasable``: only what ``release`` can free (busy, no children, a unique busy name, not
    a virtio-mem device's memory)."""
    m = _machine(session)
    tree = getattr(m, "tree", None)
    if tree is None:
        return
    index = tree.names
    device_at = getattr(m, "device_at", None)
    listed = 0
    for name in index.starting(prefix.lstrip('"'), busy=releasable):
        if releasable:
            if index.busy_count(name) != 1:
                continue
            r = index.busy(name)[0]
            if r.children:
                continue
            try:
                if device_at is not None and device_at(r.start) is not None:
                    continue
            except Exception:  # a device model mid-change must not break completion
                continue
        else:
            r = index.any(name)  # one of them, for the range shown next to the name
        yield name, f"{r.start:#x}-{r.end:#x}"
        listed += 1
        if listed >= MAX_NAME_SUGGESTIONS:
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
    for o in Outcome:
        yield o.value, ""


def _files(partial: str, session: Session | None) -> Iterator[tuple[str, str]]:
    """File-system paths starting with partial (directories end with '/'); only inside the
    session's file root when it has one (a served tab lists no folder of the server)."""
    expanded = os.path.expanduser(partial)
    head, tail = os.path.split(expanded)
    shown_head = partial[: len(partial) - len(tail)]
    if session is not None and session.file_root is not None:
        try:
            session.user_path(head or ".", writing=True)
        except DevmemError:
            return
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
    kind: str,
    partial: str,
    session: Session | None,
    spec: CommandSpec[Session],
    args: list[str],
) -> Iterator[tuple[str, str]]:
    if kind == "config_key":
        yield from _config_keys()
    elif kind == "config_value":
        key = args[0] if args else ""
        yield from _config_values(key)
    elif kind == "setting":  # KEY=VALUE: the keys first, then the values of the typed key
        key, eq, _ = partial.partition("=")
        if eq:
            for value, meta in _config_values(key):
                yield f"{key}={value}", meta
        else:
            for key, meta in _config_keys():
                yield f"{key}=", meta
    elif kind == "kernel":
        yield from kernel_suggestions()
    elif kind == "preset":
        yield from _presets()
    elif kind == "device":
        yield from _devices(session)
    elif kind == "mapping":
        yield from _mappings(session)
    elif kind == "memblock":
        yield from _memblocks_for(spec.name, session)
    elif kind == "resource":
        yield from _resources(session, releasable=spec.name == "release", prefix=partial)
    elif kind == "addr" and spec.name == "whatis":
        yield from _resource_starts(session)
    elif kind == "outcome":
        yield from _outcomes()
    elif kind == "file":
        yield from _files(partial, session)
    elif kind == "size" and partial.isdigit():
        for s in SIZE_SUFFIXES:
            yield partial + s, ""


def complete(text: str, session: Session | None = None) -> list[Suggestion]:
    """Completions for the text before the cursor of one command line."""
    words, partial, in_comment = split_partial(text)
    if in_comment:
        return []
    cur = partial.text if partial else ""
    start = -(len(text) - partial.start) if partial else 0
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

    for slots in spec.usage_slots:
        states: set[State] = {START}
        for i, word in enumerate(args):
            states, _ = advance(slots, states, word, i)
            if not states:
                break
        for st in closure(slots, states):
            if st.rest_from >= 0:  # inside TEXT or COMMAND: only a COMMAND completes
                if any(a.kind == "command" for a in slots[st.pos].alts):
                    sub_complete(text[words[1 + st.rest_from].start :])
                continue
            if st.pos >= len(slots):
                continue
            for alt in slots[st.pos].alts:
                if alt.kind == "command" and not alt.prefix:
                    sub_complete(text[partial.start :] if partial else "")
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
                        out[cand] = Suggestion(quote_word(cand), start, cand, meta)
    return list(out.values())
