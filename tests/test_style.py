"""Style is checked by the suite (STYLE.md 23): clang-format and banned functions."""
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = sorted(p for d in ("gateway", "routes", "include", "tests")
                 for p in (ROOT / d).rglob("*.[ch]"))
BANNED = re.compile(r"\b(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|gets)\s*\(")


def test_sources_exist():
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_banned_functions(path):
    text = re.sub(r"/\*.*?\*/", "", path.read_text(errors="replace"), flags=re.S)
    hits = [f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(1)}"
            for m in BANNED.finditer(text)]
    assert not hits, "banned functions (use snprintf, memcpy with a length, strtol...): " + \
        ", ".join(hits)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_clang_format(path):
    assert shutil.which("clang-format"), "clang-format is in scripts/packages.txt: run scripts/deps"
    r = subprocess.run(["clang-format", "--dry-run", "--Werror", str(path)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, f"run clang-format -i {path.relative_to(ROOT)}\n{r.stderr[:2000]}"


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_header_comment(path):
    """Every file starts with a comment saying what it owns (STYLE.md 2)."""
    assert path.read_text(errors="replace").lstrip().startswith("/*"), path
