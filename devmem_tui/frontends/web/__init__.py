"""`devmem-tui serve`: the TUI in a browser, one simulator process per tab (server.py), and the
process behind each tab (tab.py). Needs the optional extra `web` (textual-serve, aiohttp)."""

# The server's pid, put in each tab's environment (server.py) and watched by the tab (tab.py).
SERVER_PID_VAR = "DEVMEM_TUI_SERVER_PID"
