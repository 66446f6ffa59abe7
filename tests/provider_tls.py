"""Outside services reached at their real host names, as Authgear's end-to-end tests reach them: the
app's requests go through E2E_HTTP_PROXY (the CONNECT proxy here) to one TLS server of the test whose
certificate for every host is signed by a test CA given as E2E_TLS_CA_CERT_FILE. Used by the stand-ins
of the OAuth providers (tests/sso) and of the message providers (tests/messaging)."""

from __future__ import annotations

import datetime as dt
import select
import socket
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certs(folder: Path, hosts: list[str], ca_common_name: str = "Gatehouse test CA") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for every host; returns (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        server: Any = self.server
        server.seen.append(target)
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", server.tls_port))
        self.request.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        pair = [self.request, upstream]
        try:
            while True:
                readable, _, _ = select.select(pair, [], [], 30)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.request else self.request).sendall(data)
        finally:
            upstream.close()


class ConnectProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy that tunnels every host to the test's TLS server on `tls_port`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.tls_port = tls_port
        self.seen: list[str] = []  # CONNECT targets, for asserting that requests went through it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProviderServers:
    """One TLS server answering for every provider host, and the CONNECT proxy in front of it; the
    stand-ins subclass it and call `serve` with their request handler."""

    httpd: ThreadingHTTPServer
    proxy: ConnectProxy

    def serve(self, handler: type[BaseHTTPRequestHandler], cert: Path, key: Path) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        # A client that gave up (the timeout tests) is not the stand-in's error.
        self.httpd.handle_error = lambda *_: None  # type: ignore[method-assign]
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.proxy = ConnectProxy(self.httpd.server_address[1])
        for target in (self.httpd.serve_forever, self.proxy.serve_forever):
            threading.Thread(target=target, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.proxy.shutdown()
        self.httpd.server_close()
        self.proxy.server_close()
