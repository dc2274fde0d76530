#!/usr/bin/env python3
"""pypeer: a Python peer of ipcchan, standard library only (mmap, struct,
ctypes, os), built from docs/FORMATS.md; run by ipcchan/python_test.go.

  pypeer.py shm NAME FIELDS TYPE FINGERPRINT COUNT
      attach to the ShmSlice NAME ("/grid") of COUNT elements of the struct
      FIELDS (below), whose Go type string is TYPE, after checking its header
      (magic, version, kind, elemSize, align, size, and that FINGERPRINT is
      both the header's and FNV-1a 64 of the layout string of FIELDS);
      register in its users table and print "attached PID SLOT"; then serve
      lines from stdin until "quit" (or EOF):
        get I          print "I V..." (the element's fields, "_" left out)
        set I V...     store the fields of element I, print "ok"
      and unregister, print "detached".
  pypeer.py ring NAME FIELDS TYPE FINGERPRINT
      attach to the Ring NAME of fixed-size FIELDS messages, checking the
      header (kind, type, fingerprint) and the control block; register and
      print "attached PID SLOT"; wait for a line "go" (or "hold": hold the
      first message's slot, print "held V...", and free it only after a
      line "release") on stdin; receive, following the ring protocol, until
      the end of the stream, printing "msg V..." per message (but the held
      one); then "eof N", "stats wakes=W sleeps=S
      recovered=R" (FUTEX_WAKEs made on roomWord, futex sleeps, slots taken
      back from dead processes), unregister, print "detached".
  pypeer.py tracker NAME fix|nofix VALUE
      open the object NAME through multiprocessing.shared_memory.SharedMemory,
      print "value V" (the int64 at payload offset 0), store VALUE there, and
      close it: with "fix", undo the resource tracker's registration (or
      track=False on Python 3.13+), so that the object survives this
      script's exit; with "nofix", leave it, and the tracker unlinks the
      object when the script exits (the pitfall).
  pypeer.py constants
      print this peer's layout constants as NAME=VALUE, named as in the C
      header block of docs/FORMATS.md (a test checks them against it).

FIELDS is a Go struct of numbers, bools and arrays of them, field by field:
"Seq:uint64,Price:float64,Side:int32,_:[4]uint8". The atomics are
libatomic's (ctypes.CDLL("libatomic.so.1")), or, with
IPCCHAN_PYPEER_ATOMICS=asm or without libatomic, a few bytes of x86-64
machine code in an executable mapping.
"""

import ctypes
import mmap
import os
import platform
import select
import struct
import sys

# Layout constants of docs/FORMATS.md (names as in its C header block).
C = {
    "IPCCHAN_HEADER_SIZE": 192,
    "IPCCHAN_VERSION": 1,
    "IPCCHAN_OFF_VERSION": 8,
    "IPCCHAN_OFF_KIND": 12,
    "IPCCHAN_OFF_SIZE": 16,
    "IPCCHAN_OFF_ALIGN": 24,
    "IPCCHAN_OFF_ELEM_SIZE": 28,
    "IPCCHAN_OFF_FINGERPRINT": 32,
    "IPCCHAN_OFF_CREATOR": 40,
    "IPCCHAN_OFF_OVERFLOW": 44,
    "IPCCHAN_OFF_TYPE": 64,
    "IPCCHAN_TYPE_LEN": 64,
    "IPCCHAN_OFF_USERS": 128,
    "IPCCHAN_USER_SLOTS": 16,
    "IPCCHAN_KIND_SHM": 1,
    "IPCCHAN_KIND_RING": 4,
    "IPCCHAN_RING_LAYOUT": 2,
    "IPCCHAN_RING_POS_BITS": 30,
    "IPCCHAN_RING_RUN_SHIFT": 30,
    "IPCCHAN_RING_RUN_MAX": 512,
    "IPCCHAN_RING_FIXED": 1,
    "IPCCHAN_RING_CTL_SIZE": 320,
    "IPCCHAN_RING_OFF_LAYOUT": 0,
    "IPCCHAN_RING_OFF_CAPACITY": 4,
    "IPCCHAN_RING_OFF_STRIDE": 8,
    "IPCCHAN_RING_OFF_MAXLEN": 12,
    "IPCCHAN_RING_OFF_FLAGS": 16,
    "IPCCHAN_RING_OFF_ENDED": 20,
    "IPCCHAN_RING_OFF_RECOVERED": 24,
    "IPCCHAN_RING_OFF_HEAD": 64,
    "IPCCHAN_RING_OFF_TAIL": 128,
    "IPCCHAN_RING_OFF_DATA_WORD": 192,
    "IPCCHAN_RING_OFF_ROOM_WORD": 256,
    "IPCCHAN_RING_OWNER_CHECK_MS": 5,
    "IPCCHAN_RING_SLEEPERS": 0x80000000,
    "IPCCHAN_SLOT_OFF_STATE": 0,
    "IPCCHAN_SLOT_OFF_LENGTH": 8,
    "IPCCHAN_SLOT_OFF_DATA": 16,
    "IPCCHAN_SLOT_POS_BITS": 39,
    "IPCCHAN_SLOT_STATE_SHIFT": 39,
    "IPCCHAN_SLOT_PID_SHIFT": 42,
    "IPCCHAN_SLOT_FREE": 0,
    "IPCCHAN_SLOT_WRITING": 1,
    "IPCCHAN_SLOT_FULL": 2,
    "IPCCHAN_SLOT_READING": 3,
    "IPCCHAN_SLOT_SKIPPED": 4,
}
MAGIC = b"ipcchan\0"
HEADER = C["IPCCHAN_HEADER_SIZE"]
HEADER_FMT = "<8sIIQIIQII16x64s16I"  # the whole header, little endian
POS_MASK = (1 << C["IPCCHAN_SLOT_POS_BITS"]) - 1
RING_POS_MASK = (1 << C["IPCCHAN_RING_POS_BITS"]) - 1
FREE, WRITING, FULL, READING, SKIPPED = (C["IPCCHAN_SLOT_" + s] for s in ("FREE", "WRITING", "FULL", "READING", "SKIPPED"))
SLEEPERS = C["IPCCHAN_RING_SLEEPERS"]
SEQ_CST = 5  # __ATOMIC_SEQ_CST
INT_MAX = 0x7FFFFFFF


def fail(msg):
    print("pypeer: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def say(*words):
    print(*words, flush=True)


# --- Atomics: every shared word is accessed with seq_cst atomics. -------------


class LibAtomic:
    """Atomics through libatomic's __atomic_* functions."""

    name = "libatomic"

    def __init__(self):
        la = ctypes.CDLL("libatomic.so.1")
        u64, u32, vp, i = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_int

        def fn(name, res, *args):
            f = getattr(la, name)  # getattr: "__atomic..." would be mangled in a class body
            f.restype, f.argtypes = res, list(args)
            return f

        self._cas8 = fn("__atomic_compare_exchange_8", ctypes.c_bool, vp, vp, u64, i, i)
        self._cas4 = fn("__atomic_compare_exchange_4", ctypes.c_bool, vp, vp, u32, i, i)
        self._load8 = fn("__atomic_load_8", u64, vp, i)
        self._load4 = fn("__atomic_load_4", u32, vp, i)
        self._store8 = fn("__atomic_store_8", None, vp, u64, i)
        self._store4 = fn("__atomic_store_4", None, vp, u32, i)
        self._add8 = fn("__atomic_fetch_add_8", u64, vp, u64, i)

    def cas64(self, addr, old, new):
        exp = ctypes.c_uint64(old)
        return self._cas8(addr, ctypes.addressof(exp), new & 0xFFFFFFFFFFFFFFFF, SEQ_CST, SEQ_CST)

    def cas32(self, addr, old, new):
        exp = ctypes.c_uint32(old)
        return self._cas4(addr, ctypes.addressof(exp), new & 0xFFFFFFFF, SEQ_CST, SEQ_CST)

    def load64(self, addr):
        return self._load8(addr, SEQ_CST)

    def load32(self, addr):
        return self._load4(addr, SEQ_CST)

    def store64(self, addr, v):
        self._store8(addr, v & 0xFFFFFFFFFFFFFFFF, SEQ_CST)

    def store32(self, addr, v):
        self._store4(addr, v & 0xFFFFFFFF, SEQ_CST)

    def add64(self, addr, d):
        return self._add8(addr, d & 0xFFFFFFFFFFFFFFFF, SEQ_CST)


class Asm:
    """Atomics as x86-64 machine code in an executable anonymous mapping,
    called through ctypes (System V ABI: arguments in rdi, rsi, rdx; the
    result in rax). A locked instruction or xchg is sequentially
    consistent on x86-64; so is a plain load."""

    name = "asm"
    CODE = {
        "cas64": "4889f0f0480fb117c3",  # mov rax, rsi; lock cmpxchg [rdi], rdx; ret   (returns the old value)
        "cas32": "89f0f00fb117c3",  # mov eax, esi; lock cmpxchg [rdi], edx; ret
        "load64": "488b07c3",  # mov rax, [rdi]; ret
        "load32": "8b07c3",  # mov eax, [rdi]; ret
        "store64": "488737c3",  # xchg [rdi], rsi; ret
        "store32": "8737c3",  # xchg [rdi], esi; ret
        "add64": "4889f0f0480fc107c3",  # mov rax, rsi; lock xadd [rdi], rax; ret   (returns the old value)
    }

    def __init__(self):
        if platform.machine() not in ("x86_64", "AMD64"):
            raise OSError("no libatomic, and machine code only for x86-64, not " + platform.machine())
        self._page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                               prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._anchor = ctypes.c_char.from_buffer(self._page)
        base = ctypes.addressof(self._anchor)
        u64, u32, vp = ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p
        sigs = {
            "cas64": (u64, vp, u64, u64), "cas32": (u32, vp, u32, u32), "load64": (u64, vp), "load32": (u32, vp),
            "store64": (None, vp, u64), "store32": (None, vp, u32), "add64": (u64, vp, u64),
        }
        self._f = {}
        for n, (name, code) in enumerate(self.CODE.items()):
            off = 32 * n
            b = bytes.fromhex(code)
            self._page[off:off + len(b)] = b
            self._f[name] = ctypes.CFUNCTYPE(*sigs[name])(base + off)

    def cas64(self, addr, old, new):
        return self._f["cas64"](addr, old, new & 0xFFFFFFFFFFFFFFFF) == old

    def cas32(self, addr, old, new):
        return self._f["cas32"](addr, old, new & 0xFFFFFFFF) == old

    def load64(self, addr):
        return self._f["load64"](addr)

    def load32(self, addr):
        return self._f["load32"](addr)

    def store64(self, addr, v):
        self._f["store64"](addr, v & 0xFFFFFFFFFFFFFFFF)

    def store32(self, addr, v):
        self._f["store32"](addr, v & 0xFFFFFFFF)

    def add64(self, addr, d):
        return self._f["add64"](addr, d & 0xFFFFFFFFFFFFFFFF)


def atomics():
    want = os.environ.get("IPCCHAN_PYPEER_ATOMICS", "")
    if want == "asm":
        return Asm()
    try:
        return LibAtomic()
    except OSError:
        if want == "libatomic":
            raise
        return Asm()


# --- Futexes and liveness. ---------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine(), 202)
FUTEX_WAIT, FUTEX_WAKE = 0, 1  # shared futexes: never FUTEX_PRIVATE_FLAG
EAGAIN, EINTR, ETIMEDOUT = 11, 4, 110


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def futex_wait(addr, val, timeout=None):
    """Sleeps while the word at addr holds val, at most timeout seconds; 0
    when woken, else the errno (EAGAIN: it did not hold val; ETIMEDOUT)."""
    ts = None
    if timeout is not None:
        ts = Timespec(int(timeout), int(timeout % 1 * 1e9))
    L = ctypes.c_long
    r = libc.syscall(L(SYS_FUTEX), L(addr), L(FUTEX_WAIT), L(val), ctypes.byref(ts) if ts else L(0), L(0), L(0))
    return ctypes.get_errno() if r == -1 else 0


def futex_wake(addr, n):
    L = ctypes.c_long
    return libc.syscall(L(SYS_FUTEX), L(addr), L(FUTEX_WAKE), L(n), L(0), L(0), L(0))


def alive(pid):
    """The liveness rule of FORMATS.md: dead if pidfd_open says ESRCH or the
    pidfd polls readable; alive if it cannot tell."""
    if pid <= 0:
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return not p.poll(0)
    finally:
        os.close(fd)


# --- Structs: Go's layout, and memlayout's fingerprint. ----------------------

SCALARS = {  # Go kind -> (struct code, size); on 64-bit Go, alignment = size
    "bool": ("?", 1), "int8": ("b", 1), "uint8": ("B", 1), "int16": ("h", 2), "uint16": ("H", 2),
    "int32": ("i", 4), "uint32": ("I", 4), "int64": ("q", 8), "uint64": ("Q", 8), "int": ("q", 8),
    "uint": ("Q", 8), "float32": ("f", 4), "float64": ("d", 8),
}


def parse_type(t):
    """Returns (layout string, size, align, struct codes, count of values)."""
    if t.startswith("["):
        n, elem = t[1:].split("]", 1)
        n = int(n)
        lay, size, align, codes, count = parse_type(elem)
        return "[%d]%s/%d" % (n, lay, n * size), n * size, align, codes * n, count * n
    code, size = SCALARS[t]
    return "%s/%d" % (t, size), size, size, code, 1


class Struct:
    """A Go struct of FIELDS, as FORMATS.md lays it out."""

    def __init__(self, spec):
        self.fields = []  # (name, offset, count of values)
        off, align, fmt, body = 0, 1, "<", ""
        for f in spec.split(","):
            name, typ = f.split(":", 1)
            lay, size, a, codes, count = parse_type(typ)
            pad = -off % a
            fmt += "%dx" % pad if pad else ""
            off += pad
            body += "%s@%d:%s;" % (name, off, lay)
            fmt += codes
            self.fields.append((name, off, count))
            off += size
            align = max(align, a)
        tail = -off % align
        fmt += "%dx" % tail if tail else ""
        self.size, self.align, self.fmt = off + tail, align, fmt
        self.layout = "{%s}/%d" % (body, self.size)
        self.fingerprint = fnv1a64(self.layout.encode())
        assert struct.calcsize(fmt) == self.size, (fmt, self.size)

    def unpack(self, buf, off):
        vals = struct.unpack_from(self.fmt, buf, off)
        out, i = [], 0
        for name, _, count in self.fields:
            if name != "_":
                out.extend(vals[i:i + count])
            i += count
        return out

    def pack(self, buf, off, words):
        vals, i, codes = [], 0, self.fmt.lstrip("<")
        kinds = [c for c in expand(codes) if c != "x"]
        for name, _, count in self.fields:
            for k in range(count):
                kind = kinds[len(vals)]
                if name == "_":
                    vals.append(False if kind == "?" else 0)
                    continue
                w = words[i]
                i += 1
                vals.append(float(w) if kind in "fd" else bool(int(w)) if kind == "?" else int(w))
        struct.pack_into(self.fmt, buf, off, *vals)


def expand(codes):
    """The struct codes one by one ("3x" as "x", a padding run)."""
    out, num = [], ""
    for c in codes:
        if c.isdigit():
            num += c
            continue
        out.extend([c] if c == "x" else [c] * int(num or 1))
        num = ""
    return out


def show(v):
    return str(int(v)) if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


# --- Objects: mapping, header, users table. ----------------------------------


class Object:
    def __init__(self, path, atom):
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            self.file_size = os.fstat(fd).st_size
            if self.file_size < HEADER:
                fail("%s has %d bytes, less than an ipcchan header" % (path, self.file_size))
            self.mm = mmap.mmap(fd, self.file_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._anchor = ctypes.c_char.from_buffer(self.mm)
        self.base = ctypes.addressof(self._anchor)
        self.atom, self.path, self.slot, self.me = atom, path, -1, os.getpid()
        h = struct.unpack_from(HEADER_FMT, self.mm, 0)
        (self.magic, self.version, self.kind, self.size, self.align, self.elem_size, self.fingerprint,
         self.creator, self.overflow, typ) = h[:10]
        self.type = typ.rstrip(b"\0").decode()
        if self.magic != MAGIC or self.version != C["IPCCHAN_VERSION"]:
            fail("%s is not an ipcchan object of version %d" % (path, C["IPCCHAN_VERSION"]))

    def check(self, kind, typ, fingerprint):
        if self.kind != kind:
            fail("%s is of kind %d, not %d" % (self.path, self.kind, kind))
        if self.type != typ:
            fail("%s holds %r, not %r" % (self.path, self.type, typ))
        if self.fingerprint != fingerprint:
            fail("%s has fingerprint %016x, not %016x" % (self.path, self.fingerprint, fingerprint))

    def users(self):
        return self.base + C["IPCCHAN_OFF_USERS"]

    def register(self):
        """The users table: a free slot, else a dead process's, else the
        overflow flag."""
        a, u = self.atom, self.users()
        for i in range(C["IPCCHAN_USER_SLOTS"]):
            if a.cas32(u + 4 * i, 0, self.me):
                self.slot = i
                return i
        for i in range(C["IPCCHAN_USER_SLOTS"]):
            p = a.load32(u + 4 * i)
            if p != self.me and not alive(p) and a.cas32(u + 4 * i, p, self.me):
                self.slot = i
                return i
        a.store32(self.base + C["IPCCHAN_OFF_OVERFLOW"], 1)
        return -1

    def unregister(self):
        if self.slot >= 0:
            self.atom.cas32(self.users() + 4 * self.slot, self.me, 0)
            self.slot = -1

    def close(self):
        self.unregister()
        del self._anchor
        self.mm.close()


# --- The ring's receive side. --------------------------------------------------


class Ring:
    def __init__(self, obj, msg):
        self.obj, self.atom, self.me = obj, obj.atom, obj.me
        p = obj.base + HEADER
        mm = obj.mm
        g = struct.unpack_from("<5I", mm, HEADER + C["IPCCHAN_RING_OFF_LAYOUT"])
        layout, self.cap, self.stride, self.maxlen, flags = g
        if layout != C["IPCCHAN_RING_LAYOUT"]:
            fail("ring layout %d, not %d" % (layout, C["IPCCHAN_RING_LAYOUT"]))
        if self.cap == 0 or self.stride < (16 + self.maxlen + 63) & ~63 or \
                HEADER + C["IPCCHAN_RING_CTL_SIZE"] + self.cap * self.stride > obj.file_size:
            fail("ring control block says %d slots of %d bytes, which the file does not hold" % (self.cap, self.stride))
        if not flags & C["IPCCHAN_RING_FIXED"] or self.maxlen != msg.size:
            fail("the ring carries %d-byte messages (flags %d), not fixed %d-byte ones" % (self.maxlen, flags, msg.size))
        self.msg = msg
        self.ended = p + C["IPCCHAN_RING_OFF_ENDED"]
        self.recovered = p + C["IPCCHAN_RING_OFF_RECOVERED"]
        self.head = p + C["IPCCHAN_RING_OFF_HEAD"]
        self.tail = p + C["IPCCHAN_RING_OFF_TAIL"]
        self.data_word = p + C["IPCCHAN_RING_OFF_DATA_WORD"]
        self.room_word = p + C["IPCCHAN_RING_OFF_ROOM_WORD"]
        self.slots = HEADER + C["IPCCHAN_RING_CTL_SIZE"]  # offset in the mapping
        self.wakes = self.sleeps = self.took_back = 0

    @staticmethod
    def word(pos, state, pid, n=1):
        return pos & RING_POS_MASK | (n - 1) << C["IPCCHAN_RING_RUN_SHIFT"] | \
            state << C["IPCCHAN_SLOT_STATE_SHIFT"] | pid << C["IPCCHAN_SLOT_PID_SHIFT"]

    @staticmethod
    def split(w):
        """position, state, pid and the run's slots of a ring slot's word"""
        n = (w >> C["IPCCHAN_RING_RUN_SHIFT"] & (C["IPCCHAN_RING_RUN_MAX"] - 1)) + 1
        return w & RING_POS_MASK, w >> C["IPCCHAN_SLOT_STATE_SHIFT"] & 7, w >> C["IPCCHAN_SLOT_PID_SHIFT"], n

    def state(self, pos):
        return self.obj.base + self.slot_off(pos)

    def slot_off(self, pos):
        return self.slots + pos % self.cap * self.stride

    def wake(self, word):
        a = self.atom
        while True:
            v = a.load32(word)
            if not v & SLEEPERS:
                return
            if a.cas32(word, v, (v + 1) & 0xFFFFFFFF & ~SLEEPERS):
                futex_wake(word, INT_MAX)
                if word == self.room_word:
                    self.wakes += 1
                return

    def wait(self, word, still, st, pid):
        """Sleeps on word while still() holds, announced by the sleepers bit;
        returns True if the slot's holder is found dead."""
        a = self.atom
        timeout = None
        if st in (WRITING, READING) and pid != self.me:
            timeout = C["IPCCHAN_RING_OWNER_CHECK_MS"] / 1000
        while True:
            v = a.load32(word)
            if not still():
                return False
            if not v & SLEEPERS:
                if not a.cas32(word, v, v | SLEEPERS):
                    continue
                v |= SLEEPERS
            if not still():  # the last look, after the bit is set
                return False
            self.sleeps += 1
            if futex_wait(word, v, timeout) == ETIMEDOUT:
                if pid != 0 and not alive(pid):
                    return True
                continue
            return False

    def take_back(self, pos, sw, w):
        a, cap = self.atom, self.cap
        _, st, _, n = self.split(w)
        if st == WRITING:
            nxt = self.word(pos, SKIPPED, 0, n)
        elif st == READING:
            for i in range(n - 1, 0, -1):  # the rest of the run first
                v = a.load64(self.state(pos + i))
                if v & RING_POS_MASK == (pos + i) & RING_POS_MASK:
                    a.cas64(self.state(pos + i), v, self.word(pos + i + cap, FREE, 0))
            a.cas64(self.head, pos, pos + n)
            nxt = self.word(pos + cap, FREE, 0)
        else:
            return
        if a.cas64(sw, w, nxt):
            a.add64(self.recovered, n)
            self.took_back += 1
            self.wake(self.data_word)
            self.wake(self.room_word)

    def mark(self, pos, n):
        """Marks the slots from pos on, the last n of a run whose first part
        this receiver takes, a run of their own; False if the slot moved on."""
        a, sw = self.atom, self.state(pos)
        want = self.word(pos, FULL, 0, n)
        w = a.load64(sw)
        if w == want:
            return True
        return w == self.word(pos, FREE, 0) and (a.cas64(sw, w, want) or a.load64(sw) == want)

    def receive(self, hold=None):
        """The next message's values, or None at the end of the stream: the
        first of the run at head (its rest marked a run of its own). hold, if
        given, is called while the slot is held (Reading)."""
        a, cap = self.atom, self.cap
        while True:
            pos = a.load64(self.head)
            off = self.slot_off(pos)
            sw = self.obj.base + off
            w = a.load64(sw)
            p, st, pid, n = self.split(w)
            here = pos & RING_POS_MASK
            if p == here and st == FULL:
                if n > 1 and not self.mark(pos + 1, n - 1):
                    continue
                if a.cas64(sw, w, self.word(pos, READING, self.me)):
                    a.cas64(self.head, pos, pos + 1)
                    vals = self.msg.unpack(self.obj.mm, off + C["IPCCHAN_SLOT_OFF_DATA"])  # FIXED: maxLen bytes
                    if hold:
                        hold(vals)
                    a.store64(sw, self.word(pos + cap, FREE, 0))
                    self.wake(self.room_word)
                    return vals
            elif p == here and st == SKIPPED:
                for i in range(n - 1, 0, -1):  # its first slot last
                    a.cas64(self.state(pos + i), self.word(pos + i, FREE, 0), self.word(pos + i + cap, FREE, 0))
                if a.cas64(sw, w, self.word(pos + cap, FREE, 0)):
                    self.wake(self.room_word)
                a.cas64(self.head, pos, pos + n)
            elif p == here and st == READING:
                a.cas64(self.head, pos, pos + n)
            elif p == (pos + cap) & RING_POS_MASK:
                a.cas64(self.head, pos, pos + 1)
            elif (p == here and st in (WRITING, FREE)) or p == (pos - cap) & RING_POS_MASK:
                if st == FREE and p == here and a.load32(self.ended):
                    return None
                empty = st == FREE

                def still():
                    return a.load64(sw) == w and not (empty and a.load32(self.ended))

                if self.wait(self.data_word, still, st, pid):
                    self.take_back(pos, sw, w)
            # else: head moved meanwhile; look again


# --- Modes. --------------------------------------------------------------------


def shm_path(name):
    if not name.startswith("/") or "/" in name[1:]:
        fail("%r is not a POSIX name (/NAME)" % name)
    return "/dev/shm/" + name[1:]


def mode_shm(name, fields, typ, fingerprint, count):
    st = Struct(fields)
    fp = int(fingerprint, 16)
    if st.fingerprint != fp:
        fail("the layout %s has fingerprint %016x, not the %016x given" % (st.layout, st.fingerprint, fp))
    obj = Object(shm_path(name), atomics())
    obj.check(C["IPCCHAN_KIND_SHM"], typ, fp)
    if obj.elem_size != st.size or obj.align != st.align:
        fail("elements of %d bytes aligned on %d, not %d on %d" % (obj.elem_size, obj.align, st.size, st.align))
    if obj.size != count * st.size or obj.size > obj.file_size - HEADER:
        fail("%d bytes of payload (file %d), not %d elements" % (obj.size, obj.file_size, count))
    slot = obj.register()
    try:
        say("attached", obj.me, slot)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            i = int(words[1])
            if not 0 <= i < count:
                fail("no element %d" % i)
            off = HEADER + i * st.size
            if words[0] == "get":
                say(i, *(show(v) for v in st.unpack(obj.mm, off)))
            elif words[0] == "set":
                st.pack(obj.mm, off, words[2:])
                say("ok")
            else:
                fail("unknown command %r" % line)
    finally:
        obj.close()
    say("detached")


def mode_ring(name, fields, typ, fingerprint):
    msg = Struct(fields)
    fp = int(fingerprint, 16)
    if msg.fingerprint != fp:  # a ring of a pointer-free T records T's layout fingerprint
        fail("the layout %s has fingerprint %016x, not the %016x given" % (msg.layout, msg.fingerprint, fp))
    shm_path(name)
    obj = Object("/dev/shm/ipcchan.ring." + name[1:], atomics())
    obj.check(C["IPCCHAN_KIND_RING"], typ, fp)
    ring = Ring(obj, msg)
    slot = obj.register()
    n = 0
    try:
        say("attached", obj.me, slot)
        first = sys.stdin.readline().strip()
        if first not in ("go", "hold"):
            fail("want a line \"go\" or \"hold\" on stdin")
        if first == "hold":  # the first message: say "held V...", and wait for "release" before freeing its slot
            def hold(vals):
                say("held", *(show(v) for v in vals))
                if sys.stdin.readline().strip() != "release":
                    fail("want a line \"release\" on stdin")
            if ring.receive(hold) is None:
                fail("the stream ended before a message to hold")
            n += 1
        while True:
            vals = ring.receive()
            if vals is None:
                break
            n += 1
            say("msg", *(show(v) for v in vals))
        say("eof", n)
        say("stats wakes=%d sleeps=%d recovered=%d" % (ring.wakes, ring.sleeps, ring.took_back))
    finally:
        obj.close()
    say("detached", obj.atom.name)


def mode_tracker(name, how, value):
    from multiprocessing import resource_tracker, shared_memory

    if how == "fix" and sys.version_info >= (3, 13):
        shm = shared_memory.SharedMemory(name.lstrip("/"), track=False)  # never registered
    else:
        shm = shared_memory.SharedMemory(name.lstrip("/"))  # registered with the resource tracker
        if how == "fix":
            resource_tracker.unregister(shm._name, "shared_memory")  # the fix before 3.13
    buf = shm.buf
    if bytes(buf[:8]) != MAGIC:
        fail("%s is not an ipcchan object" % name)
    say("value", struct.unpack_from("<q", buf, HEADER)[0])
    struct.pack_into("<q", buf, HEADER, int(value))
    del buf  # SharedMemory.close needs every export of its buffer gone
    shm.close()  # never shm.unlink(): the object is Go's
    say("done", how)


def main(argv):
    if len(argv) == 7 and argv[1] == "shm":
        mode_shm(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    elif len(argv) == 6 and argv[1] == "ring":
        mode_ring(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) == 5 and argv[1] == "tracker" and argv[3] in ("fix", "nofix"):
        mode_tracker(argv[2], argv[3], argv[4])
    elif len(argv) == 2 and argv[1] == "constants":
        for k, v in C.items():
            say("%s=%d" % (k, v))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
