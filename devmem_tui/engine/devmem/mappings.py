"""What happens to ``/dev/mem`` mappings after ``mmap``: an access through one (``touch``),
``munmap``, and their revocation when a driver claims a range (``revoke_iomem``), together with
the driver claims and releases themselves (``__request_region`` / ``__release_region`` on
iomem_resource).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devmem_tui.engine import ranges
from devmem_tui.engine.config import BUSY_IS_EXCLUSIVE, Switches
from devmem_tui.engine.devmem.arch_hooks import Xlate
from devmem_tui.engine.devmem.mapping import Mapping
from devmem_tui.engine.devmem.rules import (
    LOW_PFNS,
    busy_excluded,
    devmem_is_allowed,
    label,
    page_is_ram,
)
from devmem_tui.engine.devmem.rw import data_kind
from devmem_tui.engine.devmem.verdict import Outcome, Verdict
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.interfaces import EventKind
from devmem_tui.engine.iomem.tree import F, Resource
from devmem_tui.engine.units import PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:
    from devmem_tui.engine.interfaces import MachineLike


def get_mapping(machine: MachineLike, mapping_id: str) -> Mapping:
    m = machine.mappings.get(mapping_id)
    if m is None:
        live = ", ".join(machine.mappings) or "none"
        raise DevmemError(f"no live mapping {mapping_id!r} (live mappings: {live})")
    return m


def touch(machine: MachineLike, mapping_id: str, offset: int = 0) -> Verdict:
    """An access through a live mapping: a present PTE reaches the physical page, with
    no policy re-evaluated; a PTE zapped by ``revoke_iomem()`` faults, and a VMA without
    ``->fault`` gets ``VM_FAULT_SIGBUS`` (``do_fault``, mm/memory.c) -> SIGBUS."""
    m = get_mapping(machine, mapping_id)
    if offset >= m.length:
        raise DevmemError(
            f"offset {hex(offset)} is beyond mapping {m.id} ({hex(m.length)} bytes): "
            "that access would be SIGSEGV, outside the mapping"
        )
    addr = m.start + offset
    sw = machine.config.switches
    v = Verdict(f"touch {m.id} {hex(offset)}", Outcome.OK, counterfactual=sw.counterfactual)
    if m.zapped and ranges.covers(m.zapped, addr):  # the zapped ranges, by bisection
        line = (
            f"do_fault({hex(addr)}): PTE zapped by revoke_iomem(), vma has no ->fault "
            "-> VM_FAULT_SIGBUS"
        )
        v.trace.append(line)
        return v.finish(
            Outcome.SIGBUS,
            f"page {hex(addr & ~(PAGE_SIZE - 1))} of {m.id} was revoked when a driver claimed it",
            line,
        )
    pfn = addr >> PAGE_SHIFT
    ram, t = page_is_ram(machine, pfn, sw)
    kind = data_kind(machine, addr, Xlate.DIRECT if ram else Xlate.IOREMAP)
    line = f"{m.id}: PTE present for pfn {hex(pfn)} -> the access reaches the page ({kind})"
    v.trace += [*t, line]
    text = f"{hex(addr)}: {kind}"
    if m.private:
        text += "; MAP_PRIVATE: a write goes to a private copy-on-write copy"
    if ram and pfn < LOW_PFNS and sw.x86 and sw.lowmem_ram_zero_fill:
        text += " (real low-MiB RAM, although read() of it returns zeros)"
    return v.finish(Outcome.OK, text, line, 1)


def munmap(machine: MachineLike, mapping_id: str) -> Mapping:
    """``munmap()`` of a /dev/mem mapping: the VMA and its PAT memtype entry go away."""
    m = get_mapping(machine, mapping_id)
    del machine.mappings[m.id]
    machine.emit(EventKind.MAPPING_REMOVED, m.id, start=m.start, length=m.length)
    return m


def _revoke_page_allowed(machine: MachineLike, sw: Switches, pfn: int) -> tuple[int, list[str]]:
    if sw.proposal == BUSY_IS_EXCLUSIVE:
        ex, t = busy_excluded(machine, pfn, sw)
        if ex:
            return 0, t
        value, t2 = devmem_is_allowed(machine, pfn, sw)
        return value, t + t2
    return devmem_is_allowed(machine, pfn, sw)


def revoke_iomem(machine: MachineLike, start: int, end: int) -> list[str]:
    """``revoke_iomem(res)`` (kernel/resource.c from 5.12; ``revoke_devmem()`` in mem.c on
    5.8-5.11, 3234ac664a87), called after every successful ``__request_region()`` on
    iomem_resource. An empty stub without CONFIG_IO_STRICT_DEVMEM (``revoke_on_request``).
    Decided by ``devmem_is_allowed()`` of the first page and (if that one is non-zero) the last
    page only: both non-zero -> nothing. Else ``unmap_mapping_range(start, size, 1)``: pages
    floor(start / 4K) .. + ceil(size / 4K) - 1 of every live mapping, shared and private
    (even_cows), lose their PTEs -> ``Mapping.zapped``, event 'mapping-revoked'. Returns the
    trace. busy-is-exclusive (counterfactual) runs it without IO_STRICT_DEVMEM (5.8+), deciding
    with its mandatory busy exclusion, or that exclusion would not hold for live mappings."""
    sw = machine.config.switches
    size = end - start + 1
    name = f"revoke_iomem({hex(start)}-{hex(end)})"
    if not sw.revoke_hook:
        return [f"{name}: no /dev/mem revocation before 5.8 (3234ac664a87) -> nothing"]
    if not sw.revoke_on_request and sw.proposal != BUSY_IS_EXCLUSIVE:
        return [f"{name}: empty stub without CONFIG_IO_STRICT_DEVMEM -> nothing"]
    first, last = start >> PAGE_SHIFT, end >> PAGE_SHIFT
    a, trace = _revoke_page_allowed(machine, sw, first)
    if a:  # devmem_is_allowed(first) && devmem_is_allowed(last)
        b, t2 = (a, []) if last == first else _revoke_page_allowed(machine, sw, last)
        trace += t2
        if b:
            return [
                *trace,
                f"{name}: devmem_is_allowed() of both end pages != 0 -> nothing unmapped",
            ]
    hba = start >> PAGE_SHIFT
    hlen = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
    za, zb = hba << PAGE_SHIFT, ((hba + hlen) << PAGE_SHIFT) - 1
    hit = []
    for m in machine.mappings.overlapping(za, zb):  # the i_mmap interval tree's walk
        lo, hi = max(za, m.start), min(zb, m.end)
        ranges.add(m.zapped, lo, hi, machine.journal)
        hit.append(f"{m.id} {hex(lo)}-{hex(hi)}")
        machine.emit(EventKind.MAPPING_REVOKED, m.id, start=lo, end=hi)
    what = ", ".join(hit) if hit else "no live mapping there"
    return [
        *trace,
        f"{name} -> unmap_mapping_range(iomem, {hex(za)}, {hex(zb - za + 1)}, 1): zapped {what}",
    ]


# ------------------------------------------------------------------------------ claims
def claim(
    machine: MachineLike, start: int, end: int, name: str, exclusive: bool = False
) -> tuple[Resource, list[str]]:
    """A driver's ``request_mem_region()`` / ``request_mem_region_exclusive()``:
    ``__request_region()`` on iomem_resource (a busy resource, nested into the non-busy
    resource that contains it; -EBUSY on a busy or partial conflict), then ``revoke_iomem()``.
    Raises ``ResourceConflict`` (nothing changes) when the request fails."""
    if not name.strip():
        raise DevmemError("a claim needs a non-empty resource name")
    res = machine.tree.request_region(start, end - start + 1, name, F.MEM, exclusive)
    parent = res.parent
    under = "iomem_resource" if parent is None or parent.parent is None else label(parent)
    flags = "IORESOURCE_MEM|BUSY" + ("|EXCLUSIVE" if exclusive else "")
    trace = [
        f"__request_region({hex(start)}, {hex(end - start + 1)}, {name!r}): {flags} under "
        f"{under} -> ok"
    ]
    trace += revoke_iomem(machine, start, end)
    return res, trace


def release(machine: MachineLike, name: str) -> tuple[Resource, list[str]]:
    """``__release_region()`` of the one busy resource named ``name``. Nothing is re-checked:
    revoked PTEs stay revoked and live mappings keep working. Resources that belong to
    a virtio-mem device are its driver's to release."""
    found = machine.tree.find(name)
    busy = [r for r in found if r.busy]
    if not busy:
        if found:
            raise DevmemError(
                f"{name!r} is not busy ({found[0].label()}): only a claimed "
                "(busy) region can be released"
            )
        raise DevmemError(f"no resource named {name!r}")
    if len(busy) > 1:
        where = ", ".join(f"{hex(r.start)}-{hex(r.end)}" for r in busy[:4])
        raise DevmemError(
            f"{len(busy)} busy resources are named {name!r} ({where}); the name is ambiguous"
        )
    res = busy[0]
    dev = machine.device_at(res.start)
    if dev is not None:
        raise DevmemError(
            f"{res.label()} belongs to virtio-mem device {dev_name(dev)}: "
            "its driver releases it (vmem resize / unplug)"
        )
    if res.children:
        raise DevmemError(f"{res.label()} still has children; release them first")
    machine.tree.release_region(res.start, res.size)
    return res, [
        f"__release_region({hex(res.start)}, {hex(res.size)}) {name!r} -> freed; live "
        "/dev/mem mappings are not re-checked"
    ]


def dev_name(dev: object) -> str:
    d = getattr(dev, "device", None)
    return str(getattr(d, "name", "?"))
