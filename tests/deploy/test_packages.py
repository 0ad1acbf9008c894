"""The package lists say what running needs apart from what building and
testing need (scripts/packages-*.txt): every library the binary links comes
from a runtime package (so the Dockerfile's runtime stage, which installs that
list, can run it), and scripts/run installs no compiler but gcc, no
formatter and no test package."""
import re
import subprocess

from deploy_lib import BIN
from gwpaths import ROOT, SANITIZED

SCRIPTS = ROOT / "scripts"


def packages(name):
    return [line.strip() for line in (SCRIPTS / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def owner(path):
    """The Debian package of a file, through either side of the merged /usr."""
    for p in (path, path.replace("/usr/lib/", "/lib/", 1), path.replace("/lib/", "/usr/lib/", 1)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    raise AssertionError(f"no package owns {path}")


def test_linked_libraries_are_runtime_packages():
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", str(BIN)], capture_output=True,
                                       text=True, check=True, timeout=60).stdout)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", str(BIN)], capture_output=True, text=True, check=True, timeout=60).stdout, re.M))
    runtime = set(packages("packages-runtime.txt"))
    assert len(needed) > 10
    for lib in needed:
        if lib.startswith(("libc.so", "ld-linux", "libm.so")):
            continue  # libc6: in every Debian image
        if SANITIZED and lib.startswith(("libasan.so", "libubsan.so")):
            continue  # the sanitizer build's runtimes: the compiler's, never shipped
        pkg = owner(subprocess.run(["readlink", "-f", paths[lib]], capture_output=True,
                                   text=True, check=True, timeout=60).stdout.strip())
        assert pkg in runtime, f"{lib} comes from {pkg}, missing in scripts/packages-runtime.txt"


def test_lists_do_not_overlap():
    seen = {}
    for name in ("packages-runtime.txt", "packages-build.txt", "packages-run.txt", "packages.txt"):
        for p in packages(name):
            assert p not in seen, f"{p} in both {seen[p]} and {name}"
            seen[p] = name


def test_run_installs_no_development_or_test_tools():
    run = (SCRIPTS / "run").read_text()
    lists = re.search(r"^scripts/deps (.+)$", run, re.M).group(1).split()
    assert "scripts/packages.txt" not in lists and lists, lists
    installed = {p for name in lists for p in packages(name.removeprefix("scripts/"))}
    for tool in ("clang", "clang-format", "libclang-rt-14-dev", "python3-pytest", "haproxy"):
        assert tool not in installed, tool
    assert {"gcc", "meson", "python3"} <= installed
    # scripts/test installs everything (scripts/deps without arguments).
    assert re.search(r"^scripts/deps \|\| exit 1$", (SCRIPTS / "test").read_text(), re.M)
    assert "packages-runtime.txt" in (SCRIPTS / "deps").read_text()


def test_dockerfile_installs_the_lists():
    text = (ROOT / "Dockerfile").read_text()
    assert "COPY scripts/packages-build.txt" in text and "COPY scripts/packages-runtime.txt" in text
    runtime_stage = text.split("\nFROM ${BASE}\n", 1)[1]
    assert "packages-build.txt" not in runtime_stage
