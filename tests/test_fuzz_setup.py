"""The fuzzing set-up (docs/fuzzing.md), checked without building it: the
suite never runs the fuzz build (it needs clang and minutes per target).

- every tests/*/fuzz_*.c is a target of scripts/fuzz, built by meson, and
  links the project's libraries instead of compiling their sources in (the
  fuzz build instruments the libraries; a target that compiles a copy of a
  source in gets coverage of that copy only, or of nothing when it links
  the library: 36 edges of the MIME code);
- every dictionary scripts/fuzz names exists and is a valid libFuzzer
  dictionary; every seed corpus exists and is not empty;
- scripts/fuzz itself, over stand-in targets that print what libFuzzer
  prints: the summary table, new inputs outside the repo, one joined
  dictionary, and exit status 1 when a target leaves a crash artifact.
"""
import os
import pathlib
import re
import stat
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUZZ = ROOT / "scripts" / "fuzz"


def table():
    """scripts/fuzz's rows: name -> (seeds, dicts, max_len, timeout, rss)."""
    text = FUZZ.read_text()
    block = text.split("TARGETS='", 1)[1].split("'", 1)[0]
    rows = {}
    for line in block.strip().splitlines():
        cells = [c.strip() for c in line.split("|")]
        assert len(cells) == 6, line
        rows[cells[0]] = cells[1:]
    return rows


def sources():
    return {p.stem: p for p in ROOT.glob("tests/*/fuzz_*.c")}


def test_every_target_is_run_and_built():
    rows, srcs = table(), sources()
    assert set(rows) == set(srcs), "scripts/fuzz's table and tests/*/fuzz_*.c differ"
    for name, src in srcs.items():
        build = (src.parent / "meson.build").read_text()
        assert f"'{name}'" in build, f"{src.parent}/meson.build does not build {name}"
    listed = subprocess.run([str(FUZZ), "-l"], capture_output=True, text=True, check=True)
    assert listed.stdout.split() == list(rows)


def fuzz_sections():
    for build in ROOT.glob("tests/*/meson.build"):
        text = build.read_text()
        for m in re.finditer(r"^if fuzzing\b.*?^endif", text, re.S | re.M):
            yield build, m.group(0)


def test_targets_link_the_instrumented_libraries():
    sections = list(fuzz_sections())
    assert len(sections) >= 9
    for build, sec in sections:
        assert "gateway/" not in sec and "'routes'" not in sec and "routes_src" not in sec, \
            f"{build}: a fuzz target compiles project sources in; link the library instead"
        assert "fuzz_link_args" in sec, f"{build}: targets link with fuzz_link_args"
        assert "-fsanitize" not in sec, f"{build}: sanitizer flags belong to meson.build"
    top = (ROOT / "meson.build").read_text()
    fuzz = top[top.index("fuzzing = get_option('fuzz')"):top.index("subdir('routes')")]
    assert "add_project_arguments('-fsanitize=fuzzer-no-link,address,undefined'" in fuzz
    assert "add_project_link_arguments('-fsanitize=address,undefined'" in fuzz
    assert "fuzz_link_args = ['-fsanitize=fuzzer,address,undefined']" in fuzz


DICT_LINE = re.compile(r'^(?:[A-Za-z0-9_]+=)?"((?:[^"\\]|\\\\|\\"|\\x[0-9A-Fa-f]{2})*)"$')


@pytest.mark.parametrize("name", sorted(table()))
def test_dictionaries_and_seeds(name):
    seeds, dicts, max_len, timeout, rss = table()[name]
    assert int(max_len) > 0 and int(timeout) > 0 and int(rss) >= 512
    if dicts != "-":
        for d in dicts.split():
            path = ROOT / d
            assert path.is_file(), d
            n = 0
            for line in path.read_text(encoding="ascii").splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                assert DICT_LINE.match(line), f"{d}: not a libFuzzer entry: {line!r}"
                n += 1
            assert n >= 20, d
    if seeds == "@mime-seeds":
        assert list((ROOT / "tests/mime/cases").glob("*.eml"))
    else:
        assert any(p.is_file() for p in (ROOT / seeds).rglob("*")), seeds


def test_charset_dictionary_has_the_labels():
    text = (ROOT / "tests/mime/charsets.dict").read_text()
    for label in ("utf-8", "unicode-1-1-utf-8", "iso-8859-8-i", "x-user-defined", "gb18030",
                  "ks_c_5601-1987", "x-mac-cyrillic", "utf-16le", "replacement", "UTF-7",
                  "utf-8//IGNORE", "ISO-2022-JP-2"):
        assert f'"{label}"' in text, label



def test_header_dictionary_has_the_hidden_fields():
    """Every field name payload_scan.c keeps from GMime is a branch the input chooses."""
    import re
    src = (ROOT / "gateway/mime/payload_scan.c").read_text()
    names = re.findall(r'"([^"]+)"', src.split("hidden_names[] = {")[1].split("};")[0])
    prefixes = re.findall(r'"([^"]+)"', src.split("hidden_prefixes[] = {")[1].split("};")[0])
    assert "Received" in names and prefixes
    text = (ROOT / "tests/mime/headers.dict").read_text()
    for name in names:
        assert f'"{name}:"' in text, name
    for prefix in prefixes:
        assert f'"{prefix}"' in text, prefix


FAKE = """#!/bin/sh
# Stands in for a libFuzzer target: records its arguments, prints libFuzzer's lines.
echo "$@" >"$FAKE_ARGS"
for a; do case $a in -artifact_prefix=*) prefix=${a#-artifact_prefix=} ;; esac; done
printf '#2\\tINITED cov: 5 ft: 6 corp: 1/1b exec/s: 0 rss: 30Mb\\n'
if [ "${FAKE_CRASH:-}" = 1 ]; then
    printf '#77\\tNEW    cov: 40 ft: 70 corp: 8/90b lim: 4 exec/s: 0 rss: 31Mb\\n'
    echo "==1== ERROR: AddressSanitizer: heap-buffer-overflow"
    printf 'x' >"${prefix}crash-0123"
    exit 1
fi
printf '#1234\\tDONE   cov: 42 ft: 77 corp: 9/100b lim: 4 exec/s: 600 rss: 31Mb\\n'
echo "stat::number_of_executed_units: 1234"
echo "stat::peak_rss_mb:              31"
"""


def run_fake(tmp_path, crash):
    build, work = tmp_path / "build", tmp_path / "work"
    for name in ("fuzz_smtp_proxy", "fuzz_dmarc_from"):
        sub = "smtp" if "smtp" in name else "dmarc"
        exe = build / "tests" / sub / name
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text(FAKE)
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, FUZZ_BUILD=str(build), FAKE_ARGS=str(tmp_path / "args"),
               FAKE_CRASH="1" if crash else "0")
    p = subprocess.run([str(FUZZ), "-n", "-t", "3", "-w", str(work), "fuzz_dmarc_from",
                        "fuzz_smtp_proxy"], capture_output=True, text=True, env=env, timeout=60)
    return p, work, (tmp_path / "args").read_text().split()


def test_script_summary(tmp_path):
    p, work, args = run_fake(tmp_path, crash=False)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["target", "seconds", "executions", "edges", "features", "corpus",
                                "rss_mb", "findings"]
    rows = {l.split()[0]: l.split()[1:] for l in lines[1:]}
    assert rows["fuzz_smtp_proxy"][1:] == ["1234", "42", "77", "9", "31", "0"]
    assert rows["fuzz_dmarc_from"][1:] == ["1234", "42", "77", "9", "31", "0"]
    # The last target's arguments: its limits, one joined dictionary, scratch corpus first.
    assert "-max_total_time=3" in args and "-max_len=1024" in args
    d = next(a for a in args if a.startswith("-dict="))[len("-dict="):]
    assert pathlib.Path(d).read_text() == (ROOT / "tests/smtp/smtp.dict").read_text()
    positional = [a for a in args if not a.startswith("-")]
    assert positional == [str(work / "corpus" / "fuzz_smtp_proxy"),
                          str(ROOT / "tests/smtp/corpus/proxy")]


def test_script_fails_on_an_artifact(tmp_path):
    p, work, _ = run_fake(tmp_path, crash=True)
    assert p.returncode == 1
    rows = {l.split()[0]: l.split()[1:] for l in p.stdout.splitlines()[1:]}
    assert rows["fuzz_smtp_proxy"][1:] == ["77", "40", "70", "8", "?", "1"]
    assert "crash-0123" in p.stderr
    dmarc = (work / "runs").glob("*/fuzz_dmarc_from.dict")
    joined = next(dmarc).read_text()
    assert "v=DMARC1" in joined and "Content-Type:" in joined  # dmarc.dict + headers.dict


def test_script_runs_a_target_beside_its_source(tmp_path):
    """fuzz_formats reads the MIME seeds but is built in tests/webhook/: it is run from there."""
    build, work = tmp_path / "build", tmp_path / "work"
    exe = build / "tests" / "webhook" / "fuzz_formats"
    exe.parent.mkdir(parents=True)
    exe.write_text(FAKE)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, FUZZ_BUILD=str(build), FAKE_ARGS=str(tmp_path / "args"),
               FAKE_CRASH="0")
    p = subprocess.run([str(FUZZ), "-n", "-t", "3", "-w", str(work), "fuzz_formats"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1].split()[0] == "fuzz_formats"
    seeds = [a for a in (tmp_path / "args").read_text().split() if not a.startswith("-")][1]
    assert any(pathlib.Path(seeds).iterdir())  # the MIME cases, behind their options byte


def test_script_refuses_a_scratch_dir_in_the_repo():
    p = subprocess.run([str(FUZZ), "-n", "-w", str(ROOT / "tmp-fuzz"), "fuzz_toml"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "outside the repo" in p.stderr
    assert not (ROOT / "tmp-fuzz").exists()
