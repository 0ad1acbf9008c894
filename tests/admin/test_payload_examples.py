"""examples/payloads/ are made from real runs (issue 13: the auth object of
the examples lacked members the code emits): generate.py runs again here,
and every example must be byte for byte what the code makes now."""
import os
import pathlib
import subprocess

from gwpaths import BUILD

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples" / "payloads"


def test_examples_are_what_the_code_makes(tmp_path):
    env = dict(os.environ, SMTPGW_BUILD=str(BUILD))
    p = subprocess.run(["/usr/bin/python3", str(EXAMPLES / "generate.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    made = sorted(f.name for f in tmp_path.glob("*.json"))
    assert made == sorted(f.name for f in EXAMPLES.glob("*.json"))
    for name in made:
        got, have = (tmp_path / name).read_text(), (EXAMPLES / name).read_text()
        assert got == have, f"examples/payloads/{name} is stale: run examples/payloads/generate.py"
