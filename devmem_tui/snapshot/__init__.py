"""Taking a snapshot of a real machine (``collect``): the one place besides files.py that reads
files, limited to a fixed list of text files under /proc, /sys and /boot."""
