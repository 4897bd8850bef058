"""The set-up path (issue 14): make installs dependencies before it reads
pkg-config, and never alongside the compiler under -j; the installer tells
a user without root what to run, and prints the Homebrew line on macOS.
Fake tools on PATH record what ran in which order, so nothing is installed."""
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def fake(bindir, name, body):
    path = bindir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def test_make_installs_before_reading_pkg_config(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "log"
    real_bash = shutil.which("bash")
    # `bash scripts/install-deps.sh SET` is logged (and slow, so a parallel
    # compile would overtake it); any other bash use runs the real one.
    fake(bindir, "bash", f'''case "$1" in scripts/install-deps.sh)
  echo "install $2 start" >> {log}; sleep 1; echo "install $2 end" >> {log}; exit 0;; esac
exec {real_bash} "$@"''')
    real_pc = shutil.which("pkg-config")
    fake(bindir, "pkg-config", f'echo "pkg-config $*" >> {log}; exec {real_pc} "$@"')
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    for var in ("VDB_DEPS_DONE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(var, None)
    build = tmp_path / "b"
    goal = f"{build}/hdr/src/core/err.ok"
    res = subprocess.run(["make", "-j2", f"BUILD={build}", goal], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "install runtime start" and lines[1] == "install runtime end", lines
    assert any(l.startswith("pkg-config --cflags") for l in lines[2:]), lines
    assert os.path.exists(goal)
    # A test goal installs the test set, a benchmark goal the bench set.
    for goal, dep_set in (("test-unit", "test"), ("bench-peers", "bench"), ("run", "runtime")):
        res = subprocess.run(["make", "-n", goal], cwd=ROOT, env=env, capture_output=True,
                             text=True)
        lines = [l for l in res.stdout.splitlines() if not l.startswith("make")]
        assert lines[0] == f"bash scripts/install-deps.sh {dep_set}", res.stdout


@pytest.fixture
def shared_tmp():
    """A temporary directory every user can read (for a run as nobody)."""
    path = tempfile.mkdtemp(prefix="vdb-installer-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def run_installer(tmp_path, bindir, preexec=None, extra_env=None):
    # A copy every user can read (the checkout may be under /root).
    script = tmp_path / "install-deps.sh"
    shutil.copy(os.path.join(ROOT, "scripts/install-deps.sh"), script)
    script.chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update(extra_env or {})
    return subprocess.run(["bash", str(script), "runtime"],
                          env=env, capture_output=True, text=True, preexec_fn=preexec,
                          stdin=subprocess.DEVNULL)


def test_installer_without_root_says_what_to_run(shared_tmp):
    tmp_path = shared_tmp
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # Nothing is installed, sudo is absent (a fake that always refuses).
    fake(bindir, "dpkg-query", "exit 1")
    fake(bindir, "apt-get", f"echo apt-get ran >> {tmp_path}/ran; exit 0")
    fake(bindir, "sudo", "exit 1")
    if os.geteuid() == 0:
        os.chmod(bindir, 0o755)

        def preexec():
            os.setgid(65534)
            os.setuid(65534)
    else:
        preexec = None
    res = run_installer(tmp_path, bindir, preexec)
    assert res.returncode == 1
    assert "needs root" in res.stderr
    assert "apt-get update && apt-get install -y --no-install-recommends make gcc" in res.stderr
    assert "libjansson-dev" in res.stderr and "libcmocka-dev" not in res.stderr
    assert not (tmp_path / "ran").exists()
    # The same user with a sudo that works: the install goes through it.
    os.chmod(tmp_path, 0o777)
    fake(bindir, "sudo", f'echo "sudo $*" >> {tmp_path}/ran; shift; exec "$@"')
    res = run_installer(tmp_path, bindir, preexec)
    assert res.returncode == 0, res.stderr
    ran = (tmp_path / "ran").read_text()
    assert "sudo -n apt-get" in ran and ran.count("apt-get ran") == 2


def test_installer_on_macos_prints_the_homebrew_line(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake(bindir, "uname", 'echo Darwin')
    fake(bindir, "pkg-config", "exit 1")
    res = run_installer(tmp_path, bindir)
    assert res.returncode == 1
    assert "brew install pkg-config jansson libzip" in res.stderr
