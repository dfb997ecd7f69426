"""A real HTTP server on 127.0.0.1 for download tests: Range requests, faults, and the handful of
Hugging Face Hub endpoints huggingface_hub's download needs (see FACTS.md)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def commit_of(files: dict[str, bytes], repo: str = "") -> str:
    """The fake hub's commit id: a hash of the repository's content, so a push makes a new commit (as on the
    Hub) and a client's cache never serves a snapshot of other content under the same id."""
    digest = hashlib.sha1()
    for path in sorted(files):
        if path.startswith(f"/{repo}/resolve/"):
            digest.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
    return digest.hexdigest()


@dataclass
class Served:
    files: dict[str, bytes] = field(default_factory=dict)
    """URL path ('/models/x.pth' or '/ORG/REPO/resolve/main/file') → content."""
    truncate_once: dict[str, int] = field(default_factory=dict)
    """path → byte count after which the first GET is cut off."""
    faults: dict[str, str] = field(default_factory=dict)
    """path → what goes wrong on every GET: 'reset' (RST after half the bytes), 'stall' (half the
    bytes, then silence), 'trickle' (1 KiB every 0.2 s), 'long' (Content-Length beyond the body),
    'short' (Content-Length under the body), '503', 'ignore-range' (a Range request gets the whole
    file with 200)."""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    commits: list[list[dict[str, Any]]] = field(default_factory=list)
    """NDJSON lines of each commit received by the fake hub's /commit endpoint."""
    validated: list[str] = field(default_factory=list)
    """README texts huggingface_hub sent to /api/validate-yaml before committing."""
    git_files: set[str] = field(default_factory=set)
    """Hub paths ('/ORG/REPO/resolve/main/file') kept in git, not LFS: listed without a sha256."""
    card_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    """repo id → the model card's metadata the repo info returns (cardData), e.g. {'license': 'mit'}."""
    lfs_sha256: dict[str, str] = field(default_factory=dict)
    """Hub path → the sha256 the listing claims, where it should differ from the content's (a lying hub)."""


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
            self.send_header("X-Repo-Commit", commit_of(state.files, self.path.split("/resolve/")[0].lstrip("/")))
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

        def _api(self, path: str) -> bool:
            """The hub's read API that snapshot_download uses: repo info and the file tree."""
            rest = path.split("?")[0][len("/api/models/") :].split("/")
            if len(rest) < 4 or rest[2] not in ("revision", "tree"):
                return False
            repo = "/".join(rest[:2])
            prefix = f"/{repo}/resolve/main/"
            files = {k[len(prefix) :]: v for k, v in state.files.items() if k.startswith(prefix)}
            if not files:
                self._json({"error": f"Repository {repo} not found"}, 404)
            elif rest[2] == "revision":
                blobs = "blobs=true" in path.split("?", 1)[-1].lower()
                info: dict[str, Any] = {"id": repo, "sha": commit_of(state.files, repo),
                                        "siblings": [self._sibling(prefix, f, b, blobs) for f, b in sorted(files.items())]}  # fmt: skip
                if repo in state.card_data:
                    info["cardData"] = state.card_data[repo]
                self._json(info)
            else:
                self._json([{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                            for f, b in sorted(files.items())])  # fmt: skip
            return True

        def _sibling(self, prefix: str, name: str, body: bytes, blobs: bool) -> dict[str, Any]:
            """One file of the repo info; with ?blobs=true its size, git blob id and LFS sha256."""
            out: dict[str, Any] = {"rfilename": name}
            if blobs:
                out.update(size=len(body), blobId=hashlib.sha1(body).hexdigest())
                if prefix + name not in state.git_files:
                    sha = state.lfs_sha256.get(prefix + name, hashlib.sha256(body).hexdigest())
                    out["lfs"] = {"size": len(body), "sha256": sha, "pointerSize": 134}
            return out

        def do_GET(self) -> None:  # noqa: N802
            rng = self.headers.get("Range")
            state.requests.append(("GET", self.path, rng))
            if self.path.startswith("/api/models/") and self._api(self.path):
                return
            body = self._resolve()
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            fault = state.faults.get(self.path)
            if fault is not None and self._fault(fault, body, rng):
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

        def _fault(self, fault: str, body: bytes, rng: str | None) -> bool:
            """Serve ``fault``; False when it does not apply to this request."""
            import socket
            import struct
            import time

            if fault == "503":
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif fault == "ignore-range":
                if not rng:
                    return False
                self._headers(body, 200)
                self.wfile.write(body)
            elif fault in ("long", "short"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + 1000 if fault == "long" else len(body) // 2))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "reset":
                self._headers(body, 200)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            elif fault == "stall":
                self._headers(body, 200)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                time.sleep(5)
            elif fault == "slow":  # healthy, but slow enough for concurrent clients to overlap
                self._headers(body, 200)
                step = max(1, len(body) // 10)
                for i in range(0, len(body), step):
                    self.wfile.write(body[i : i + step])
                    self.wfile.flush()
                    time.sleep(0.15)
            elif fault == "trickle":
                self._headers(body, 200)
                for i in range(0, min(len(body), 40 * 1024), 1024):
                    self.wfile.write(body[i : i + 1024])
                    self.wfile.flush()
                    time.sleep(0.2)
            else:
                raise ValueError(fault)
            return True

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
                for line in lines:  # keep what was pushed, so it can be pulled back
                    if line.get("key") == "file":
                        value = line["value"]
                        state.files[f"/{repo}/resolve/main/{value['path']}"] = base64.b64decode(value["content"])
                oid = commit_of(state.files, repo)
                self._json({"commitUrl": f"http://{self.headers['Host']}/{repo}/commit/{oid}", "commitOid": oid})
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
