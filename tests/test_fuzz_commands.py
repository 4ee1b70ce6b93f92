"""Property tests over the whole command language.

A hypothesis state machine drives one Session with commands built from the registry's usage
strings: well-formed ones (arguments of the right kind, chosen from the live machine: its
resources, devices, mappings, memory blocks), mutated ones (a word swapped for garbage, a word
dropped or added) and raw random text. After every step:

* no exception escapes ``Session.execute``, no message says "internal error", and a failed
  command's message is one line;
* a command that fails (usage error or a refusing outcome) changed nothing (``state.to_dict``);
* the resource tree and its index agree (``tree.check()``), every virtio-mem device's
  ``plugged_size`` is its plugged blocks times the block size and the driver agrees with the
  device (``VirtioMem.check()``);
* at any point ``state.to_dict(state.from_dict(d)) == d`` (save/open is exact).

Plus a fuzz of the /proc/iomem parser with random text and bytes: only DevmemError escapes.
(atheris is not used: it has no wheel for this Python, see docs/errors.md.)
"""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
import string
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bigmap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from devmem_tui.commands.grammar import Slot, parse_usage
from devmem_tui.commands.registry import Result
from devmem_tui.commands.session import Session, all_specs, lookup
from devmem_tui.engine import presets
from devmem_tui.engine import session_json as state
from devmem_tui.engine.config import ERAS, KEYS
from devmem_tui.engine.devmem.verdict import Outcome
from devmem_tui.engine.errors import DevmemError
from devmem_tui.engine.iomem import text as iomem_text
from devmem_tui.engine.units import ADDR_MAX

TESTS = Path(__file__).resolve().parent
PRESET_DIR = TESTS.parent / "devmem_tui" / "presets"
CORPUS_DIR = TESTS / "corpus"
MALFORMED = sorted((TESTS / "malformed_iomem").iterdir())

REFUSED = {
    "ERROR",
    "NACK",
    "BUSY",
    "EPERM",
    "EFAULT",
    "EINVAL",
    "ENOSYS",
    "EAGAIN",
    "ENXIO",
    "EBUSY",
    "SIGBUS",
}
# `export svg` needs the TUI; `exit` only sets a flag. Both are covered elsewhere.
SKIP = {"exit"}
SPECS = [s for s in all_specs() if s.name not in SKIP]
USAGES = [(s, u) for s in SPECS for u in s.usages]

M = 1 << 20
SIZES = ["0", "1", "4096", "4K", "2M", "3M", "128M", "256M", "1G", "0x200000", "0x1000"]
GARBAGE = [
    "12Q",
    "-1",
    "0x",
    "0xg",
    "1.5M",
    "",
    "#",
    '"',
    "0x10000000000000000",
    "18446744073709551616",
    "99999999999999999999999",
    "--",
    "--all",
    "=",
    "block=",
    "memory",
    "m",
    "vmem",
    "ÿ",
    "\x00",
    "\udcff",
    "☃",
    "0x1_000",
    "1e400",
    "nan",
    "inf",
    "-0",
    "0b1",
    "16777216T",
    "0xffffffffffffffff",
    "exclusive",
    "private",
    "stop",
    "output",
    "iomem",
    "add",
    "resize",
    "9" * 400,
]
# No "/" or "~": a garbage word used as a FILE stays inside the sandbox directory.
WORDS = st.text(alphabet=string.ascii_letters + string.digits + "_-=.+#\"'", max_size=12)
READ_ONLY_FILE_COMMANDS = ("open", "load")  # may name files of the checkout; others write


@contextlib.contextmanager
def write_sandbox(root: str) -> Iterator[None]:
    """While commands run, any write outside ``root`` fails with PermissionError (which the
    commands report as a one-line error): random `save`/`record`/`export` lines can never
    touch the checkout or the system."""
    root = os.path.realpath(root) + os.sep
    real_open, real_os_open, real_replace = builtins.open, os.open, os.replace
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            return True  # an fd someone already opened
        return os.path.realpath(os.fsdecode(path)).startswith(root)

    def deny(path: Any) -> PermissionError:
        return PermissionError(13, "outside the fuzz sandbox", os.fsdecode(path))

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        if any(c in mode for c in "wax+") and not inside(file):
            raise deny(file)
        return real_open(file, mode, *args, **kw)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        if flags & write_flags and not inside(path):
            raise deny(path)
        return real_os_open(path, flags, *args, **kw)

    def guarded_replace(src: Any, dst: Any, *args: Any, **kw: Any) -> None:
        if not (inside(src) and inside(dst)):
            raise deny(dst)
        real_replace(src, dst, *args, **kw)

    builtins.open, os.open, os.replace = guarded_open, guarded_os_open, guarded_replace
    try:
        yield
    finally:
        builtins.open, os.open, os.replace = real_open, real_os_open, real_replace


def _hex(n: int) -> str:
    return f"{n:#x}"


class CommandLanguage(RuleBasedStateMachine):
    """One session, random commands; see the module docstring for what is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="devmem-fuzz-")
        self.cwd = os.getcwd()
        os.chdir(self.tmp)  # relative FILE words land in the sandbox
        self.session = Session.new()
        self.saved: list[str] = []
        self.steps = 0

    def teardown(self) -> None:
        os.chdir(self.cwd)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(
        preset=st.sampled_from(["qemu-x86-virtio-mem"] * 3 + list(presets.PRESETS)),
        kernel=st.sampled_from(["6.16", "6.16", "6.1", "5.15", "5.4"]),
    )
    def setup(self, preset: str, kernel: str) -> None:
        self.do(f"set kernel {kernel}")
        self.do(f"machine {preset}")

    # ------------------------------------------------------------------ argument values
    def addresses(self) -> list[int]:
        m = self.session.machine
        out = [
            0,
            0x1000,
            0x9F000,
            0x100000,
            0xFEBD0000,
            0xFEB80000,
            ADDR_MAX & ~0xFFF,
            ADDR_MAX,
            m.high_memory,
        ]
        rs = list(m.tree.root.children)
        for r in rs[:: max(1, len(rs) // 8)]:
            out += [r.start, r.end & ~0xFFF]
        for vm in m.vmem.values():
            d = vm.device
            out += [d.addr, d.addr + d.block_size, d.addr + 128 * M, d.end - d.block_size, d.end]
        return out

    def value(
        self,
        data: st.DataObject,
        kind: str | None,
        prefix: str,
        choices: tuple[str, ...],
        command: str,
    ) -> str:
        m = self.session.machine
        draw = data.draw
        if choices:
            return prefix + draw(st.sampled_from(choices))
        if kind == "addr":
            return prefix + _hex(draw(st.sampled_from(self.addresses())))
        if kind == "size":
            return prefix + draw(st.sampled_from(SIZES))
        if kind == "range":
            a = draw(st.sampled_from(self.addresses()))
            if draw(st.booleans()):
                return f"{a:#x}+{draw(st.sampled_from(SIZES[1:]))}"
            return f"{a:#x}-{min(ADDR_MAX, a + draw(st.sampled_from([0, 0xFFF, 0x1FFF]))):#x}"
        if kind == "device":
            return draw(st.sampled_from([*m.vmem, "vmem0", "vmem1", "vmem9"]))
        if kind == "mapping":
            return draw(st.sampled_from([*m.mappings, "m1", "m9"]))
        if kind == "file":
            choice = draw(st.integers(0, 5))
            if choice == 0 and self.saved:
                return draw(st.sampled_from(self.saved))
            if choice == 1 and command in READ_ONLY_FILE_COMMANDS:
                return str(draw(st.sampled_from(sorted(CORPUS_DIR.iterdir()))))
            if choice == 2 and command in READ_ONLY_FILE_COMMANDS:
                return str(draw(st.sampled_from(MALFORMED + sorted(PRESET_DIR.glob("*.iomem")))))
            name = os.path.join(
                self.tmp, draw(st.sampled_from(["a.json", "b.json", "c.iomem", "d.scenario"]))
            )
            return name
        if kind == "preset":
            return draw(st.sampled_from([*presets.PRESETS, "nosuch"]))
        if kind == "config_key":
            return draw(st.sampled_from([*KEYS, "nosuch"]))
        if kind == "config_value":
            return draw(
                st.sampled_from(
                    [
                        "on",
                        "off",
                        "default",
                        "strict",
                        "relaxed",
                        "arm64",
                        "x86_64",
                        "online",
                        "offline",
                        "online_movable",
                        "rfc-2021",
                        "busy-is-exclusive",
                        "none",
                        "40",
                        "52",
                        *ERAS,
                        "9.9",
                    ]
                )
            )
        if kind == "memblock":
            ids = [40, 41, 47, 48, 0, 9999]
            for vm in m.vmem.values():
                first = vm.device.addr // m.memory_block_size
                ids += [first, first + 1, first + 3]
            return f"memory{draw(st.sampled_from(ids))}"
        if kind == "resource":
            names = sorted({r.name for r in list(m.tree.root.children)[:20]} | {"mydrv", "x"})
            return draw(st.sampled_from(names))
        if kind == "command":
            sub = draw(st.sampled_from(["read", "write", "mmap", "kcore"]))
            extra = " 4096" if sub == "mmap" else ""
            return f"{sub} {_hex(draw(st.sampled_from(self.addresses())))}{extra}"
        if kind == "duration":
            return draw(st.sampled_from(["0s", "1s", "50s", "100s", "300s", "5m", "1h", "250ms"]))
        if kind == "outcome":
            return draw(st.sampled_from([o.value for o in Outcome]))
        if kind == "text":
            return draw(WORDS) or "x"
        return prefix + (draw(WORDS) or "x")

    def build(self, data: st.DataObject, slots: list[Slot], command: str) -> list[str]:
        words: list[str] = []
        for slot in slots:
            if slot.optional and data.draw(st.booleans()):
                continue
            alt = data.draw(st.sampled_from(slot.alts))
            if alt.literal is not None:
                words.append(alt.literal)
            else:
                words.append(self.value(data, alt.kind, alt.prefix, alt.choices, command))
        return words

    # ------------------------------------------------------------------ running
    def state_before(self, m: Any) -> Any:
        """What ``assert_unchanged`` compares with after a failed command."""
        return state.to_dict(m)

    def assert_unchanged(self, m: Any, before: Any, line: str, msg: str) -> None:
        assert state.to_dict(m) == before, f"{line!r} failed ({msg!r}) but changed state"

    def skip(self, line: str) -> bool:
        return False

    def do(self, line: str) -> Result | None:
        if self.skip(line):
            return None
        m = self.session.machine
        before = self.state_before(m)
        t0 = time.perf_counter()
        try:
            with write_sandbox(self.tmp):
                result = self.session.execute(line)
        except BaseException as e:  # noqa: BLE001 - the property: nothing escapes
            raise AssertionError(f"{line!r} raised {type(e).__name__}: {e}") from e
        elapsed = time.perf_counter() - t0
        assert elapsed < 5, f"{line!r} took {elapsed:.1f} s"
        self.steps += 1
        if result is None:
            return None
        msg = result.message
        assert "internal error" not in msg and "Traceback" not in msg, (line, msg)
        if not result.ok:
            assert "\n" not in msg, (line, msg)
        failed = not result.ok or result.outcome in REFUSED
        if failed:
            assert self.session.machine is m, (line, msg)
            self.assert_unchanged(m, before, line, msg)
        if result.ok and line.split()[:1] == ["save"]:
            self.saved.append(line.split()[1])
        return result

    @rule(data=st.data(), which=st.sampled_from(USAGES))
    def valid_command(self, data: st.DataObject, which: tuple[object, str]) -> None:
        spec, usage = which
        words = self.build(data, parse_usage(usage), usage.split()[0])
        if usage.startswith("compare"):  # COMMAND is the rest of the line, unquoted
            self.do(" ".join([usage.split()[0], *words]))
        else:
            self.do(" ".join([usage.split()[0], *(_quote(w) for w in words)]))

    # Three rules with one body: hypothesis picks rules uniformly, and runs need enough of
    # these to go deep.
    @rule(data=st.data())
    def meaningful_command(self, data: st.DataObject) -> None:
        self.meaningful(data)

    @rule(data=st.data())
    def meaningful_command_2(self, data: st.DataObject) -> None:
        self.meaningful(data)

    @rule(data=st.data())
    def meaningful_command_3(self, data: st.DataObject) -> None:
        self.meaningful(data)

    def meaningful(self, data: st.DataObject) -> None:
        """A command likely to succeed and change something, from the live machine, so that
        runs reach plugged, onlined, pinned, mapped, claimed and revoked states."""
        m = self.session.machine
        draw = data.draw
        lines = [
            "mmap 0xfebd0000 4096",
            "mmap 0xfebd0000 8K private",
            "mmap 0x0 4096",
            "claim 0xfebd0000+4K drv",
            "claim 0xfebd0000+4K drv exclusive",
            "release drv",
            "set io_strict_devmem on",
            "set io_strict_devmem off",
            "set migration on",
            "set migration off",
            "set strict_devmem off",
            "set kernel 5.15",
            "set kernel 6.16",
            "set proposal rfc-2021",
            "set auto_online offline",
            "set auto_online online_movable",
            "wait 50s",
            "wait 300s",
            "save s.json",
            "open s.json",
            "unplug-all vmem0",
            "vmem add vmem1 0x600000000 1G",
            "vmem add vmem2 0x640000000 512M block=128M",
        ]
        lines += [f"touch {mp} 0" for mp in m.mappings] + [f"munmap {mp}" for mp in m.mappings]
        for name, vm in m.vmem.items():
            d = vm.device
            bs = d.block_size
            lines += [
                f"vmem resize {name} {n * bs:#x}"
                for n in (0, 1, 64, 128, 512)
                if n * bs <= d.region_size
            ]
            k = draw(st.integers(0, min(d.nb_blocks_total - 1, 1024)))
            lines += [
                f"plug {name} {d.addr + k * bs:#x} {bs:#x}",
                f"unplug {name} {d.addr + k * bs:#x} {bs:#x}",
                f"state {name} {d.addr:#x} {4 * bs:#x}",
            ]
            for a, b in d.blocks.runs()[:3]:
                lines += [
                    f"unplug {name} {d.addr + a * bs:#x} {(b - a) * bs:#x}",
                    f"pin {d.addr + a * bs:#x}",
                    f"mmap {d.addr + a * bs:#x} 4096",
                    f"kcore {d.addr + a * bs:#x}",
                ]
            for mb in list(vm.mm)[:4]:
                lines += [
                    f"offline memory{mb}",
                    f"online memory{mb} movable",
                    f"online memory{mb} kernel",
                    f"online memory{mb}",
                ]
        for a, b in m.pinned[:2]:
            lines.append(f"unpin {a:#x} {b - a + 1:#x}")
        self.do(draw(st.sampled_from(lines)))

    @rule(data=st.data(), which=st.sampled_from(USAGES))
    def mutated_command(self, data: st.DataObject, which: tuple[object, str]) -> None:
        _, usage = which
        words = [usage.split()[0], *self.build(data, parse_usage(usage), usage.split()[0])]
        how = data.draw(st.sampled_from(["swap", "drop", "add", "case"]))
        i = data.draw(st.integers(0, len(words) - 1))
        junk = data.draw(st.sampled_from(GARBAGE) | WORDS)
        if how == "swap":
            words[i] = junk
        elif how == "drop" and len(words) > 1:
            del words[i]
        elif how == "add":
            words.insert(i + 1, junk)
        else:
            words[i] = words[i].upper()
        self.do(" ".join(_quote(w) for w in words))

    @rule(
        text=st.text(max_size=40),
        word=st.sampled_from([s.name for s in SPECS]),
        args=st.lists(st.sampled_from(GARBAGE) | WORDS, max_size=4),
        raw=st.booleans(),
    )
    def garbage(self, text: str, word: str, args: list[str], raw: bool) -> None:
        """Random text, or a command word with random arguments."""
        self.do(text if raw else " ".join([word, *(_quote(a) for a in args)]))

    @rule()
    def save_open_round_trip(self) -> None:
        d = state.to_dict(self.session.machine)
        assert state.to_dict(state.from_dict(d)) == d
        assert state.to_dict(state.loads(state.dumps(self.session.machine))) == d

    # ------------------------------------------------------------------ invariants
    check_tree = True  # tree.check() visits every resource: not after each step at 100k

    @invariant()
    def machine_is_consistent(self) -> None:
        m = self.session.machine
        if self.check_tree:
            m.tree.check()
        m.mappings.check()
        for vm in m.vmem.values():
            dev = vm.device
            assert dev.plugged_size == dev.blocks.total() * dev.block_size
            vm.check()
        for mp in m.mappings.values():
            assert mp.length > 0 and mp.start + mp.length - 1 <= ADDR_MAX


def _quote(word: str) -> str:
    """Quote a word with spaces so it stays one word (split_line groups "double quotes")."""
    if word and not any(c.isspace() for c in word):
        return word
    return f'"{word}"' if '"' not in word else word.replace(" ", "_") or "x"


# 200 examples of up to 25 steps: about 25 s on one core of the CI machine (measured in
# docs/errors.md); database=None keeps hypothesis from writing into the checkout.
CommandLanguage.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
TestCommandLanguage = CommandLanguage.TestCase


# ----------------------------------------------------------------------------- 100k map
# Commands that read or write whole session files or replace the machine: covered on the
# small maps above; on the 100,000-resource map each costs seconds and leaves it.
HEAVY = {"save", "open", "load", "machine", "export", "record"}


class BigMapLanguage(CommandLanguage):
    """The same state machine on the shared 100,000-resource session (tests/bigmap.py). Each
    example runs inside one transaction that teardown rolls back, and the full saved state is
    then compared with the base (so the example's successful commands are undone too). A
    failing command is checked against the state before it: everything but the tree in
    full, the tree in full whenever its generation moved."""

    BIG: tuple[Session, bigmap.StateWatch] | None = None  # set by the test below
    ran = 0  # commands run, over all examples

    def __init__(self) -> None:
        super().__init__()
        assert self.BIG is not None
        self.session, self.watch = self.BIG[0], self.BIG[1]
        self.base = self.session.machine
        self.txn = self.base.begin()
        self.image: tuple[int, list[Any]] | None = None

    def teardown(self) -> None:
        self.session.machine = self.base
        self.base.rollback(self.txn)
        self.session.recorder = None
        self.session.listeners.clear()
        self.watch.check(self.base, "after the example was rolled back")
        super().teardown()

    @initialize(kernel=st.sampled_from(["6.16", "6.1", "5.15"]))
    def setup(self, kernel: str) -> None:  # type: ignore[override]
        self.do(f"set kernel {kernel}")

    @rule()
    def save_open_round_trip(self) -> None:
        """(the small maps do this; at 100k a round trip costs seconds)"""

    check_tree = False

    def skip(self, line: str) -> bool:
        first = line.split()[0] if line.split() else ""
        try:
            return lookup(first).name in HEAVY
        except Exception:  # noqa: BLE001 - not a command word: run it (a usage error)
            return False

    def state_before(self, m: Any) -> Any:
        """Everything but the tree in full, and the tree's generation: its image is taken
        again only after the tree changed."""
        BigMapLanguage.ran += 1
        gen = m.tree.generation
        if self.image is None or self.image[0] != gen:
            self.image = (gen, bigmap.tree_image(m))
        return gen, state.to_dict(m, resources=False)

    def assert_unchanged(self, m: Any, before: Any, line: str, msg: str) -> None:
        gen, rest = before
        assert state.to_dict(m, resources=False) == rest, f"{line!r} failed but changed state"
        if m.tree.generation != gen:
            assert self.image is not None
            assert bigmap.tree_image(m) == self.image[1], f"{line!r} changed the tree"


BigMapLanguage.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=25,
    deadline=None,
    database=None,
    derandomize=True,  # the same commands each run: a bounded time on the big map
    suppress_health_check=list(HealthCheck),
)


def test_command_language_on_the_100k_map(big: tuple[Session, bigmap.StateWatch]) -> None:
    BigMapLanguage.BIG = big
    BigMapLanguage.ran = 0
    try:
        BigMapLanguage.TestCase().runTest()
    finally:
        BigMapLanguage.BIG = None
    assert BigMapLanguage.ran > 100, BigMapLanguage.ran
    assert big[1].full_compares > 0  # the examples changed the tree and were rolled back


# ----------------------------------------------------------------------------- iomem parser
@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(
        st.sampled_from(
            list("0123456789abcdefx- :\n\t[]=#\r")
            + [
                "System RAM",
                "Reserved",
                " : ",
                "  ",
                "busy",
                "exclusive",
                "PCI Bus",
                "ffffffffffffffff",
                "\n  ",
                "desc=reserved",
            ]
        ),
        max_size=120,
    ).map("".join)
)
def test_iomem_parse_raises_only_devmem_error_on_text(text: str) -> None:
    try:
        tree = iomem_text.parse(text)
    except DevmemError as e:
        assert "\n" not in str(e)
    else:
        tree.check()
        # what parses renders and parses back to the same tree
        again = iomem_text.parse(iomem_text.render(tree, flags=True))
        assert [(d, r.start, r.end, r.name, int(r.flags)) for d, r in again.walk()] == [
            (d, r.start, r.end, r.name, int(r.flags)) for d, r in tree.walk()
        ]


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_iomem_decode_and_parse_raise_only_devmem_error_on_bytes(data: bytes) -> None:
    try:
        iomem_text.parse(iomem_text.decode(data, "<fuzz>"))
    except DevmemError as e:
        assert "\n" not in str(e)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=200))
def test_iomem_parse_raises_only_devmem_error_on_any_text(text: str) -> None:
    try:
        iomem_text.parse(text)
    except DevmemError as e:
        assert "\n" not in str(e)


# ----------------------------------------------------------------------------- session files
def _base_documents() -> list[dict[str, Any]]:
    """Saved sessions with SBM and BBM devices, mappings, claims, pins and a pending timer."""
    setups = [
        [
            "vmem resize vmem0 1G",
            "pin 0x140000000",
            "mmap 0xfebd0000 8K",
            "claim 0xfebd1000+4K mydrv",
            "vmem resize vmem0 256M",
            "set io_strict_devmem on",
            "mmap 0xfebd1000 4096",
        ],
        [
            "set kernel 5.10",
            "machine qemu-x86-virtio-mem",
            "vmem resize vmem0 512M",
            "offline memory41",
        ],
        [
            "machine arm64-virt",
            "vmem add vmem1 0x800000000 1G block=128M",
            "vmem resize vmem1 512M",
        ],
    ]
    docs = []
    for setup in setups:
        s = Session.new()
        for line in setup:
            r = s.execute(line)
            assert r is not None and r.ok, (line, r and r.message)
        docs.append(state.to_dict(s.machine))
    return docs


BASE_DOCS = _base_documents()
AFTER_OPEN = [
    "vmem resize vmem0 512M",
    "vmem resize vmem1 128M",
    "wait 300s",
    "blocks --all",
    "vmem",
    "iomem --flags",
    "whatis 0x140000000",
    "mmap 0x140000000 4096",
    "touch m1",
    "offline memory41",
    "online memory41",
    "unplug-all vmem0",
    "compare read 0x140000000",
]
MUTANTS: list[Any] = [
    0,
    1,
    -1,
    2**64,
    1.5,
    float("nan"),
    True,
    None,
    "",
    "x",
    "0x0",
    "-0x1",
    "0xffffffffffffffff",
    [],
    {},
    [[0, 1]],
    10**30,
    "SBM",
    "BBM",
    7,
    8,
]


def _leaf_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _leaf_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _leaf_paths(v, (*prefix, i))
    return out


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data(), which=st.integers(0, len(BASE_DOCS) - 1))
def test_mutated_session_documents_are_refused_or_work(data: st.DataObject, which: int) -> None:
    """A saved session with 1-3 fields changed (a number nudged, a value of another type, a
    key deleted, a list item duplicated) is refused with one line, or opens into a machine
    that round-trips and on which commands work without internal errors."""
    import copy
    import json

    doc = copy.deepcopy(BASE_DOCS[which])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _leaf_paths(doc)
        path = data.draw(st.sampled_from(paths))
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        key, cur = path[-1], parent[path[-1]]
        how = data.draw(st.sampled_from(["delete", "nudge", "replace", "duplicate"]))
        if how == "delete":
            del parent[key]
        elif how == "nudge" and isinstance(cur, int) and not isinstance(cur, bool):
            parent[key] = cur + data.draw(st.sampled_from([-1, 1, 64, 1 << 21, 1 << 40]))
        elif how == "nudge" and isinstance(cur, str) and cur.startswith("0x"):
            parent[key] = hex(int(cur, 16) + data.draw(st.sampled_from([1, 0x1000, 1 << 27])))
        elif how == "duplicate" and isinstance(cur, list) and cur:
            cur.append(copy.deepcopy(cur[-1]))
        else:
            parent[key] = copy.deepcopy(data.draw(st.sampled_from(MUTANTS)))
    try:
        machine = state.loads(json.dumps(doc))
    except DevmemError as e:
        assert "\n" not in str(e)
        return
    d = state.to_dict(machine)
    assert state.to_dict(state.from_dict(d)) == d
    session = Session(machine)
    for line in AFTER_OPEN:
        r = session.execute(line)
        assert r is not None
        assert "internal error" not in r.message, (line, r.message)
        session.machine.tree.check()
        for vm in session.machine.vmem.values():
            vm.check()
