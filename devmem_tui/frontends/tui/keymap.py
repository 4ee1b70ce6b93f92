"""User keymap: binding id -> keys, read from a TOML file and passed to ``App.set_keymap``.

The file is ``$DEVMEM_TUI_KEYMAP`` if set, else ``$XDG_CONFIG_HOME/devmem-tui/keymap.toml``
(``~/.config/devmem-tui/keymap.toml``). Either top-level ``id = "keys"`` pairs or a
``[keymap]`` table; keys are Textual key names, several separated by commas::

    [keymap]
    kcore = "K"            # free k ...
    "tree.vim_up" = "k"    # ... for vim-style up in the tree
    quit = "q,ctrl+q"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from devmem_tui.files import FileError, read_text


def keymap_path() -> Path:
    env = os.environ.get("DEVMEM_TUI_KEYMAP")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "devmem-tui" / "keymap.toml"


def load_keymap(path: Path | None, known_ids: set[str]) -> tuple[dict[str, str], list[str]]:
    """(keymap, problems). A missing file is no problem; a broken one is reported on one
    line and ignored, unknown ids are reported and skipped."""
    path = path or keymap_path()
    if not os.path.lexists(path):
        return {}, []
    try:  # through the file guard: never /proc/kcore, a FIFO or a device node
        data = tomllib.loads(read_text(str(path), "keymap file"))
    except FileError as e:
        return {}, [f"keymap: {e}; using the default keys"]
    except tomllib.TOMLDecodeError as e:
        return {}, [f"keymap {path}: {e}; using the default keys"]
    table = data.get("keymap", data)
    if not isinstance(table, dict):
        return {}, [f'keymap {path}: [keymap] must be a table of id = "keys"']
    out: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in table.items():
        if binding_id not in known_ids:
            problems.append(f"keymap {path}: unknown binding id {binding_id!r} (see docs/tui.md)")
            continue
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f"keymap {path}: {binding_id} must be a string of keys")
            continue
        out[binding_id] = keys.replace(" ", "")
    return out, problems
