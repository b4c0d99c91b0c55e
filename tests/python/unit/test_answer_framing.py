"""How the client reads an answer's body, and sends its request again, when the server frames the answer oddly,
stalls in it or drops a kept connection: a real socket server that writes exactly the bytes each test gives."""
import json
import socket
import threading

import pytest
from openai_compatible import APIConnectionError, APITimeoutError, Client, ConnectionSettings, InvalidResponseError

KEY = "sk-unit-framing-0001"
HI = [{"role": "user", "content": "hello"}]
DROP = "drop"  # read the request, then close the connection without an answer


def answer(text: str = "hi", status: str = "200 OK") -> bytes:
    body = json.dumps({"id": "c1", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body)


class RawServer:
    """A server on 127.0.0.1 that gives the n-th request it reads (on whatever connection) the n-th of
    ``answers``: bytes to write (the connection kept for the next request), or :data:`DROP`. After the last
    answer it waits for ``release`` (so that a stall lasts until the test is done), then closes.
    ``requests``: each request's (head, body), in order."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[bytes, bytes]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(data) < length:
                    data += conn.recv(65536)
                body, data = data[:length], data[length:]
                with self._lock:
                    self.requests.append((head, body))
                    reply = self.answers.pop(0) if self.answers else None
                if reply is None or reply == DROP:
                    return
                try:
                    conn.sendall(reply)
                except OSError:
                    return  # the client stopped reading
                if not self.answers:
                    self.release.wait(30)
                    return

    def close(self) -> None:
        self.release.set()
        self.listener.close()


@pytest.fixture
def raw_server():
    servers = []

    def make(*answers):
        servers.append(RawServer(*answers))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def client_for(server, **changes):
    preset = {"style": "openai", "base_url": server.url, "models": ["m"], "api_key": KEY, "max_retries": 0,
              **changes}
    return Client(ConnectionSettings.from_preset(preset))


def chunked(data: bytes, piece: int = 65536) -> bytes:
    out = [b"%x\r\n%b\r\n" % (len(data[i:i + piece]), data[i:i + piece]) for i in range(0, len(data), piece)]
    return b"".join(out) + b"0\r\n\r\n"


def test_a_chunked_answer_that_also_declares_a_small_length_is_still_held_to_the_size_limit(raw_server):
    # Transfer-Encoding wins over a Content-Length sent beside it (RFC 9112, section 6.3:
    # https://www.rfc-editor.org/rfc/rfc9112#section-6.3): the body is as long as its chunks say, so the
    # declared length must not let it past the limit (an error body's is 1 MiB)
    body = b'{"error": {"message": "refused", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    head = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 40\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    server = raw_server(head + chunked(body))
    with pytest.raises(InvalidResponseError) as info:
        client_for(server).chat(HI, model="m")
    assert str(info.value) == "chat with 'm': the answer is larger than 1 MB; refusing to read it."


def test_an_answer_that_stalls_in_its_body_is_a_read_timeout_named_so(raw_server):
    whole = answer("a long answer")
    server = raw_server(whole[:len(whole) - 10])  # the head and most of the body, then nothing until released
    with pytest.raises(APITimeoutError) as info:
        client_for(server, read_timeout_s=0.3).chat(HI, model="m")
    assert str(info.value) == ("chat with 'm': the answer stalled past the read timeout (0.3s). Raise "
                               "'read_timeout_s' in the preset if the provider is slow.")


def test_a_kept_connection_the_server_drops_is_retried_on_a_new_one_with_the_whole_body(raw_server):
    server = raw_server(answer("first"), DROP, answer("second"))
    client = client_for(server, max_retries=1)
    assert client.chat(HI, model="m").text == "first"
    assert client.chat([{"role": "user", "content": "again"}], model="m").text == "second"
    dropped, retried = server.requests[1][1], server.requests[2][1]
    assert dropped == retried and json.loads(retried)["messages"] == [{"role": "user", "content": "again"}]


def test_a_kept_connection_the_server_drops_without_retries_left_is_a_connection_error(raw_server):
    server = raw_server(answer("first"), DROP)
    client = client_for(server)
    client.chat(HI, model="m")
    with pytest.raises(APIConnectionError):
        client.chat(HI, model="m")
