"""The shared completer: command words, then the argument kind each usage placeholder names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from devmem_tui.commands.grammar import arg_kinds, file_arg_indexes, parse_usage
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import ALIASES, REGISTRY, Session, command, load_all, lookup
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.iomem.tree import F, Resource, ResourceTree
from devmem_tui.engine.machine import Machine
from devmem_tui.frontends.complete import Suggestion, complete, memory_blocks


def small_session() -> Session:
    tree = ResourceTree()
    ram = tree.add_child(
        tree.root, Resource(0x1000, 0x9FFFF, "System RAM", F.MEM | F.SYSRAM | F.BUSY)
    )
    tree.add_child(ram, Resource(0x2000, 0x2FFF, "Kernel code", F.MEM | F.BUSY))
    tree.add_child(tree.root, Resource(0xFED00000, 0xFED003FF, "HPET 0", F.MEM))
    m = Machine(tree)
    m.mappings["m1"] = Mapping("m1", 0x1000, 0x1000)
    m.mappings["m2"] = Mapping("m2", 0x3000, 0x2000, private=True)
    return Session(m)


def _demo(session: Session, args: list[str]) -> Result:
    return Result(True, "DONE", " ".join(args))


# Throwaway commands with every usage shape the real commands use; registered only while a
# test of this module runs, so no other test sees them in help or the palette.
DEMO_COMMANDS = {
    "zz-demo": (
        "zz-demo DEV ADDR SIZE [block=SIZE]",
        "zz-demo online memoryN [kernel|movable]",
        "zz-demo pick MAP [--all]",
    ),
    "zz-cmp": ("zz-cmp COMMAND",),
    "zz-file": ("zz-file iomem FILE", "zz-file stop"),
    "zz-rel": ("zz-rel NAME",),
    "zz-on": ("zz-on memoryN",),
}


@pytest.fixture(autouse=True)
def demo_commands() -> Iterator[None]:
    load_all()
    saved, saved_aliases = dict(REGISTRY), dict(ALIASES)
    for name, usages in DEMO_COMMANDS.items():
        command(name, *usages, summary="test-only", mutates=False)(_demo)
    yield
    REGISTRY.clear()  # the real commands come back exactly as they were
    REGISTRY.update(saved)
    ALIASES.clear()
    ALIASES.update(saved_aliases)


def texts(sugs: list[Suggestion]) -> list[str]:
    return [s.text for s in sugs]


def test_command_words_complete_from_the_registry() -> None:
    got = texts(complete("se"))
    assert "set" in got
    assert all(t.startswith("se") for t in got)
    assert complete("se")[0].start == -2
    assert "config" in texts(complete(""))
    assert "?" in texts(complete(""))  # aliases too


def test_unknown_command_completes_nothing() -> None:
    assert complete("frobnicate ") == []


def test_config_keys_then_their_values() -> None:
    assert "strict_devmem" in texts(complete("set st"))
    assert texts(complete("set iomem ")) == ["default", "strict", "relaxed"]
    assert texts(complete("set iomem r")) == ["relaxed"]
    assert complete("set iomem r")[0].start == -1
    assert "6.1.0" in texts(complete("set kernel "))
    # the first sub-level of each stable line that got b4afe4183ec7 is offered too
    assert "6.1.113" in texts(complete("set kernel 6.1."))
    assert texts(complete("set lockdown ")) == ["none", "integrity", "confidentiality"]
    assert texts(complete("pin 0x1000 4K ")) == ["unmovable", "longterm"]
    assert texts(complete("kexec 6.16")) == ["6.16.0"]  # kexec KERNEL completes versions
    assert texts(complete("suspend ")) == ["mem", "freeze", "disk"]
    assert texts(complete("set auto_online online_m")) == ["online_movable"]
    # no third argument
    assert complete("set iomem relaxed ") == []


def test_help_completes_command_names() -> None:
    assert "config" in texts(complete("help con"))
    assert "set" in texts(complete("? s"))


def test_mapping_ids_come_from_the_machine() -> None:
    s = small_session()
    got = complete("zz-demo pick ", s)
    assert texts(got) == ["m1", "m2"]
    assert "private" in got[1].meta
    assert texts(complete("zz-demo pick m1 ", s)) == ["--all"]


def test_literal_choices_and_prefix_tokens() -> None:
    s = small_session()
    assert "online" in texts(complete("zz-demo ", s))
    assert texts(complete("zz-demo x 0x1000 128M b", s)) == ["block="]
    assert texts(complete("zz-demo x 0x1000 128M block=2", s)) == [
        "block=2K",
        "block=2M",
        "block=2G",
    ]


def test_size_suffixes_after_a_bare_number() -> None:
    assert texts(complete("zz-demo x 0x1000 12")) == ["12K", "12M", "12G"]
    assert complete("zz-demo x 0x") == []  # addresses: nothing to guess


def test_rest_of_line_command_completes_recursively() -> None:
    assert "set" in texts(complete("zz-cmp se"))
    assert texts(complete("zz-cmp set iomem st")) == ["strict"]


def test_file_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "boot.iomem").write_text("")
    (tmp_path / "lessons").mkdir()
    (tmp_path / ".hidden").write_text("")
    monkeypatch.chdir(tmp_path)
    got = texts(complete("zz-file iomem "))
    assert got == ["boot.iomem", "lessons/"]
    assert texts(complete("zz-file iomem les")) == ["lessons/"]
    sub = tmp_path / "lessons" / "a b.scenario"
    sub.write_text("")
    got2 = complete("zz-file iomem lessons/a")
    assert texts(got2) == ['"lessons/a b.scenario"']  # spaces get quoted
    assert got2[0].start == -len("lessons/a")


def test_literal_beats_placeholder_in_arg_kinds() -> None:
    spec = lookup("zz-file")
    assert arg_kinds(spec, ["stop"]) == [None]
    assert arg_kinds(spec, ["iomem", "x.txt"]) == [None, "file"]
    assert file_arg_indexes(spec, ["iomem", "x.txt"]) == [1]
    assert file_arg_indexes(spec, ["iomem", "x", "extra"]) == []


def test_resource_names_are_quoted() -> None:
    got = complete("zz-rel Ke", small_session())
    assert texts(got) == ['"Kernel code"']
    assert texts(complete('zz-rel "HP', small_session())) == ['"HPET 0"']
    assert complete('zz-rel "HP', small_session())[0].start == -3


def test_comments_complete_nothing() -> None:
    assert complete("set # ") == []


def test_parse_usage_shapes() -> None:
    slots = parse_usage("vmem add DEV ADDR SIZE [block=SIZE]")
    assert [s.optional for s in slots] == [False, False, False, False, True]
    assert slots[0].alts[0].literal == "add"
    assert slots[1].alts[0].kind == "device"
    assert slots[4].alts[0].prefix == "block="
    choice = parse_usage("export svg|iomem|json FILE")[0]
    assert [a.literal for a in choice.alts] == ["svg", "iomem", "json"]


def test_memory_blocks_tolerate_devices_without_the_api() -> None:
    class FakeDev:
        class device:  # noqa: N801 - mimics VirtioMem.device
            addr = 0x100000000
            region_size = 0x20000000

        @staticmethod
        def memory_state(addr: int) -> str:
            return "online" if addr < 0x108000000 else "not_added"

    class Broken:
        device = None

    s = small_session()
    devices = cast(dict[str, Any], s.machine.vmem)
    devices["vmem0"] = FakeDev()
    devices["vmem1"] = Broken()
    got = complete("zz-on ", s)
    assert texts(got) == ["memory32"]
    assert got[0].meta == "online"
    assert texts(complete("zz-demo ", s))[:2] == ["vmem0", "vmem1"]


def test_prefixed_choices() -> None:
    slots = parse_usage("vmem add DEV ADDR SIZE [block=SIZE] [unplugged-inaccessible=on|off]")
    alt = slots[-1].alts[0]
    assert (alt.prefix, alt.choices) == ("unplugged-inaccessible=", ("on", "off"))
    assert len(slots[-1].alts) == 1


def test_whatis_completes_addresses_by_resource_name() -> None:
    s = small_session()
    got = complete("whatis Kern", s)
    assert [(g.text, g.meta) for g in got] == [("0x2000", "Kernel code")]
    assert texts(complete("whatis 0xfe", s)) == ["0xfed00000"]


def test_release_offers_only_releasable_regions() -> None:
    s = small_session()
    s.machine.tree.request_region(0xFED00000, 0x100, "my drv")  # nests in HPET 0
    got = texts(complete("release ", s))
    assert got == ['"Kernel code"', '"my drv"']
    assert '"System RAM"' not in got  # it has children
    assert '"HPET 0"' not in got  # not busy


def test_memory_blocks_from_the_driver_mm_dict() -> None:
    class Dev:
        mm = {41: "offline", 40: "Movable"}

    s = small_session()
    cast(dict[str, Any], s.machine.vmem)["vmem0"] = Dev()
    assert memory_blocks(s) == [("memory40", "online Movable"), ("memory41", "offline")]
    # stand-ins with the real usages (the fixture restores the registry afterwards)
    command("online", "online memoryN [kernel|movable]", summary="t", mutates=False)(_demo)
    command("offline", "offline memoryN", summary="t", mutates=False)(_demo)
    assert texts(complete("online ", s)) == ["memory41"]
    assert texts(complete("offline ", s)) == ["memory40"]
    assert texts(complete("online memory41 ", s)) == ["kernel", "movable"]
