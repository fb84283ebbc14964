"""With the mount namespace, the program sees only the Python installation (read-only), its own
working folder and a private /tmp: nothing else of the host.

Oracles: files this test makes on the host (in $HOME, in the host's /tmp) and files the host
already has (/etc/passwd, this test file, the entries of $HOME), which the program must not be
able to open, list or find; the kernel's own mount flags (``statvfs``) and error numbers. The
Python audit hook is switched off where the claim is about the kernel layer alone. Skipped where
the kernel allows no mount namespace (see ``protections()``).
"""

import errno
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from mlroundup.self_consistency import sandbox
from mlroundup.self_consistency.sandbox import Limits, check_program, protections, run_python

FAST = Limits(timeout_s=5.0, cpu_s=3, memory_mb=512, max_processes=4)
pytestmark = pytest.mark.skipif(
    not protections()["mount_namespace"],
    reason="no mount namespace on this machine (needs root or unprivileged user namespaces, "
    "plus util-linux unshare and pivot_root): protections()['mount_namespace'] is False",
)


def _run_json(code: str, **kw) -> dict:
    r = run_python(textwrap.dedent(code), FAST, audit_hook=False, **kw)
    assert r.passed, r
    return json.loads(r.stdout.strip().splitlines()[-1])


def _first_under(path: str, top: str) -> set[str]:
    """The first component of ``path`` below ``top`` ({} if ``path`` is not below it)."""
    rel = os.path.relpath(path, top)
    return set() if rel == "." or rel.startswith("..") else {rel.split(os.sep)[0]}


@pytest.mark.parametrize("hook", [True, False])
def test_etc_passwd_cannot_be_opened(hook):
    if not os.path.isfile("/etc/passwd"):
        pytest.skip("this host has no /etc/passwd to hide")
    with open("/etc/passwd") as f:
        first = f.readline().strip()
    r = run_python("print(open('/etc/passwd').read())", FAST, audit_hook=hook)
    assert r.status == "failed" and "FileNotFoundError" in r.stderr
    assert first not in r.stdout
    assert r.protections["mount_namespace"] is True


def test_nothing_under_home_can_be_opened():
    home = os.path.realpath(os.path.expanduser("~"))
    if not os.path.isdir(home) or home == "/":
        pytest.skip("no home folder here")
    # a world-readable secret, so that only the mount namespace can hide it
    folder = tempfile.mkdtemp(dir=home, prefix=".mlroundup-sandbox-test-")
    try:
        os.chmod(folder, 0o755)
        secret = os.path.join(folder, "secret.txt")
        token = secrets.token_hex(16)
        with open(secret, "w") as f:
            f.write(token)
        os.chmod(secret, 0o644)
        entries = sorted(os.listdir(home))
        out = _run_json(f"""
            import json, os
            home, entries = {home!r}, {entries!r}
            try:
                got = open({secret!r}).read()
            except OSError as e:
                got = type(e).__name__
            print(json.dumps({{
                "secret": got,
                "seen": [e for e in entries if os.path.lexists(os.path.join(home, e))],
                "listing": sorted(os.listdir(home)) if os.path.isdir(home) else [],
            }}))
        """)
    finally:
        shutil.rmtree(folder)
    assert out["secret"] == "FileNotFoundError"
    # the only thing of $HOME that may show is the path down to the Python installation
    allowed = _first_under(os.path.realpath(sys.base_prefix), home)
    assert set(out["seen"]) <= allowed
    assert set(out["listing"]) <= allowed


def test_host_files_elsewhere_are_invisible(tmp_path):
    mine = tmp_path / "host.txt"  # in the host's /tmp (or $TMPDIR)
    mine.write_text("host")
    os.chmod(tmp_path, 0o755)
    os.chmod(mine, 0o644)
    paths = [str(mine), os.path.abspath(__file__), os.getcwd(), "/etc", "/root", "/home", "/proc"]
    # except the folders down to the Python installation (which may lie under /root)
    python = os.path.realpath(sys.base_prefix)
    paths = [p for p in paths if not python.startswith(p.rstrip("/") + "/")]
    out = _run_json(f"""
        import json, os
        print(json.dumps([p for p in {paths!r} if os.path.lexists(p)]))
    """)
    assert out == []


def test_private_tmp_and_an_empty_working_folder():
    name = f"mlroundup-sandbox-test-{secrets.token_hex(8)}.txt"
    host_tmp = os.path.join("/tmp", name)
    try:
        out = _run_json(f"""
            import json, os
            with open({host_tmp!r}, "w") as f:
                f.write("inside")
            print(json.dumps({{"cwd": os.getcwd(), "tmp": sorted(os.listdir("/tmp")),
                               "work": sorted(os.listdir("."))}}))
        """)
        assert not os.path.exists(host_tmp)  # written to the private /tmp, gone with it
    finally:  # a broken layer must not leave the file behind
        if os.path.lexists(host_tmp):
            os.remove(host_tmp)
    # the private /tmp holds the file it wrote and, if the working folder lies below /tmp, the
    # path down to it: none of the host's /tmp
    assert set(out["tmp"]) <= {name} | _first_under(out["cwd"], "/tmp")
    assert set(out["work"]) <= {"main.py", ".runner.py"}  # the program and its runner only
    assert not os.path.exists(out["cwd"])


def test_python_installation_is_read_only():
    out = _run_json("""
        import json, os, sys
        ro = lambda p: bool(os.statvfs(p).f_flag & os.ST_RDONLY)
        try:
            open(os.path.join(sys.prefix, "mlroundup-sandbox-escape.txt"), "w")
            wrote = True
        except OSError:
            wrote = False
        print(json.dumps({"prefix": sys.prefix, "ro": [ro(sys.prefix), ro("/usr"), ro("/")],
                          "work_ro": ro("."), "tmp_ro": ro("/tmp"), "wrote": wrote}))
    """)
    assert out["ro"] == [True, True, True]
    assert out["work_ro"] is False and out["tmp_ro"] is False
    assert out["wrote"] is False
    assert not os.path.exists(os.path.join(out["prefix"], "mlroundup-sandbox-escape.txt"))


def test_humaneval_programs_still_pass():
    from mlroundup.self_consistency.humaneval import evaluate

    problem = {
        "prompt": "import math, re, collections, itertools, functools, heapq, hashlib, string\n"
        "from typing import List\n\ndef add(a: int, b: int) -> int:\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"
        "    assert math.isclose(candidate(0.5, 0.25), 0.75)\n",
        "entry_point": "add",
    }
    completions = ["    return a - b\n", "    import sys; sys.exit(0)\n",
                   "    import os; os._exit(0)\n", "    return a + b\n"]  # fmt: skip
    assert evaluate(problem, completions) == [False, False, False, True]
    prog = check_program(problem["prompt"], "    return a + b\n", problem["test"], "add")
    r = run_python(prog, FAST)
    assert r.passed and r.protections["mount_namespace"] is True


def test_turned_off_it_reports_so_and_the_host_shows_again():
    """The switch the fallback tests use really removes the layer (and only it)."""
    r = run_python("import os\nprint(os.path.isdir('/usr') and os.path.exists('/etc'))", FAST,
                   mount_namespace=False)  # fmt: skip
    assert r.passed and r.stdout.strip() == "True"
    assert r.protections["mount_namespace"] is False
    assert r.protections["network_namespace"] == protections()["network_namespace"]


def test_root_inside_cannot_undo_the_mounts(monkeypatch):
    """Where the program keeps uid 0 (an unprivileged user namespace, or root without setpriv:
    simulated by hiding setpriv), its capabilities are gone: no remount, unmount, mount or
    chroot, and the Python installation stays read-only (EROFS, not a permission error)."""
    if os.geteuid() == 0:
        which = shutil.which
        monkeypatch.setattr(
            shutil, "which", lambda n, *a, **k: None if n == "setpriv" else which(n, *a, **k)
        )
        sandbox._plan.cache_clear()
    try:
        prot = protections()
        if prot["unprivileged_user"] or not prot["mount_namespace"]:
            pytest.skip("the program does not run as uid 0 inside a mount namespace here")
        out = _run_json("""
            import ctypes, errno, json, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            def call(f, *args):
                return 0 if f(*args) == 0 else ctypes.get_errno()
            pre = sys.prefix.encode()
            res = {
                "uid": os.getuid(),
                "remount_rw": call(libc.mount, None, pre, None, ctypes.c_ulong(32 | 4096), None),
                "umount": call(libc.umount2, b"/usr", 2),
                "mount": call(libc.mount, b"x", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None),
            }
            try:
                os.chroot("/tmp")
                res["chroot"] = 0
            except OSError as e:
                res["chroot"] = e.errno
            try:
                open(os.path.join(sys.prefix, "mlroundup-sandbox-escape.txt"), "w")
                res["write"] = 0
            except OSError as e:
                res["write"] = e.errno
            res["passwd"] = os.path.exists("/etc/passwd")
            print(json.dumps(res))
        """)
    finally:
        monkeypatch.undo()
        sandbox._plan.cache_clear()
    assert out["uid"] == 0
    for op in ("remount_rw", "umount", "mount", "chroot"):
        assert out[op] == errno.EPERM, (op, out)
    assert out["write"] == errno.EROFS
    assert out["passwd"] is False


def test_nothing_is_left_behind(monkeypatch):
    """The working folder and the empty mount point are removed, and no mount reaches the
    host's mount table (the mounts lived in the program's namespace only)."""
    protections()  # the plan (and its probe) made beforehand
    made = []
    real = tempfile.mkdtemp

    def spy(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", spy)
    r = run_python("open('/tmp/x', 'w').write('x')\nopen('y', 'w').write('y')", FAST,
                   audit_hook=False)  # fmt: skip
    assert r.passed
    assert len(made) == 2  # the working folder and the mount point
    assert [p for p in made if os.path.exists(p)] == []
    with open("/proc/self/mountinfo") as f:
        assert [line for line in f if "mlroundup" in line] == []


def test_no_descriptor_of_the_host_reaches_the_program():
    """An open folder of the host would let the program fchdir out of its root."""
    out = _run_json("""
        import json, os
        fds = []
        for fd in range(1024):
            try:
                os.fstat(fd)
                fds.append(fd)
            except OSError:
                pass
        print(json.dumps(fds))
    """)
    assert out == [1, 2]  # stdout and stderr (stdin is closed before the program starts)


_AS_USER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sbx", sys.argv[1])
sbx = importlib.util.module_from_spec(spec)
sys.modules["sbx"] = sbx
spec.loader.exec_module(sbx)
prot = sbx.protections()
code = '''
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
remount = libc.mount(None, b"/usr", None, ctypes.c_ulong(32 | 4096), None)
try:
    open(os.path.join(sys.prefix, "mlroundup-sandbox-escape.txt"), "w")
    write = 0
except OSError as e:
    write = e.errno
print(json.dumps({"uid": os.getuid(), "passwd": os.path.exists("/etc/passwd"),
                  "secret": os.path.exists(%r), "remount": remount, "write": write}))
''' % sys.argv[2]
r = sbx.run_python(code, audit_hook=False)
print(json.dumps({"prot": prot, "status": r.status, "out": r.stdout, "err": r.stderr[-2000:]}))
"""


def test_unprivileged_user_namespace_path(tmp_path):
    """The path a normal user takes (``unshare --map-root-user``): run the sandbox itself as
    nobody, where the program is uid 0 of a user namespace without capabilities."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to start the sandbox as an unprivileged user")
    secret = tmp_path / "secret.txt"  # readable by nobody: only the mount layer hides it
    secret.write_text("secret")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}
    src = os.path.abspath(sandbox.__file__)
    for python in dict.fromkeys([os.path.realpath(sys._base_executable), "/usr/bin/python3"]):
        try:
            ok = subprocess.run([*as_nobody, python, "-I", "-c", f"open({src!r}).close()"],
                                env=env, cwd="/", capture_output=True, timeout=30)  # fmt: skip
        except OSError:
            continue
        if ok.returncode == 0:
            break
    else:
        pytest.skip("no Python interpreter here that nobody can run and that can read the source")
    done = subprocess.run([*as_nobody, python, "-I", "-c", _AS_USER, src, str(secret)], env=env,
                          cwd="/", capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout.strip().splitlines()[-1])
    if not res["prot"]["mount_namespace"]:
        pytest.skip("the kernel refuses unprivileged user or mount namespaces here")
    assert res["prot"]["unprivileged_user"] is False  # not root: no switch to nobody
    assert res["status"] == "passed", res
    out = json.loads(res["out"].strip().splitlines()[-1])
    assert out["uid"] == 0 and out["passwd"] is False and out["secret"] is False
    assert out["remount"] == -1 and out["write"] == errno.EROFS
