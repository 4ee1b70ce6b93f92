"""The ``/dev/mem`` entry points the rest of the program calls (``Machine``, the commands,
the virtio-mem driver's revocation), gathered in one import: read and write (rw.py), mmap
(mmap.py), and what happens to mappings and claims afterwards (mappings.py).
"""

from __future__ import annotations

from devmem_tui.engine.devmem.mappings import (
    claim,
    get_mapping,
    munmap,
    release,
    revoke_iomem,
    touch,
)
from devmem_tui.engine.devmem.mmap import mmap_mem
from devmem_tui.engine.devmem.rw import data_kind, read_mem, write_mem

__all__ = [
    "claim",
    "data_kind",
    "get_mapping",
    "mmap_mem",
    "munmap",
    "read_mem",
    "release",
    "revoke_iomem",
    "touch",
    "write_mem",
]
