"""The library against a stand-in relay: the hand-off, both roles, half-close, and every way
the relay or the peer can fail (see standin_relay.py for why a stand-in)."""
import concurrent.futures
import json
import os
import socket
import tempfile
import time
import unittest
import unittest.mock

import frelay_party as fp

from .pki import CAN_MAKE_CERTS, Site, require_openssl
from .standin_relay import StandInRelay

site = None


def setUpModule():
    global site
    if CAN_MAKE_CERTS:
        site = Site()


def tearDownModule():
    if site:
        site.cleanup()


def _exchange_read(conn):
    """The peer's data, to its end."""
    parts = []
    while True:
        data = conn.recv(65536)
        if not data:
            return b"".join(parts)
        parts.append(data)


def _exchange(conn, payload):
    """Send ``payload``, half-close, read the peer's data to its end."""
    conn.sendall(payload)
    conn.shutdown(socket.SHUT_WR)
    return _exchange_read(conn)


@require_openssl
class HandOff(unittest.TestCase):
    def setUp(self):
        self.relay = StandInRelay(site.relay, site.relay_ca[0])
        self.pool = concurrent.futures.ThreadPoolExecutor(4)

    def tearDown(self):
        self.pool.shutdown(wait=False)
        self.relay.close()

    def party(self, identity, dest, timeout=30.0, **over):
        return fp.connect(timeout=timeout, env={}, **site.settings_args(identity, dest, self.relay.port, **over))

    def pair(self, waiter=("0.user1", "1.user1"), late=("1.user1", "0.user1"), **late_over):
        first = self.pool.submit(self.party, *waiter)
        self.assertTrue(self.relay.someone_waits.wait(30), "the first party never reached the relay")
        second = self.pool.submit(self.party, *late, **late_over)
        return first, second

    def exchange_both_ways(self):
        a_data, b_data = os.urandom(300_001), os.urandom(70_000)
        first, second = self.pair()
        a, b = first.result(60), second.result(60)
        with a, b:
            got_b = self.pool.submit(_exchange, b, b_data)
            got_a = _exchange(a, a_data)
            self.assertEqual(got_a, b_data)
            self.assertEqual(got_b.result(60), a_data)
            self.assertEqual((a.mode, b.mode), (2, 1))
            self.assertEqual((a.peer, b.peer), ("1.user1", "0.user1"))

    def test_the_waiter_is_the_tls_client_the_late_party_the_server(self):
        self.exchange_both_ways()

    def test_peer_bytes_in_the_same_write_as_the_close_notify_are_kept(self):
        # The late party gets Mode 1, close_notify and the peer's ClientHello in one segment.
        self.relay.old_order = True
        self.exchange_both_ways()

    def test_the_request_is_the_flock_json(self):
        first = self.pool.submit(self.party, "0.user1", "1.user1", tag="job-7")
        self.assertTrue(self.relay.someone_waits.wait(30))
        self.assertEqual(self.relay.parties[0].raw_request, b'{"DestParty":"1.user1","Tag":"job-7"}')
        self.assertEqual(self.relay.parties[0].identity, "0.user1")
        self.pool.submit(self.party, "1.user1", "0.user1", tag="job-7").result(60).close()
        first.result(60).close()

    def test_half_close_then_the_answer_still_arrives_and_makefile_reads_lines(self):
        first, second = self.pair()
        a, b = first.result(60), second.result(60)
        with a, b:
            w = a.makefile("w", encoding="utf-8")
            w.write("question\n")
            w.close()
            a.shutdown(socket.SHUT_WR)
            r = b.makefile("r", encoding="utf-8")
            self.assertEqual(r.readline(), "question\n")
            self.assertEqual(r.readline(), "")  # the peer's close_notify: end of stream
            b.sendall(b"answer after the peer stopped sending")
            b.close()
            self.assertNotEqual(b.fileno(), -1, "a file made by makefile() keeps the connection open, as with a socket")
            r.close()  # the last reference: now the connection closes (close_notify, FIN)
            self.assertEqual(b.fileno(), -1)
            self.assertEqual(a.recv(1000), b"answer after the peer stopped sending")
            self.assertEqual(a.recv(1000), b"")
            with self.assertRaises(BrokenPipeError):
                a.sendall(b"more")
        self.assertTrue(a.closed)
        with self.assertRaises(OSError):
            a.recv(1)

    def test_half_close_with_the_peers_data_already_received_keeps_that_data(self):
        # Regression: SSLObject.unwrap() calls SSL_shutdown twice, and the second call reads on:
        # an application record already received then broke the connection (and sent the peer
        # an alert instead of close_notify). The library now takes such data out first.
        payload = os.urandom(100_000)
        first, second = self.pair()
        a, b = first.result(60), second.result(60)
        with a, b:
            a.sendall(payload)
            a.shutdown(socket.SHUT_WR)
            for _ in range(600):  # until most of it has reached b's socket (bounded: 60 s)
                if len(b._sock.recv(200_000, socket.MSG_PEEK)) >= 90_000:
                    break
                time.sleep(0.1)
            head = b.recv(10)  # pulls many records into b's TLS; one is read
            b.shutdown(socket.SHUT_WR)
            rest = _exchange_read(b)
            self.assertEqual(head + rest, payload)
            self.assertEqual(_exchange_read(a), b"")  # a clean end for the peer, not an alert

    def test_a_request_and_its_answer_through_one_read_write_file(self):
        # The README's function: one line out, one line back, no half-close (so it works
        # through the original Flock relay too, which ends both directions on the first FIN).
        first, second = self.pair()
        with first.result(60) as a, second.result(60) as b, a.makefile("rwb") as fa, b.makefile("rwb") as fb:
            fa.write(b'{"n": 20}\n')
            fa.flush()
            n = json.loads(fb.readline())["n"]
            fb.write(json.dumps({"sum": n * (n + 1) // 2}).encode() + b"\n")
            fb.flush()
            self.assertEqual(json.loads(fa.readline()), {"sum": 210})

    def test_the_readme_function_works_as_written(self):
        readme = os.path.join(os.path.dirname(__file__), "..", "README.md")
        with open(readme) as f:
            code = f.read().split("```python\n", 1)[1].split("```", 1)[0]
        scope = {}
        exec(code, scope)  # noqa: S102 - the documented example, run as a user would paste it
        env = {k.upper(): v for k, v in site.settings_args("0.user1", "", self.relay.port).items()}

        def worker():
            with self.party("1.user1", "0.user1") as conn, conn.makefile("rwb") as f:
                numbers = json.loads(f.readline())
                f.write(json.dumps(sum(numbers)).encode() + b"\n")
                f.flush()

        answered = self.pool.submit(worker)
        self.assertTrue(self.relay.someone_waits.wait(30))
        with unittest.mock.patch.dict(os.environ, env):
            result = scope["handler"]({"worker": "1.user1", "job": "", "payload": [1, 2, 3]}, None)
        answered.result(60)
        self.assertEqual(result, {"result": 6})

    def test_connect_leaves_its_timeout_on_the_connection(self):
        first, second = self.pair()
        a, b = first.result(60), second.result(60)
        with a, b:
            self.assertEqual(a.gettimeout(), 30.0)
            a.settimeout(0.2)
            with self.assertRaises(socket.timeout):
                a.recv(10)  # the peer sends nothing

    def test_a_peer_from_another_user_ca_is_rejected(self):
        for late_is_impostor in (True, False):
            with self.subTest(late_is_impostor=late_is_impostor):
                self.relay.waiting = None
                self.relay.someone_waits.clear()
                cert, key = site.impostor
                if late_is_impostor:  # the waiter (TLS client) sees a server it must not trust
                    first, second = self.pair(late=("1.user1", "0.user1"), party_cert=cert, party_key=key)
                    honest, impostor = first, second
                else:  # the late party (TLS server) sees a client it must not trust
                    first = self.pool.submit(self.party, "1.user1", "0.user1", party_cert=cert, party_key=key)
                    self.assertTrue(self.relay.someone_waits.wait(30))
                    honest, impostor = self.pool.submit(self.party, "0.user1", "1.user1"), first
                with self.assertRaisesRegex(fp.PeerError, r"1\.user1"):
                    honest.result(60)
                try:
                    impostor.result(60).close()
                except fp.FrelayError:
                    pass

    def test_a_peer_with_another_name_is_rejected_in_both_roles(self):
        # 2.user1 answers where 1.user1 was asked for (a relay that pairs wrongly).
        for dest_asker_waits in (True, False):
            with self.subTest(dest_asker_waits=dest_asker_waits):
                self.relay.waiting = None
                self.relay.someone_waits.clear()
                asker = ("0.user1", "1.user1")
                other = ("2.user1", "0.user1")
                first, second = self.pair(waiter=asker, late=other) if dest_asker_waits else self.pair(waiter=other, late=asker)
                fooled = first if dest_asker_waits else second
                with self.assertRaisesRegex(fp.PeerError, r"end-to-end peer is not 1\.user1"):
                    fooled.result(60)
                try:
                    (second if dest_asker_waits else first).result(60).close()
                except fp.FrelayError:
                    pass


@require_openssl
class RelayFailures(unittest.TestCase):
    def start(self, behaviour=None, cert=None):
        self.relay = StandInRelay(cert or site.relay, site.relay_ca[0], behaviour)
        self.addCleanup(self.relay.close)

    def connect(self, timeout=30.0, **over):
        return fp.connect(timeout=timeout, env={}, **site.settings_args("0.user1", "1.user1", self.relay.port, **over))

    def test_refusals_are_typed_with_the_relays_code_and_reason(self):
        for code, cls in ((400, fp.BadRequest), (403, fp.NoRoute), (408, fp.PairTimeout), (429, fp.TooManyWaiting), (503, fp.RelayUnavailable), (418, fp.RelayRefused)):
            with self.subTest(code=code):
                self.start(lambda relay, party, code=code: party.refuse(code, f"reason {code}"))
                with self.assertRaises(fp.RelayRefused) as cm:
                    self.connect()
                self.assertIs(type(cm.exception), cls)
                self.assertEqual((cm.exception.code, cm.exception.reason), (code, f"reason {code}"))

    def test_a_silent_relay_is_bounded_by_the_timeout(self):
        self.start(lambda relay, party: None)  # reads the request, never answers
        t0 = time.monotonic()
        with self.assertRaisesRegex(fp.ConnectTimeout, r"the pairing with 1\.user1 did not finish within 3s"):
            self.connect(timeout=3)
        self.assertLess(time.monotonic() - t0, 8)

    def test_a_hang_up_without_a_reply(self):
        self.start(lambda relay, party: party.sock.close())
        with self.assertRaisesRegex(fp.RelayProtocolError, "closed the connection without a reply"):
            self.connect()

    def test_paired_but_no_close_notify(self):
        def reply_then_fin(relay, party):
            party.reply({"Mode": 1}, close_notify=False)
            party.sock.shutdown(socket.SHUT_WR)

        self.start(reply_then_fin)
        with self.assertRaisesRegex(fp.RelayProtocolError, "closed the connection right after pairing"):
            self.connect()

    def test_not_json(self):
        self.start(lambda relay, party: party.reply([1]))
        with self.assertRaisesRegex(fp.RelayProtocolError, "unreadable reply"):
            self.connect()

    def test_a_relay_certificate_from_another_ca(self):
        self.start(cert=site.relay_foreign)
        with self.assertRaisesRegex(fp.RelayTLSError, "certificate rejected: .*RELAY_CA must be"):
            self.connect()

    def test_relay_names(self):
        # fr-adm's relay certificate names only "flockrelay": accepted as it is.
        self.start(cert=site.relay_flock_style)
        self.start_pairing_probe()
        # A certificate for another name: refused before the request, unless RELAY_NAME says so.
        self.start(cert=site.relay_other_name)
        with self.assertRaisesRegex(fp.RelayTLSError, r"names relay\.example\.org, not flockrelay or frelay \(set RELAY_NAME"):
            self.connect()
        self.assertEqual(self.relay.parties, [])  # no request was sent
        self.start_pairing_probe(relay_name="relay.example.org")

    def start_pairing_probe(self, **over):
        """Connects with ``over`` and checks that the relay got the request (a 403 comes back)."""
        self.relay.behaviour = lambda relay, party: party.refuse(403, "probe")
        with self.assertRaises(fp.NoRoute):
            self.connect(**over)
        self.assertEqual(len(self.relay.parties), 1)

    def test_an_unreachable_relay(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaisesRegex(fp.RelayUnreachable, f"cannot reach relay 127.0.0.1:{port}"):
            fp.connect(timeout=5, env={}, **site.settings_args("0.user1", "1.user1", port))

    def test_mismatched_key(self):
        self.start()
        with self.assertRaisesRegex(fp.SettingsError, "PARTY_KEY is not the key of PARTY_CERT"):
            self.connect(party_key=site.party_certs["1.user1"][1])

    def test_pem_text_is_accepted_and_its_key_copy_is_private_and_removed(self):
        self.start(lambda relay, party: party.refuse(403, "probe"))
        texts = {k: _read(v) for k, v in site.settings_args("0.user1", "1.user1", 1).items() if k.endswith(("_ca", "_cert", "_key"))}
        before = _key_copies()
        with self.assertRaises(fp.NoRoute):
            self.connect(**texts)
        self.assertEqual(_key_copies() - before, set())


def _tmp():
    return tempfile.gettempdir()


def _key_copies():
    # Only the library's own copies: other programs (the test suite runs files in parallel)
    # create and remove their own temporary files meanwhile.
    return {f for f in os.listdir(_tmp()) if f.startswith("frelay-party-")}


def _read(path):
    with open(path) as f:
        return f.read()


if __name__ == "__main__":
    unittest.main()
