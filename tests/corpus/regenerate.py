"""Regenerate the session files in tests/corpus/ (run from the checkout root):

    python tests/corpus/regenerate.py

``valid.json`` is a real save (default preset, 256 MiB plugged, a mapping, a claim); every
other file is that document damaged in one way, named for the damage. ``open`` must refuse
each of them in one line and leave the session as it was (tests/test_transactions.py,
tests/test_reliability.py). The failing-command corpus itself is tests/command_corpus.txt.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devmem_tui.commands.session import Session
from devmem_tui.engine import session_json as state

HERE = Path(__file__).resolve().parent


def main() -> None:
    s = Session.new()
    for line in ("vmem resize vmem0 256M", "mmap 0xfebd0000 4096", "claim 0xfebd1000+4K mydrv"):
        r = s.execute(line)
        assert r is not None and r.ok, line
    d = state.to_dict(s.machine)
    text = state.dumps(s.machine)

    def write(name: str, doc: object) -> None:
        (HERE / name).write_text(state._pretty(doc) + "\n")

    def damaged(name: str, change: Callable[[dict[str, Any]], object]) -> None:
        doc = copy.deepcopy(d)
        change(doc)
        write(name, doc)

    (HERE / "valid.json").write_text(text)
    (HERE / "not-json.txt").write_text("this is not a session file\n")
    (HERE / "empty.json").write_text("")
    (HERE / "truncated.json").write_text(text[: len(text) // 2])
    damaged("newer-version.json", lambda x: x.update(version=99))
    damaged("version-zero.json", lambda x: x.update(version=0))
    damaged("no-version.json", lambda x: x.pop("version"))
    write("other-tool.json", {"name": "left-pad", "version": "1.3.0", "dependencies": {}})
    (HERE / "array.json").write_text("[1, 2, 3]\n")
    damaged(
        "overlapping-resources.json",
        lambda x: x["resources"].insert(
            1, {"start": "0x800", "end": "0x1fff", "name": "overlap", "flags": ["mem", "busy"]}
        ),
    )
    damaged("bad-flag.json", lambda x: x["resources"][0].update(flags=["mem", "sparkly"]))
    damaged("bad-config.json", lambda x: x["config"].update(kernel="9.9"))
    damaged("bad-vmem.json", lambda x: x["vmem"][0]["device"].update(plugged_size=0x12345000))
    damaged("duplicate-mapping.json", lambda x: x["mappings"].append(dict(x["mappings"][0])))
    (HERE / "nested-deep.json").write_text("[" * 3000 + "]" * 3000 + "\n")
    (HERE / "latin1.json").write_bytes(
        text.replace('"qemu-x86-virtio-mem"', '"caf\xe9"', 1).encode("latin-1")
    )
    nan = copy.deepcopy(d)
    nan["clock"] = float("nan")  # json writes NaN, which json (and so `open`) reads back
    (HERE / "nan-clock.json").write_text(json.dumps(nan, indent=1) + "\n")
    damaged("huge-clock.json", lambda x: x.update(clock=1e300))


if __name__ == "__main__":
    main()
