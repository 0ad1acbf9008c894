"""The calls between the files of one static library, read from its object
files by scripts/callgraph: the layering tests of gateway/smtp and
gateway/mime (issue 12) assert on it."""
import subprocess

from gwpaths import BUILD, ROOT


def call_graph(lib):
    """(the scripts/callgraph run, {file: set of files it calls})."""
    p = subprocess.run([str(ROOT / "scripts" / "callgraph"), str(BUILD), lib],
                       capture_output=True, text=True, timeout=60)
    edges = {}
    for line in p.stdout.splitlines():
        if " -> " in line:
            f, callees = line.split(" -> ")
            edges[f] = set(callees.split()) - {"-"}
    return p, edges
