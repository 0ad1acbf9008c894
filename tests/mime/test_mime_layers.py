"""gateway/mime/ calls one way (issue 12): from the object files, the files'
calls form no circle. The shared helpers live below every stage: the bounded
buffer (payload_buf.c) calls nothing, UTF-8 repair (payload_utf8.c) only the
buffer, the per-call context (payload_ctx.c: warnings, deferred values) only
those two; the top (payload.c) is called by the CLI alone, and reply
extraction and classification only ever call down."""
from gwcallgraph import call_graph

LIB = "gateway/mime/libmime.a"
BOTTOM = {"payload_buf.c": set(),
          "payload_utf8.c": {"payload_buf.c"},
          "payload_ctx.c": {"payload_buf.c", "payload_utf8.c"}}


def graph():
    return call_graph(LIB)


def test_no_call_circle():
    p, edges = graph()
    assert "payload.c" in edges and "payload_body.c" in edges, p.stdout + p.stderr
    assert p.returncode == 0 and "circles: none" in p.stdout, p.stdout


def test_shared_helpers_at_the_bottom():
    _, edges = graph()
    for f, allowed in BOTTOM.items():
        assert edges[f] <= allowed, (f, edges[f] - allowed)
    # every stage that warns or buffers calls down to them, none of them up
    for f, callees in edges.items():
        if f not in BOTTOM:
            assert not callees & {"payload.c"} or f == "payload_cli.c", f


def test_reply_and_classification_call_down_only():
    _, edges = graph()
    upper = {"payload.c", "payload_body.c", "payload_json.c", "payload_headers.c"}
    for f in ("payload_reply.c", "payload_classify.c", "payload_bounce.c",
              "payload_html2text.c"):
        assert not edges[f] & upper, (f, edges[f] & upper)
