"""A live ``/dev/mem`` mapping: what ``mmap_mem()`` installed, and what revocation took away."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Mapping:
    """A live /dev/mem mmap: [start, start+length), and the page ranges revocation zapped."""

    id: str
    start: int
    length: int
    private: bool = False
    zapped: list[tuple[int, int]] = field(default_factory=list)  # inclusive byte ranges
    sync: bool = False  # opened O_SYNC: PAT memtype UC- instead of WB (x86 PAT conflicts)

    @property
    def end(self) -> int:
        return self.start + self.length - 1
