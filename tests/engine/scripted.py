"""A raw HTTP/1.1 server on 127.0.0.1 that plays scripted byte sequences, for wire faults the fake
providers do not model (mid-body resets, keep-alive floods, silent peers, 2xx error bodies).

Each accepted request pops the next ``Script`` (the last one repeats). A script is a status line and
headers, then body steps: bytes to send, a pause, or a reset. ``Script.silent()`` accepts the
connection and never answers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Script:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    steps: list[bytes | float | None] = field(default_factory=list)  # bytes, pause (s), None = reset
    silent_s: float | None = None  # accept, then say nothing for this long

    @classmethod
    def silent(cls, seconds: float = 30.0) -> Script:
        return cls(silent_s=seconds)

    @classmethod
    def json(cls, body: bytes, status: int = 200) -> Script:
        headers = {"content-type": "application/json", "content-length": str(len(body))}
        return cls(status, headers, [body])

    @classmethod
    def sse(cls, *steps: bytes | float | None) -> Script:
        return cls(200, {"content-type": "text/event-stream"}, list(steps))


class ScriptedServer:
    def __init__(self, *scripts: Script) -> None:
        self.scripts = list(scripts)
        self.requests = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                if not _read_request(conn):
                    return
                script = self.scripts[min(self.requests, len(self.scripts) - 1)]
                self.requests += 1
                if not self._play(conn, script):
                    return

    def _play(self, conn: socket.socket, script: Script) -> bool:
        if script.silent_s is not None:
            self._stop.wait(script.silent_s)
            return False
        head = f"HTTP/1.1 {script.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in script.headers.items())
        if "content-length" not in script.headers:
            head += "connection: close\r\n"
        conn.sendall((head + "\r\n").encode())
        for step in script.steps:
            if step is None:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()
                return False
            if isinstance(step, float | int):
                time.sleep(step)
            else:
                conn.sendall(step)
        if "content-length" not in script.headers:
            conn.close()
            return False
        return True


def _read_request(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += conn.recv(65536)
    return True


def openai_chunk(text: str | None, finish: str | None = None, model: str = "scripted") -> bytes:
    import json

    delta = {"content": text} if text is not None else {}
    payload = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def anthropic_event(name: str, payload: dict[str, object]) -> bytes:
    import json

    return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode()
