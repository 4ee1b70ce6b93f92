"""The terminal driver: Textual's Linux driver, but input bytes that are not UTF-8 are read as
U+FFFD instead of ending the app, and a paste is only ever text.

Textual's ``LinuxDriver.run_input_thread`` decodes what it reads from the terminal with a
strict incremental UTF-8 decoder; one byte such as 0xe9 (a Latin-1 keyboard, ``tmux send-keys
-H e9``, a binary paste) raises UnicodeDecodeError in the input thread, which Textual turns
into ``App.panic``: the app exits, and an unsaved session would be lost. This is the same
loop (textual 8.2, drivers/linux_driver.py) with ``errors="replace"``: the byte becomes one
U+FFFD key, which the command bar does not take (``output.typed``) and no binding matches.

Pastes: Textual's parser (textual/_xterm_parser.py) handles an ESC inside a bracketed paste
as the start of an escape sequence and re-issues what follows it as key presses, so a pasted
binary blob could press ``q`` (quit) or any other key. ``PasteFilter`` drops the control
characters (tab and line breaks aside) between the paste's start and end markers first.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
_KEEP = frozenset("\t\n\r")


def _text_only(chunk: str) -> str:
    return "".join(c for c in chunk if c >= " " and c != "\x7f" or c in _KEEP)


class PasteFilter:
    """Feeds decoded input through unchanged, except inside bracketed pastes, whose control
    characters are dropped. A paste end marker split across two reads is held until the
    rest arrives; nothing outside a paste is ever held (a lone ESC is the Esc key)."""

    def __init__(self) -> None:
        self.inside = False
        self.pending = ""

    def __call__(self, text: str) -> str:
        text, self.pending = self.pending + text, ""
        out: list[str] = []
        i = 0
        while i < len(text):
            if not self.inside:
                j = text.find(PASTE_START, i)
                if j < 0:
                    out.append(text[i:])
                    break
                out.append(text[i : j + len(PASTE_START)])
                i = j + len(PASTE_START)
                self.inside = True
                continue
            j = text.find(PASTE_END, i)
            if j < 0:
                keep = _partial_end(text, i)
                out.append(_text_only(text[i : len(text) - keep]))
                self.pending = text[len(text) - keep :]
                break
            out.append(_text_only(text[i:j]) + PASTE_END)
            i = j + len(PASTE_END)
            self.inside = False
        return "".join(out)


def _partial_end(text: str, start: int) -> int:
    """How many characters at the end of text[start:] begin a paste end marker."""
    for n in range(min(len(PASTE_END) - 1, len(text) - start), 0, -1):
        if text.endswith(PASTE_END[:n]):
            return n
    return 0


class ReplacingLinuxDriver(LinuxDriver):
    """``LinuxDriver`` whose input decoding replaces bytes that are not UTF-8."""

    def run_input_thread(self) -> None:
        """Wait for input and dispatch events (Textual's loop, decoding with replacement)."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        event_read = selectors.EVENT_READ
        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decode = getincrementaldecoder("utf-8")(errors="replace").decode
        paste_filter = PasteFilter()
        read = os.read

        def process_selector_events(
            selector_events: list[tuple[selectors.SelectorKey, int]], final: bool = False
        ) -> None:
            for last, (_selector_key, mask) in loop_last(selector_events):
                if mask & event_read:
                    unicode_data = paste_filter(
                        decode(read(fileno, 1024 * 4), final=final and last)
                    )
                    if not unicode_data:
                        break  # stdin is a pipe that ended
                    for event in feed(unicode_data):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        try:
            while not self.exit_event.is_set():
                process_selector_events(selector.select(0.1))
            selector.unregister(self.fileno)
            process_selector_events(selector.select(0.1), final=True)
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass
