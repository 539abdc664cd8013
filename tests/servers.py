"""Real local SMTP and HTTP servers on 127.0.0.1 that record what they receive."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RecordingSmtp:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages = []
        self.envelope_recipients = []  # per message, the RCPT TO addresses (To and Cc)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelope_recipients.append(sorted(envelope.rcpt_tos))
        return "250 OK"

    def start(self) -> RecordingSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class RecordingWebhook:
    def __init__(self):
        self.payloads = []
        self.failing = False
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's hook name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if recorder.failing:
                    self.send_response(503)
                else:
                    recorder.payloads.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecordingWebhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
