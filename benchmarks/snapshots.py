"""(l) Snapshots: `devmem-tui snapshot` of fake roots with many memory blocks (and of this
machine, when run as root), and opening snapshots whose /proc/iomem is large (up to 20 MB).

The fake roots are the q35 guest fixture (tests/fixtures/snapshot-roots/qemu-debian61) with its
memory-block directories multiplied: a machine's block count is what makes a snapshot slow
(four small sysfs files per block), its /proc/iomem is a few KiB. The large snapshots are that
snapshot with the [iomem] section replaced by the generated maps of benchmarks.machines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from benchmarks.common import Table, fmt_s, median_time
from benchmarks.machines import build_tree
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.snapshot import build
from devmem_tui.engine.snapshot import format as fmt
from devmem_tui.snapshot.collect import CollectError, collect

_HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(_HERE, "..", "tests", "fixtures", "snapshot-roots", "qemu-debian61")
_MEMORY = os.path.join("sys", "devices", "system", "memory")


def fake_root(where: str, blocks: int) -> str:
    """The fixture root with ``blocks`` memory-block directories."""
    root = os.path.join(where, f"root-{blocks}")
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("memory[0-9]*"))
    for n in range(blocks):
        d = os.path.join(root, _MEMORY, f"memory{n}")
        os.makedirs(d)
        for name, value in (
            ("state", "online"),
            ("phys_index", f"{n:08x}"),
            ("removable", "1"),
            ("valid_zones", "Normal"),
        ):
            with open(os.path.join(d, name), "w", encoding="ascii") as f:
                f.write(value + "\n")
    return root


def large_snapshot(resources: int) -> str:
    """The fixture's snapshot text with a generated map of about ``resources`` lines."""
    snap = collect(FIXTURE).snapshot
    snap.iomem = iomem_text.render(build_tree(resources).tree)
    return fmt.render(snap)


def snapshot(s: Any) -> Table:
    """(l) The time to take a snapshot and to open one."""
    t = Table("(l) snapshots: take and open", ["operation", "size", "median", "per unit"])
    runs = max(3, s.runs - 2)
    data: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for blocks in s.blocks:
            root = fake_root(tmp, blocks)
            took, _ = median_time(lambda root=root: collect(root), runs)
            t.rows.append(
                [
                    "snapshot --root (fake)",
                    f"{blocks:,} memory blocks",
                    fmt_s(took),
                    fmt_s(took / blocks) + " per block",
                ]
            )
            data[f"collect_{blocks}_s"] = took
    try:
        real = collect("/").snapshot
    except CollectError as e:
        t.notes.append(f"snapshot of this machine not measured: {e}")
    else:
        took, _ = median_time(lambda: collect("/"), runs)
        t.rows.append(
            ["snapshot (this machine)", f"{len(real.blocks):,} memory blocks", fmt_s(took), ""]
        )
        data["collect_real_s"] = took
    for resources in s.snapshot_resources:
        text = large_snapshot(resources)
        iomem = fmt.parse(text).iomem
        took, _ = median_time(lambda text=text: build.build(fmt.parse(text, "bench")), runs)
        alone, _ = median_time(lambda iomem=iomem: iomem_text.parse(iomem, "bench"), runs)
        mb = len(text.encode()) / 1e6
        t.rows.append(
            [
                "open (parse + build)",
                f"{mb:.1f} MB, {resources:,} resources",
                fmt_s(took),
                fmt_s(took / resources)
                + f" per resource ({took / alone:.2f}x its /proc/iomem parse)",
            ]
        )
        data[f"open_{resources}_s"] = took
        data[f"iomem_parse_{resources}_s"] = alone
    t.notes.append(
        "snapshot: one /proc/iomem read, a few /proc and /sys values, a kernel config, and four "
        "sysfs files per memory block; open: the /proc/iomem parser dominates"
    )
    t.data = data
    return t
