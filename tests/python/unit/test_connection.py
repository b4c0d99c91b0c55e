"""The transport's connections write a request's head and a body of known size together, and every other
request exactly as ``urllib3`` does: a real socket pair, each write recorded on its way."""
import socket
import threading
import time

import pytest
from openai_compatible.http.connection import MAX_JOINED_BODY, OneWriteHTTPConnection

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-unit-connection-0001"}


class RecordingSocket:
    """One end of a socket pair that keeps each ``sendall``'s bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.writes = []

    def sendall(self, data):
        self.writes.append(bytes(data))
        self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


class Peer:
    """The server's end: keeps every byte it receives (in a thread, so that a large write never blocks)."""

    def __init__(self, sock):
        self.sock = sock
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while chunk := self.sock.recv(65536):
            self.data += chunk

    def received(self, size):
        for _ in range(500):
            if len(self.data) >= size:
                return bytes(self.data)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.data)} of {size} bytes arrived")

    def answer(self, conn):
        """Sends an answer and reads it, so that the connection may carry the next request."""
        self.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        assert conn.getresponse().data == b"ok"


@pytest.fixture
def connection():
    near, far = socket.socketpair()
    conn = OneWriteHTTPConnection("api.example.com", 80)
    conn.sock = RecordingSocket(near)
    peer = Peer(far)
    yield conn, peer
    near.close()  # the reader sees the end of the stream and stops before its socket is closed under it
    peer.thread.join(timeout=10)
    far.close()


def test_a_body_of_known_size_leaves_with_its_head_in_one_write(connection):
    conn, peer = connection
    body = b'{"model": "m", "messages": []}'
    conn.request("POST", "/v1/chat/completions", body=body, headers=HEADERS)
    assert len(conn.sock.writes) == 1
    sent = conn.sock.writes[0]
    head, _, rest = sent.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head.split(b"\r\n")
    assert rest == body  # the body once, right after the head
    assert peer.received(len(sent)) == sent


def test_the_same_body_sent_again_on_the_kept_connection_goes_again(connection):
    conn, peer = connection
    body = b'{"same": "bytes object both times"}'
    for _ in range(2):
        conn.request("POST", "/v1/embeddings", body=body, headers=HEADERS)
        peer.answer(conn)
    assert [write.endswith(body) for write in conn.sock.writes] == [True, True]
    total = sum(map(len, conn.sock.writes))
    assert peer.received(total).count(body) == 2


def test_a_request_without_a_body_is_its_head_alone(connection):
    conn, _ = connection
    conn.request("GET", "/v1/models", headers=HEADERS)
    assert len(conn.sock.writes) == 1
    assert conn.sock.writes[0].endswith(b"\r\n\r\n")


def test_a_large_body_is_written_after_its_head_not_copied_into_it(connection):
    conn, peer = connection
    body = b"x" * (MAX_JOINED_BODY + 1)
    conn.request("POST", "/v1/embeddings", body=body, headers=HEADERS)
    assert [len(write) for write in conn.sock.writes][1:] == [len(body)]
    assert conn.sock.writes[0].endswith(b"\r\n\r\n")
    assert peer.received(len(conn.sock.writes[0]) + len(body)).endswith(body)


@pytest.mark.parametrize("how", ["chunked", "transfer-encoding header"])
def test_a_chunked_body_is_framed_and_written_as_urllib3_writes_it(connection, how):
    conn, _ = connection
    body = b'{"chunked": true}'
    if how == "chunked":
        conn.request("POST", "/v1/chat/completions", body=body, headers=HEADERS, chunked=True)
    else:
        conn.request("POST", "/v1/chat/completions", body=body, headers={**HEADERS, "Transfer-Encoding": "chunked"})
    writes = conn.sock.writes
    assert writes[0].endswith(b"\r\n\r\n") and b"Transfer-Encoding: chunked" in writes[0]
    assert writes[1:] == [b"%x\r\n%b\r\n" % (len(body), body), b"0\r\n\r\n"]


def test_a_request_refused_before_its_head_went_leaves_no_body_for_the_next_one(connection):
    conn, _ = connection
    with pytest.raises(ValueError):  # a header value HTTP does not allow: refused before anything is written
        conn.request("POST", "/v1/chat/completions", body=b'{"first": 1}', headers={"X-Bad": "a\r\nb"})
    conn.close()  # the connection opens again for the next request (here, on a new socket pair)
    near, far = socket.socketpair()
    try:
        conn.sock = RecordingSocket(near)
        conn.request("GET", "/v1/models", headers=HEADERS)
        assert conn.sock.writes[0].endswith(b"\r\n\r\n")
    finally:
        near.close()
        far.close()
