"""A real HTTP server on 127.0.0.1 for download tests: Range requests, faults, and the handful of
Hugging Face Hub endpoints huggingface_hub's download needs (see FACTS.md)."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)
    """URL path ('/models/x.pth' or '/ORG/REPO/resolve/main/file') → content."""
    truncate_once: dict[str, int] = field(default_factory=dict)
    """path → byte count after which the first GET is cut off."""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    commits: list[list[dict[str, Any]]] = field(default_factory=list)
    """NDJSON lines of each commit received by the fake hub's /commit endpoint."""
    validated: list[str] = field(default_factory=list)
    """README texts huggingface_hub sent to /api/validate-yaml before committing."""


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _resolve(self) -> bytes | None:
            path = self.path.split("?")[0]
            if "/resolve/" in path:  # hub: any revision resolves to the served file
                org_repo, rest = path.split("/resolve/", 1)
                path = org_repo + "/resolve/main/" + rest.split("/", 1)[1]
            return state.files.get(path)

        def _headers(self, body: bytes, status: int, start: int = 0) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest() + '"')
            self.send_header("X-Repo-Commit", COMMIT)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()

        def do_HEAD(self) -> None:  # noqa: N802
            state.requests.append(("HEAD", self.path, self.headers.get("Range")))
            body = self._resolve()
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self._headers(body, 200)

        def do_GET(self) -> None:  # noqa: N802
            rng = self.headers.get("Range")
            state.requests.append(("GET", self.path, rng))
            body = self._resolve()
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            if start >= len(body) and rng:
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._headers(body, 206 if rng else 200, start)
            payload = body[start:]
            cut = state.truncate_once.pop(self.path, None)
            if cut is not None:
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(payload)

        def _json(self, payload: Any, status: int = 200) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - the hub's write endpoints, as huggingface_hub calls them
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            state.requests.append(("POST", self.path, None))
            path = self.path.split("?")[0]
            if path == "/api/repos/create":
                data = json.loads(raw or b"{}")
                self._json(
                    {
                        "url": f"http://{self.headers['Host']}/{data.get('organization')}/{data.get('name')}",
                        "name": data.get("name"),
                    }
                )
            elif path == "/api/validate-yaml":
                state.validated.append(json.loads(raw).get("content", ""))
                self._json({"errors": [], "warnings": []})
            elif "/preupload/" in path:
                files = json.loads(raw)["files"]
                self._json(
                    {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
                )
            elif "/commit/" in path:
                lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
                state.commits.append(lines)
                repo = path.split("/api/models/", 1)[1].split("/commit/", 1)[0]
                self._json({"commitUrl": f"http://{self.headers['Host']}/{repo}/commit/{COMMIT}", "commitOid": COMMIT})
            else:
                self._json({"error": f"not served: {path}"}, 404)

    return Handler


class LocalServer:
    def __init__(self, state: Served) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
