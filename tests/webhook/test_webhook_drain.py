"""SIGTERM while POSTs are in flight: every client hears its reply within drain_timeout.

smtp -> the smtp-gateway daemon -> the real webhook code -> webhook_sink.Sink.
A delivery still unanswered near the end of the drain is answered
451 4.3.2 (delivery not confirmed), counted and logged, instead of the
connection being closed under the client.
"""
import signal
import time

from test_webhook_e2e import Gateway
from test_webhook_memory import message
from webhook_sink import Action


def wait_requests(sink, n, seconds=20):
    deadline = time.monotonic() + seconds
    while len(sink.requests) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sink.requests) >= n


def test_drain_answers_posts_in_flight(gateway_bin, tmp_path, sink):
    # the app takes 8 s, longer than drain_timeout; the webhook timeout is 30 s
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\ndrain_timeout = "3s"\n')
    try:
        sink.default = Action(200, delay=8.0)
        conns = [g.send_no_wait(message(i, 2000)) for i in range(3)]
        wait_requests(sink, 3)
        t0 = time.monotonic()
        g.proc.send_signal(signal.SIGTERM)
        for c in conns:
            code, text = c.getreply()  # a closed connection raises here
            assert (code, text.decode()[:5]) == (451, "4.3.2")
            c.close()
        print(f"replies {time.monotonic() - t0:.2f} s after SIGTERM (drain_timeout 3 s)")
        g.proc.wait(timeout=20)
        log = g.log()
        assert "drain deadline: 3 deliveries answered 451 4.3.2" in log
    finally:
        g.stop()


def test_drain_lets_a_post_finish(gateway_bin, tmp_path, sink):
    g = Gateway(gateway_bin, tmp_path, sink.url("/inbound"),
                extra='[limits]\ndrain_timeout = "10s"\n')
    try:
        sink.default = Action(200, delay=1.0)
        c = g.send_no_wait(message(1, 2000))
        wait_requests(sink, 1)
        g.proc.send_signal(signal.SIGTERM)
        assert c.getreply()[0] == 250
        c.close()
        g.proc.wait(timeout=20)
        assert "drain deadline" not in g.log()
    finally:
        g.stop()
