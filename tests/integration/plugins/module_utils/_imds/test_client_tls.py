"""An https endpoint: answers are read, and total_timeout bounds a trickling TLS answer too.

The server is a throw-away CA's certificate on 127.0.0.1 (tests/utils/servers/pki.py);
SSL_CERT_FILE makes the client's default TLS context trust that CA alone.
"""
import os
import socket
import ssl
import sys
import threading

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "utils"))

from servers.pki import make_pki  # noqa: E402

from ansible_collections.cloudmeta.imds.plugins.module_utils._imds.errors import ImdsDeadlineError  # noqa: E402

TOKEN = b"AQAAAFAKE=="


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """tls_server(trickle) -> URL of a TLS IMDS stand-in; trickle=True sends headers a byte at a time."""
    pki = make_pki(str(tmp_path / "pki"))
    monkeypatch.setenv("SSL_CERT_FILE", pki["ca"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()
    state = {}

    def serve():
        while not stop.is_set():
            try:
                raw, _address = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as connection:
                    request = connection.recv(65536)
                    if request.startswith(b"PUT"):
                        body = TOKEN
                    elif state["trickle"]:
                        connection.sendall(b"HTTP/1.1 200 OK\r\n")
                        while not stop.wait(0.2):
                            connection.sendall(b"X")
                        return
                    else:
                        body = b"i-0123456789abcdef0"
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                                       % (len(body), body))
            except OSError:
                continue

    def _start(trickle):
        state["trickle"] = trickle
        threading.Thread(target=serve, daemon=True).start()
        return "https://127.0.0.1:%d" % listener.getsockname()[1]

    yield _start
    stop.set()
    listener.close()


def test_an_https_endpoint_is_read(tls_server, make_client):
    client = make_client(tls_server(trickle=False))
    assert client.get_text("meta-data/instance-id") == "i-0123456789abcdef0"


def test_a_trickling_https_answer_stops_at_the_deadline(tls_server, make_client):
    client = make_client(tls_server(trickle=True), timeout=1, total_timeout=1.5, retries=0)
    with pytest.raises(ImdsDeadlineError, match=r"total_timeout \(1.5 s\)"):
        client.get("meta-data/instance-id")
