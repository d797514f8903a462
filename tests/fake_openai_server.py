"""A FAKE OpenAI-compatible chat server for tests only, on 127.0.0.1, with injectable faults.

Each request's fate comes from ``plan(n)`` (n = request number) or, by default, from a seeded random
draw with ``fault_rate``: 429 with Retry-After, 500, a timeout (no answer in time), a dropped
connection, or a truncated JSON body. A good answer echoes the last user message.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("429", "500", "timeout", "drop", "truncated")


class FakeOpenAIServer:
    def __init__(self, fault_rate: float = 0.0, seed: int = 0, latency_s: float = 0.0, timeout_sleep_s: float = 2.0,
                 plan=None, responder=None) -> None:  # fmt: skip
        self.fault_rate, self.latency_s, self.timeout_sleep_s = fault_rate, latency_s, timeout_sleep_s
        self.plan = plan
        self.responder = responder  # messages → reply text (or {"content", "logprobs"}); default: echo
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every request: headers, body, fate, time
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as real servers (uvicorn, vLLM) set it: with Nagle on, the body written after the
            # headers waits for the client's delayed ACK, adding about 40 ms to every call
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    server.requests.append(
                        {"headers": dict(self.headers), "body": body, "fate": "404", "t": time.time()}
                    )
                    return self._send(404, b'{"error": "no such route"}')
                with server.lock:
                    n = len(server.requests)
                    fate = (
                        server.plan(n)
                        if server.plan
                        else (server.rng.choice(FAULTS) if server.rng.random() < server.fault_rate else "ok")
                    )
                    server.requests.append(
                        {"headers": dict(self.headers), "body": body, "fate": fate, "t": time.time()}
                    )
                if server.latency_s:
                    time.sleep(server.latency_s)
                if fate == "429":
                    return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0.05"})
                if fate == "500":
                    return self._send(500, b'{"error": "boom"}')
                if fate == "429ms":  # the wait in milliseconds, as the OpenAI API says it
                    return self._send(429, b'{"error": "slow down"}', {"retry-after-ms": "300", "Retry-After": "0"})
                if fate == "400retry":  # a status that is not transient, with the server's word that it is
                    return self._send(400, b'{"error": "try again"}', {"x-should-retry": "true"})
                if fate == "503final":  # a transient status, with the server's word that it is final
                    return self._send(503, b'{"error": "gone"}', {"x-should-retry": "false"})
                if fate == "timeout":
                    time.sleep(server.timeout_sleep_s)
                    return self._send(200, server.answer(body))
                if fate == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return None
                data = server.answer(body)
                if fate == "truncated":
                    data = data[: len(data) // 2]
                return self._send(200, data)

            def _send(self, status: int, data: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # socketserver's 5 drops the SYNs of a burst of connections: a 1 s retry

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, body: dict) -> bytes:
        prompt = body["messages"][-1]["content"]
        content = self.responder(body["messages"]) if self.responder else f"echo: {prompt}"
        choice = {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        if isinstance(content, dict):  # a responder may script token log-probabilities too
            choice["message"]["content"] = content["content"]
            if body.get("logprobs"):
                choice["logprobs"] = {"content": content["logprobs"]}
        reply = {
            "choices": [choice],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(prompt.split()) + 1},
            "model": body["model"],
        }
        return json.dumps(reply).encode()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
