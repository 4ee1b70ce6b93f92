"""devmem-tui: a simulator of how Linux decides who may touch physical memory."""

__version__ = "0.1.0"
