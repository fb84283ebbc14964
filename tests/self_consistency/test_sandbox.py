"""The code-execution sandbox stops hostile programs, scores them failed, and survives.

Oracle: the operating system itself -- a file that must not exist afterwards, a listening socket
that must see no connection, the process table that must hold no survivor. Each hostile program
is bounded (a fork bomb by RLIMIT_NPROC and a 3 s deadline), so this is safe on a shared machine.
The kernel layers are tested with the Python audit hook switched off, so that each layer is shown
to hold alone. Each escape runs under three sets of layers (the ``layers`` fixture): all this
machine has, all but the mount namespace, and none of the namespaces (as where ``unshare`` is
missing), so the fallbacks are shown to hold too.
"""

import os
import shutil
import socket
import textwrap
import time

import pytest

from mlroundup.self_consistency import sandbox
from mlroundup.self_consistency.sandbox import Limits, check_program, protections, run_python

FAST = Limits(timeout_s=3.0, cpu_s=2, memory_mb=512, max_processes=4)
NAMESPACES = ("network_namespace", "pid_namespace", "mount_namespace")


@pytest.fixture(params=["all", "no-mount", "no-unshare"])
def layers(request, monkeypatch):
    """``(keyword arguments of run_python, the layers they give)``: every layer this machine has;
    all but the mount namespace; or a machine without ``unshare`` (hidden from the sandbox)."""
    if request.param != "no-unshare":
        kw = {"mount_namespace": request.param == "all"}
        yield kw, protections(**kw)
        return
    which = shutil.which

    def no_unshare(name, *args, **kwargs):
        return None if name == "unshare" else which(name, *args, **kwargs)

    sandbox._plan.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setattr(shutil, "which", no_unshare)
            prot = protections()
            assert not any(prot[k] for k in NAMESPACES)
            yield {}, prot
    finally:
        sandbox._plan.cache_clear()


def _still_running(marker: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pids.append(int(pid))
            except OSError:
                pass
    return pids


def _survives(**kw):
    r = run_python("assert sum(range(4)) == 6\nprint('ok')", FAST, **kw)
    assert r.passed and r.stdout.strip() == "ok"


def test_pass_and_fail(layers):
    kw, _ = layers
    assert run_python("x = 1\nassert x == 1", FAST, **kw).status == "passed"
    r = run_python("assert 1 == 2", FAST, **kw)
    assert r.status == "failed" and "AssertionError" in r.stderr
    slow = run_python("import time\ntime.sleep(30)", Limits(timeout_s=1.0), **kw)
    assert slow.status == "timeout"


def test_humaneval_program_layout(layers):
    kw, _ = layers
    prompt = "def add(a, b):\n    '''sum'''\n"
    test = "def check(f):\n    assert f(2, 3) == 5\n"
    good, bad = (check_program(prompt, f"    return a {op} b\n", test, "add") for op in "+-")
    assert run_python(good, FAST, **kw).passed
    assert not run_python(bad, FAST, **kw).passed


@pytest.mark.parametrize("hook", [True, False])
def test_cannot_write_outside_its_folder(tmp_path, hook, layers):
    kw, prot = layers
    if not hook and not (prot["unprivileged_user"] or prot["mount_namespace"]):
        pytest.skip(
            "without the audit hook, only a switch to nobody (needs root) or a mount namespace "
            "blocks writes"
        )
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "escaped.txt"
    code = f"open({str(target)!r}, 'w').write('pwned')\n"
    r = run_python(code, FAST, audit_hook=hook, **kw)
    assert r.status == "failed"
    assert not target.exists()
    # writing inside its own working folder is fine, and the folder is deleted afterwards
    r = run_python("import os\nopen('f.txt','w').write('x')\nprint(os.getcwd())", FAST, **kw)
    assert r.passed and not os.path.exists(r.stdout.strip())
    _survives(**kw)


# the audit hook does not depend on the namespaces: with it, the bomb runs once (3 s a run)
@pytest.mark.parametrize(
    ("layers", "hook"),
    [("all", True), ("all", False), ("no-mount", False), ("no-unshare", False)],
    indirect=["layers"],
)
def test_fork_bomb_is_contained(hook, layers):
    kw, prot = layers
    if not hook and not prot["process_limit"]:
        pytest.skip("RLIMIT_NPROC is not enforced for root without setpriv")
    # the program prints its working folder, which is on the command line of every process it
    # forks: afterwards no process may have it there
    code = textwrap.dedent("""
        import os
        print(os.getcwd(), flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)
    t0 = time.perf_counter()
    r = run_python(code, FAST, audit_hook=hook, **kw)
    assert r.status in ("failed", "timeout")
    assert time.perf_counter() - t0 < 15
    marker = r.stdout.split()[0]
    assert marker.startswith("/")
    time.sleep(0.2)
    assert _still_running(marker) == []
    _survives(**kw)


def test_huge_allocation_fails(layers):
    kw, _ = layers
    r = run_python("x = bytearray(10 * 1024**3)\nprint(len(x))", FAST, audit_hook=False, **kw)
    assert r.status == "failed" and "MemoryError" in r.stderr
    _survives(**kw)


@pytest.mark.parametrize("hook", [True, False])
def test_no_network(hook, layers):
    kw, prot = layers
    if not hook and not prot["network_namespace"]:
        pytest.skip("no network namespace here; only the audit hook blocks sockets")
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')"
    try:
        r = run_python(code, FAST, audit_hook=hook, **kw)
        assert r.status == "failed" and "connected" not in r.stdout
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    _survives(**kw)


def test_escaped_session_is_killed(layers):
    kw, prot = layers
    if not prot["pid_namespace"]:
        pytest.skip("no PID namespace here")
    code = textwrap.dedent("""
        import os, time
        print(os.getcwd(), flush=True)
        if os.fork() == 0:
            os.setsid()
            time.sleep(60)
        time.sleep(60)
    """)
    r = run_python(code, Limits(timeout_s=1.0), audit_hook=False, **kw)
    assert r.status == "timeout"
    marker = r.stdout.split()[0]
    time.sleep(0.2)
    assert _still_running(marker) == []


def test_limits_are_validated():
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=1)
    with pytest.raises(TypeError):
        run_python(b"print(1)")  # type: ignore[arg-type]
