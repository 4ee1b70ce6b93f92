"""Snapshots of real machines: the text format (``format``), a machine built from one
(``build``) and a machine written back as one (``export``). Pure text and data: reading the
real machine's files is ``devmem_tui.snapshot.collect``."""
