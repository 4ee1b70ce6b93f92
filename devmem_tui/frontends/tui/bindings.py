"""The TUI's keys: the app's bindings (each with an id, for the keymap file, and a tooltip,
for the help screen and the palette) and the navigation keys the help screen lists.

Order matters: the footer shows the keys in this order and an 80-column terminal cuts off
the last ones, so ``?`` and ``q`` come first.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

APP_BINDINGS: list[BindingType] = [
    # `?` and `q` first: the footer shows keys in this order and cuts off the last ones
    # on an 80-column terminal.
    Binding("question_mark", "help", "Help", key_display="?", id="help"),
    Binding("q", "quit_app", "Quit", id="quit"),
    Binding(
        "colon",
        "focus_bar",
        "Command",
        key_display=":",
        id="command_bar",
        tooltip="type any command (Tab completes)",
    ),
    Binding(
        "p",
        "plug",
        "Plug",
        id="plug",
        tooltip="plug DEV ADDR SIZE: the device block at the block cursor",
    ),
    Binding(
        "u",
        "unplug",
        "Unplug",
        id="unplug",
        tooltip="unplug DEV ADDR SIZE: the device block at the block cursor",
    ),
    Binding("r", "read", "Read", id="read", tooltip="read the selected address (4 KiB)"),
    Binding("m", "mmap", "Mmap", id="mmap", tooltip="mmap 4 KiB at the selected address"),
    Binding(
        "k",
        "kcore",
        "Kcore",
        id="kcore",
        tooltip="read the selected address through /proc/kcore",
    ),
    Binding("c", "config", "Config", id="config", tooltip="show and focus the config panel"),
    Binding(
        "slash",
        "find",
        "Find",
        key_display="/",
        id="find",
        tooltip="find a resource by name or address",
    ),
    Binding("g", "goto", "Go to", id="goto", tooltip="go to an address"),
    Binding(
        "M",
        "policy_map",
        "Policy map",
        id="policy_map",
        show=False,
        tooltip="the address space as ranges coloured by outcome; d compares configs",
    ),
    Binding(
        "v",
        "badges",
        "Verdicts",
        id="badges",
        show=False,
        tooltip="iomem tree: read/mmap verdict badges on every node (v again hides them)",
    ),
    Binding(
        "z",
        "maximize_pane",
        "Zoom",
        id="maximize",
        tooltip="maximize the focused pane (z or esc again restores the layout)",
    ),
    Binding(
        "space,enter",
        "step",
        "Step",
        key_display="space",
        id="step",
        priority=True,
        tooltip="run the next scenario step",
    ),
    Binding("a", "autoplay", "Auto-play", id="autoplay", tooltip="play steps on a timer"),
    Binding(
        "b",
        "step_back",
        "Back",
        id="step_back",
        show=False,
        tooltip="scenario: undo the last step (replays the steps before it)",
    ),
    Binding(
        "R",
        "restart",
        "Restart",
        id="restart",
        show=False,
        tooltip="scenario: start over on a fresh machine",
    ),
    Binding(
        "left_square_bracket",
        "speed(-1)",
        "Slower",
        key_display="[",
        id="slower",
        show=False,
        tooltip="scenario: auto-play slower",
    ),
    Binding(
        "right_square_bracket",
        "speed(1)",
        "Faster",
        key_display="]",
        id="faster",
        show=False,
        tooltip="scenario: auto-play faster",
    ),
    Binding(
        "t",
        "toggle_traces",
        "Traces",
        id="traces",
        show=False,
        tooltip="log: unfold every long trace (t again folds them)",
    ),
    Binding(
        "plus",
        "resize(1)",
        "+128M",
        key_display="+",
        id="grow",
        show=False,
        tooltip="vmem resize: request one memory block more",
    ),
    Binding(
        "minus",
        "resize(-1)",
        "-128M",
        key_display="-",
        id="shrink",
        show=False,
        tooltip="vmem resize: request one memory block less",
    ),
    Binding("n", "next_device", "Next device", id="next_device", show=False),
    Binding(
        "w",
        "write",
        "Write",
        id="write",
        show=False,
        tooltip="write 4 KiB at the selected address",
    ),
    Binding(
        "escape",
        "focus_tree",
        "Tree",
        id="focus_tree",
        show=False,
        tooltip="back to the iomem tree",
    ),
]


# Navigation keys of the tree and block map, for the help screen (they live on the widgets).
NAV_ROWS = [
    ("↑ ↓ / j K", "move (k is kcore, so vim-up is K; rebind in keymap.toml)"),
    ("← → / h l", "tree: collapse/parent, expand; blocks: previous/next block"),
    ("space", "tree: expand or collapse (scenario mode: run the next step)"),
    ("enter", "tree: select and toggle (scenario mode: run the next step)"),
    ("pgup pgdn", "scroll a page"),
    ("home end", "first / last"),
    ("tab shift+tab", "next / previous pane (the config panel: ↑ ↓ move between its controls)"),
    ("click", "select a node, a block, or a switch"),
    ("ctrl+p", "command palette: every command and action"),
]
