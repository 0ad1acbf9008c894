"""gateway/smtp/ calls one way (issue 12, STYLE 10b): from the object files, the
files' calls form no circle; sender authentication (smtp_seam.c) answers its
owner through one callback and calls nothing that writes to the session; the
transaction (smtp_tx.c) is the only caller of the seam's end-of-data check and
of delivery_submit()."""
import subprocess

from gwcallgraph import call_graph
from gwpaths import BUILD

LIB = "gateway/smtp/libsmtp.a"


def graph():
    return call_graph(LIB)


def test_no_call_circle():
    p, edges = graph()
    assert "smtp_session.c" in edges, p.stdout + p.stderr
    assert p.returncode == 0 and "circles: none" in p.stdout, p.stdout


def test_one_way_path():
    _, edges = graph()
    # session -> command -> transaction -> seam / delivery
    assert "smtp_cmd.c" in edges["smtp_session.c"]
    assert "smtp_tx.c" in edges["smtp_cmd.c"]
    assert "smtp_seam.c" in edges["smtp_tx.c"]
    # the seam returns verdicts: it writes no reply, sets no state, knows no caller
    assert not edges["smtp_seam.c"] & {"smtp_session.c", "smtp_cmd.c", "smtp_tx.c",
                                       "smtp_reply.c", "smtp_conn.c", "smtp_sasl.c"}
    # nothing below the session calls back up into it or into the command table
    for f, callees in edges.items():
        if f not in ("smtp_session.c", "smtp_worker.c", "smtp_server.c"):
            assert "smtp_session.c" not in callees, f
        if f != "smtp_session.c":
            assert "smtp_cmd.c" not in callees, f


def test_delivery_submitted_by_the_transaction_only():
    objdir = BUILD / (LIB + ".p")
    users = []
    for o in sorted(objdir.glob("*.o")):
        out = subprocess.run(["nm", str(o)], capture_output=True, text=True, check=True).stdout
        if any(ln.split() == ["U", "delivery_submit"] for ln in out.splitlines()):
            users.append(o.name[:-2])
    assert users == ["smtp_tx.c"]
