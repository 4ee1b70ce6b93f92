"""x86 xlate_dev_mem_ptr() before 4.14: page_is_ram() ? __va() : ioremap_cache().

The SME series ("x86/mm: Use proper encryption attributes with /dev/mem", 4.14) switched it to
memremap(), which refuses a page that is only partly System RAM ("mixed range") -> EFAULT.
Before, such a page went through ioremap_cache() and was read.
"""

import pytest

from devmem_tui.commands.session import Session


@pytest.mark.parametrize(
    ("kernel", "outcome"),
    [
        ("4.10", "OK"),
        ("4.11", "OK"),
        ("4.13", "OK"),
        ("4.14", "EFAULT"),
        ("4.17", "EFAULT"),
        ("4.18", "ZEROS"),
    ],
)
def test_partial_ram_page_by_era(kernel: str, outcome: str) -> None:
    s = Session.new("qemu-x86")
    s.execute(f"set kernel {kernel}")
    r = s.execute("read 0x9f000")
    assert r is not None and r.outcome == outcome
    if kernel in ("4.11", "4.13"):
        # before 4.15 x86 ioremap asks walk_system_ram_range(), not walk_mem_res()
        assert any(
            t.startswith("ioremap_cache(0x9f000) [walk_system_ram_range, top level]")
            and t.endswith("-> mapped")
            for t in r.trace
        )


def test_whole_ram_page_uses_direct_map_before_4_14() -> None:
    s = Session.new("qemu-x86")
    s.execute("set kernel 4.10")
    r = s.execute("read 0x1000")
    assert r is not None and r.outcome == "OK"
    assert any("page_is_ram() -> __va(), direct map" in t for t in r.trace)
