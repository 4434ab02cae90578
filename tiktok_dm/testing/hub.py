"""A loopback stand-in of the Hugging Face Hub HTTP API, for tests that run the real ``huggingface_hub`` and
``datasets`` clients, unpatched, against ``HF_ENDPOINT=http://127.0.0.1:PORT``.

Start it with ``serve_hub(storage)``; point the clients at it with the environment of a new process (both libraries
read ``HF_ENDPOINT`` when they are imported): ``HF_ENDPOINT=hub.url``, ``HF_TOKEN=hub.token`` and
``HF_HUB_DISABLE_XET=1`` (uploads then take the classic Git LFS batch protocol, the only one served here).

What it serves (``{t}`` is ``datasets``, ``models`` or ``spaces``; ``{p}`` the file URL prefix: ``datasets/``,
``spaces/`` or nothing for models; ``{repo}`` is always ``ORG/NAME``):

* ``GET /api/whoami-v2``, ``POST /api/validate-yaml`` (accepts any front matter whose ``---`` fences close)
* ``POST /api/repos/create`` (409 with the ``url`` when it exists), ``DELETE /api/repos/delete``,
  ``PUT /api/{t}/{repo}/settings`` (``visibility``/``private``, ``gated``)
* ``GET /api/{t}/{repo}`` and ``GET /api/{t}/{repo}/revision/{rev}`` (repo info; ``blobs``, ``expand``)
* ``GET /api/{t}/{repo}/refs``, ``POST|DELETE /api/{t}/{repo}/tag/{rev-or-tag}``,
  ``POST|DELETE /api/{t}/{repo}/branch/{branch}``, ``GET /api/{t}/{repo}/commits/{rev}``
* ``GET /api/{t}/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``expand`` with ``lastCommit``; pages of 1000
  entries, 50 when expanded, chained by a ``Link: <...>; rel="next"`` header),
  ``POST /api/{t}/{repo}/paths-info/{rev}`` (form or JSON body)
* ``POST /api/{t}/{repo}/preupload/{rev}`` (``uploadMode`` ``lfs`` for files of 10 MiB or more, binary samples and
  data/media suffixes such as ``.parquet``; ``regular`` otherwise; ``oid`` of the file already at that path, so the
  client drops unchanged files), ``POST /api/{t}/{repo}/commit/{branch}`` (the ndjson payload: ``header``, ``file``
  with base64 content, ``lfsFile``, ``deletedFile``, ``deletedFolder``; a commit equal to its parent is accepted)
* ``POST /{p}{repo}.git/info/lfs/objects/batch`` (basic transfer; objects already stored get no ``actions``, so
  nothing is uploaded again), ``PUT /lfs-upload/{t}/{repo}/{sha256}?size=&sig=`` (the signed upload URL the batch
  answer hands out; the PUT carries no token, as an S3 one would not), ``POST /{p}{repo}.git/info/lfs/objects/verify``
* ``HEAD|GET /{p}{repo}/resolve/{rev}/{path}`` (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``/``X-Linked-Size`` for
  LFS files, ``Content-Length``, single byte ``Range`` requests answered 206, 416 past the end; no redirects)

Revisions: branch names, tag names, ``refs/heads/X``, ``refs/tags/X`` and full 40-hex commit oids. Write endpoints
and private repositories need ``Authorization: Bearer <token>`` (401 otherwise; a wrong token is a 401 anywhere);
a gated repository's files need it too (401 ``GatedRepo``), its metadata does not. Errors are JSON
``{"error": "..."}`` with the ``X-Error-Code`` the client maps to its exceptions (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``, ``GatedRepo``).

Storage under ``storage``: ``blobs/`` (file contents by sha256, shared by every repository) and
``repos/{type}/{org}/{name}/`` (``repo.json``: visibility, branches, tags; ``commits/{oid}.json``: parents, message,
date and the whole tree, path -> sha256/size/lfs/git oid). A new repository starts with one empty commit on ``main``
(the real Hub's first commit adds a ``.gitattributes``).

What it does not serve: Xet storage, pull requests (``create_pr``, ``refs/pr/N``), ``refs/convert/parquet`` and the
dataset viewer, the gated access request flow (the token's owner owns every repository; there is no other user),
multipart LFS uploads, ``.gitattributes``/``.gitignore`` semantics (``shouldIgnore`` is always false), ``cardData``
parsed from the README (standard library only: no YAML parser), file copies between repositories (``lfs-files``),
super-squash, discussions, Spaces runtimes, search and listing of repositories.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import hashlib
import hmac
import http.server
import io
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

log = logging.getLogger(__name__)

KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}  # API path segment -> repo type
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}  # repo type -> file URL prefix
LFS_MIN_SIZE = 10 * 1024 * 1024
LFS_SUFFIXES = (
    ".parquet", ".arrow", ".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".pkl", ".h5", ".onnx",
    ".zip", ".gz", ".tar", ".zst", ".7z", ".mp4", ".webm", ".mkv", ".mov", ".wav", ".mp3", ".flac", ".ogg", ".m4a",
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".pdf",
)
TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
CHUNK = 1 << 20
USER = "loopback"
_COMMIT_OID = re.compile(r"[0-9a-f]{40}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,95}")
_REF_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")


class HubError(Exception):
    """An error answer: status, message (the JSON ``error``) and the ``X-Error-Code`` the client reads."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers


@dataclasses.dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    file: tuple[Path, int, int] | None = None  # (blob, start, length): streamed instead of body


def _json(obj: Any, status: int = 200, content_type: str = "application/json",
          headers: list[tuple[str, str]] | None = None) -> _Response:
    return _Response(status, json.dumps(obj).encode(), [("Content-Type", content_type), *(headers or [])])


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[-1].lower() in ("1", "true", "yes")


def _repo_path(path: str) -> str:
    """A path in a repository, checked (400 for an absolute one, '..', empty parts or .git)."""
    parts = path.split("/")
    if not path or any(part in ("", ".", "..") for part in parts) or parts[0] == ".git":
        raise HubError(400, f"invalid path in repository: {path!r}")
    return path


def _chunked(rfile: io.BufferedIOBase) -> Iterator[bytes]:
    """The data of a ``Transfer-Encoding: chunked`` request body."""
    while True:
        size = int(rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return
        remaining = size
        while remaining:
            data = rfile.read(min(CHUNK, remaining))
            if not data:
                raise HubError(400, "truncated chunked body")
            remaining -= len(data)
            yield data
        rfile.readline()


class _Request:
    """One request: method, raw path, query, headers, the route's captured parts, and its body, read once."""

    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
                 rfile: io.BufferedIOBase):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.params: dict[str, str] = {}
        self._rfile = rfile
        self._length = int(headers.get("Content-Length") or 0)
        self._chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.consumed = not (self._length or self._chunked)

    @property
    def token(self) -> str | None:
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def chunks(self) -> Iterator[bytes]:
        if self.consumed:
            return
        self.consumed = True
        if self._chunked:
            yield from _chunked(self._rfile)
            return
        remaining = self._length
        while remaining:
            data = self._rfile.read(min(CHUNK, remaining))
            if not data:
                raise HubError(400, "truncated body")
            remaining -= len(data)
            yield data

    def body(self) -> bytes:
        return b"".join(self.chunks())

    def json(self) -> Any:
        try:
            return json.loads(self.body() or b"{}")
        except ValueError as error:
            raise HubError(400, f"the body is not JSON: {error}") from None


class _Store:
    """Blobs by sha256 and repositories (refs, commits) as JSON files under one folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        for sub in ("blobs", "repos", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._commits: dict[tuple[str, str, str], dict] = {}

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        path = self.blob_path(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def put_stream(self, chunks: Iterator[bytes]) -> tuple[str, int, bytes]:
        """Store a body; returns its sha256, size and first 512 bytes."""
        digest, size, head = hashlib.sha256(), 0, b""
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                for data in chunks:
                    digest.update(data)
                    if len(head) < 512:
                        head += data[: 512 - len(head)]
                    size += len(data)
                    out.write(data)
            sha256 = digest.hexdigest()
            target = self.blob_path(sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256, size, head

    def put_bytes(self, data: bytes) -> str:
        return self.put_stream(iter([data]))[0]

    def read_blob(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    def repo_dir(self, kind: str, repo_id: str) -> Path:
        return self.root / "repos" / kind / repo_id

    def load_repo(self, kind: str, repo_id: str) -> dict | None:
        path = self.repo_dir(kind, repo_id) / "repo.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save_repo(self, kind: str, repo_id: str, meta: dict) -> None:
        self._write_json(self.repo_dir(kind, repo_id) / "repo.json", meta)

    def delete_repo(self, kind: str, repo_id: str) -> None:
        shutil.rmtree(self.repo_dir(kind, repo_id))
        self._commits = {key: value for key, value in self._commits.items() if key[:2] != (kind, repo_id)}

    def load_commit(self, kind: str, repo_id: str, oid: str) -> dict | None:
        key = (kind, repo_id, oid)
        if key not in self._commits:
            path = self.repo_dir(kind, repo_id) / "commits" / f"{oid}.json"
            if not path.is_file():
                return None
            self._commits[key] = json.loads(path.read_text())
        return self._commits[key]

    def save_commit(self, kind: str, repo_id: str, commit: dict) -> None:
        self._write_json(self.repo_dir(kind, repo_id) / "commits" / f"{commit['oid']}.json", commit)
        self._commits[(kind, repo_id, commit["oid"])] = commit

    @staticmethod
    def _write_json(path: Path, obj: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
        os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class _Repo:
    kind: str  # model, dataset, space
    repo_id: str
    meta: dict

    @property
    def prefix(self) -> str:
        return URL_PREFIXES[self.kind] + self.repo_id


def _upload_mode(path: str, size: int, sample: bytes) -> str:
    if size == 0:
        return "regular"
    if size >= LFS_MIN_SIZE or path.lower().endswith(LFS_SUFFIXES) or b"\0" in sample:
        return "lfs"
    return "regular"


def _under(tree: dict[str, dict], folder: str) -> list[str]:
    """The files of a tree inside a folder ("" for the root), sorted."""
    return sorted(path for path in tree if not folder or path.startswith(folder + "/"))


def _folder_oid(tree: dict[str, dict], folder: str) -> str | None:
    files = _under(tree, folder)
    if not files:
        return None
    listing = [(path[len(folder) + 1:] if folder else path, tree[path]["oid"]) for path in files]
    return hashlib.sha1(json.dumps(listing).encode()).hexdigest()


def _signature(tree: dict[str, dict], path: str) -> str | None:
    """What a path is at a commit: its blob's oid, its folder's oid, or None."""
    entry = tree.get(path)
    return entry["oid"] if entry is not None else _folder_oid(tree, path)


def _listing(tree: dict[str, dict], folder: str, recursive: bool) -> list[tuple[str, str]]:
    """(path, "file"|"directory") inside a folder: its children, or everything below it when recursive."""
    out: dict[str, str] = {}
    for path in _under(tree, folder):
        rest = path[len(folder) + 1:] if folder else path
        parts = rest.split("/")
        depth = len(parts) if recursive else 1
        for i in range(1, min(depth, len(parts) - 1) + 1):
            out.setdefault("/".join(([folder] if folder else []) + parts[:i]), "directory")
        if recursive or len(parts) == 1:
            out[path] = "file"
    return sorted(out.items(), key=lambda item: (item[1] != "directory", item[0]))


class _Service:
    """The Hub's answers: one method per route, over a store, recording into the public ``LoopbackHub``."""

    def __init__(self, hub: LoopbackHub, store: _Store):
        self.hub = hub
        self.store = store
        self.lock = threading.RLock()
        self.secret = secrets.token_bytes(32)
        # (type, repo) -> [(path, size, sample)] announced by preupload: a PUT of LFS content is matched to its path
        self.announced: dict[tuple[str, str], list[tuple[str, int, bytes]]] = {}

    # -- access -------------------------------------------------------------------------------------------------

    def authorized(self, req: _Request) -> bool:
        """Whether the request carries the token (a wrong token is a 401, whatever the endpoint)."""
        if req.token is None:
            return False
        if not hmac.compare_digest(req.token, self.hub.token):
            raise HubError(401, "Invalid credentials in Authorization header",
                           headers=(("X-Error-Message", "Invalid credentials in Authorization header"),))
        return True

    def require_token(self, req: _Request) -> None:
        if not self.authorized(req):
            raise HubError(401, "this endpoint needs Authorization: Bearer <token>")

    def repo(self, req: _Request, write: bool = False) -> _Repo:
        kind = KINDS[req.params["t"]] if req.params.get("t") else self._kind_of_prefix(req.params.get("p"))
        repo_id = f"{req.params['org']}/{req.params['name']}"
        authorized = self.authorized(req)
        if write and not authorized:
            raise HubError(401, f"writing to {repo_id} needs Authorization: Bearer <token>")
        meta = self.store.load_repo(kind, repo_id)
        if meta is None:
            raise HubError(404, f"Repository not found: {kind} {repo_id}", "RepoNotFound")
        if meta.get("private") and not authorized:
            raise HubError(401, f"Repository not found: {repo_id} is private and no valid token was sent",
                           "RepoNotFound")
        return _Repo(kind, repo_id, meta)

    @staticmethod
    def _kind_of_prefix(prefix: str | None) -> str:
        return {"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model")

    # -- revisions and trees ----------------------------------------------------------------------------------

    def resolve(self, repo: _Repo, rev: str) -> str:
        """A branch, tag, refs/heads/X, refs/tags/X or commit oid -> commit oid (404 RevisionNotFound)."""
        branches, tags = repo.meta["branches"], repo.meta["tags"]
        if rev.startswith("refs/heads/") and rev[11:] in branches:
            return branches[rev[11:]]
        if rev.startswith("refs/tags/") and rev[10:] in tags:
            return tags[rev[10:]]
        if rev in branches:
            return branches[rev]
        if rev in tags:
            return tags[rev]
        if _COMMIT_OID.fullmatch(rev) and self.store.load_commit(repo.kind, repo.repo_id, rev) is not None:
            return rev
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def commit(self, repo: _Repo, oid: str) -> dict:
        commit = self.store.load_commit(repo.kind, repo.repo_id, oid)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {oid}", "RevisionNotFound")
        return commit

    def branch(self, repo: _Repo, rev: str) -> str:
        """The branch a write goes to (a tag or a commit oid cannot be written to)."""
        name = rev[11:] if rev.startswith("refs/heads/") else rev
        if name in repo.meta["branches"]:
            return name
        if rev.startswith("refs/pr/"):
            raise HubError(400, "pull requests are not served by the loopback Hub")
        self.resolve(repo, rev)  # 404 when unknown
        raise HubError(400, f"{rev} is not a branch: commits go to a branch")

    def last_commits(self, repo: _Repo, head: str, paths: list[str]) -> dict[str, dict]:
        """For each path, the oldest commit on the first-parent line from head since which it is unchanged."""
        commit = self.commit(repo, head)
        wanted = {path: _signature(commit["tree"], path) for path in paths}
        last = {path: commit for path in paths}
        pending = set(paths)
        while pending and commit["parents"]:
            commit = self.commit(repo, commit["parents"][0])
            for path in list(pending):
                if _signature(commit["tree"], path) == wanted[path]:
                    last[path] = commit
                else:
                    pending.discard(path)
        return {path: {"id": c["oid"], "title": c["title"], "date": c["date"]} for path, c in last.items()}

    def new_commit(self, repo: _Repo, parents: list[str], tree: dict[str, dict], title: str, message: str) -> dict:
        date = _now()
        seed = json.dumps([repo.kind, repo.repo_id, parents, tree, title, message, date, secrets.token_hex(8)])
        commit: dict[str, Any] = {"oid": hashlib.sha1(seed.encode()).hexdigest(), "parents": parents, "tree": tree,
                                  "title": title, "message": message, "date": date, "author": USER}
        self.store.save_commit(repo.kind, repo.repo_id, commit)
        self.hub.commits.append(commit["oid"])
        return commit

    def file_entry(self, path: str, entry: dict) -> dict:
        out: dict[str, Any] = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
        if entry["lfs"]:
            out["lfs"] = {"oid": entry["sha256"], "size": entry["size"],
                          "pointerSize": len(_lfs_pointer(entry["sha256"], entry["size"]))}
        return out

    def path_entries(self, repo: _Repo, oid: str, items: list[tuple[str, str]], expand: bool) -> list[dict]:
        tree = self.commit(repo, oid)["tree"]
        out: list[dict[str, Any]] = [self.file_entry(path, tree[path]) if kind == "file"
                                     else {"type": "directory", "oid": _folder_oid(tree, path), "size": 0, "path": path}
                                     for path, kind in items]
        if expand:
            last = self.last_commits(repo, oid, [path for path, _ in items])
            for entry in out:
                entry["lastCommit"] = last[entry["path"]]
        return out

    def files(self, kind: str, repo_id: str, revision: str) -> dict[str, bytes]:
        with self.lock:
            meta = self.store.load_repo(kind, repo_id)
            if meta is None:
                raise KeyError(f"no {kind} repository {repo_id}")
            repo = _Repo(kind, repo_id, meta)
            try:
                tree = self.commit(repo, self.resolve(repo, revision))["tree"]
            except HubError as error:
                raise KeyError(error.message) from None
        return {path: self.store.read_blob(entry["sha256"]) for path, entry in sorted(tree.items())}

    # -- account and repositories -------------------------------------------------------------------------------

    def whoami(self, req: _Request) -> _Response:
        self.require_token(req)
        return _json({"type": "user", "id": hashlib.sha1(USER.encode()).hexdigest()[:24], "name": USER,
                      "fullname": "Loopback Hub user", "email": None, "emailVerified": False, "isPro": False,
                      "orgs": [], "auth": {"type": "access_token",
                                           "accessToken": {"displayName": "loopback", "role": "write"}}})

    def validate_yaml(self, req: _Request) -> _Response:
        content = str(req.json().get("content", ""))
        lines = content.splitlines()
        if lines and lines[0].strip() == "---" and not any(line.strip() == "---" for line in lines[1:]):
            return _json({"errors": [{"message": "the YAML front matter is not closed by '---'"}], "warnings": []},
                         400)
        return _json({"errors": [], "warnings": []})

    def create_repo(self, req: _Request) -> _Response:
        self.require_token(req)
        payload = req.json()
        kind = payload.get("type") or "model"
        if kind not in URL_PREFIXES:
            raise HubError(400, f"unknown repository type {kind!r}")
        name, org = str(payload.get("name") or ""), str(payload.get("organization") or USER)
        if not (_NAME.fullmatch(name) and _NAME.fullmatch(org)) or ".." in name or name.endswith((".git", ".")):
            raise HubError(400, f"invalid repository name {org}/{name}")
        repo_id = f"{org}/{name}"
        url = f"{self.hub.url}/{URL_PREFIXES[kind]}{repo_id}"
        with self.lock:
            if self.store.load_repo(kind, repo_id) is not None:
                return _json({"error": f"You already created this {kind} repo", "url": url}, 409)
            private = payload.get("visibility") == "private" or payload.get("private") is True
            repo = _Repo(kind, repo_id, {"private": private, "gated": False, "createdAt": _now(),
                                         "branches": {}, "tags": {}})
            first = self.new_commit(repo, [], {}, "initial commit", "")
            repo.meta["branches"]["main"] = first["oid"]
            self.store.save_repo(kind, repo_id, repo.meta)
        return _json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self, req: _Request) -> _Response:
        payload = req.json()
        kind = payload.get("type") or "model"
        req.params.update(t=f"{kind}s", org=str(payload.get("organization") or USER), name=str(payload.get("name")))
        if req.params["t"] not in KINDS:
            raise HubError(400, f"unknown repository type {kind!r}")
        with self.lock:
            repo = self.repo(req, write=True)
            self.store.delete_repo(repo.kind, repo.repo_id)
        return _json({})

    def settings(self, req: _Request) -> _Response:
        payload = req.json()
        with self.lock:
            repo = self.repo(req, write=True)
            if "visibility" in payload:
                repo.meta["private"] = payload["visibility"] == "private"
            if "private" in payload:
                repo.meta["private"] = bool(payload["private"])
            if "gated" in payload:
                if payload["gated"] not in ("auto", "manual", False):
                    raise HubError(400, f"gated must be 'auto', 'manual' or false, not {payload['gated']!r}")
                repo.meta["gated"] = payload["gated"]
            self.store.save_repo(repo.kind, repo.repo_id, repo.meta)
        return _json({"private": repo.meta["private"], "gated": repo.meta["gated"]})

    def info(self, req: _Request) -> _Response:
        repo = self.repo(req)
        oid = self.resolve(repo, unquote(req.params.get("rev") or "main"))
        commit = self.commit(repo, oid)
        blobs = _flag(req.query, "blobs")
        siblings = []
        for path, entry in sorted(commit["tree"].items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if entry["lfs"]:
                    sibling["lfs"] = {"size": entry["size"], "sha256": entry["sha256"],
                                      "pointerSize": len(_lfs_pointer(entry["sha256"], entry["size"]))}
            siblings.append(sibling)
        data = {"_id": hashlib.sha1(f"{repo.kind}/{repo.repo_id}".encode()).hexdigest()[:24], "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0], "sha": oid, "lastModified": commit["date"],
                "createdAt": repo.meta["createdAt"], "private": repo.meta["private"], "gated": repo.meta["gated"],
                "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
                "usedStorage": sum(entry["size"] for entry in commit["tree"].values())}
        if repo.kind == "model":
            data["modelId"] = repo.repo_id
        expand = req.query.get("expand") or req.query.get("expand[]")
        if expand:
            data = {key: value for key, value in data.items() if key in expand or key in ("_id", "id")}
        return _json(data)

    # -- refs -------------------------------------------------------------------------------------------------

    def refs(self, req: _Request) -> _Response:
        repo = self.repo(req)

        def refs_of(table: str, prefix: str) -> list[dict]:
            return [{"name": name, "ref": f"{prefix}{name}", "targetCommit": oid}
                    for name, oid in sorted(repo.meta[table].items())]

        return _json({"branches": refs_of("branches", "refs/heads/"), "converts": [],
                      "tags": refs_of("tags", "refs/tags/"), "pullRequests": []})

    def create_tag(self, req: _Request) -> _Response:
        payload = req.json()
        tag = str(payload.get("tag") or "")
        if not _REF_NAME.fullmatch(tag) or ".." in tag or _COMMIT_OID.fullmatch(tag):
            raise HubError(400, f"invalid tag name {tag!r}")
        with self.lock:
            repo = self.repo(req, write=True)
            oid = self.resolve(repo, unquote(req.params["rev"]))
            if tag in repo.meta["tags"]:
                raise HubError(409, f"Tag {tag} already exists")
            repo.meta["tags"][tag] = oid
            self.store.save_repo(repo.kind, repo.repo_id, repo.meta)
        return _json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": oid})

    def delete_tag(self, req: _Request) -> _Response:
        tag = unquote(req.params["rev"])
        with self.lock:
            repo = self.repo(req, write=True)
            if repo.meta["tags"].pop(tag, None) is None:
                raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            self.store.save_repo(repo.kind, repo.repo_id, repo.meta)
        return _json({})

    def create_branch(self, req: _Request) -> _Response:
        branch = unquote(req.params["rev"])
        if not _REF_NAME.fullmatch(branch) or ".." in branch or branch.startswith("refs/"):
            raise HubError(400, f"invalid branch name {branch!r}")
        payload = req.json()
        with self.lock:
            repo = self.repo(req, write=True)
            oid = self.resolve(repo, str(payload.get("startingPoint") or "main"))
            if branch in repo.meta["branches"]:
                raise HubError(409, f"Branch {branch} already exists")
            repo.meta["branches"][branch] = oid
            self.store.save_repo(repo.kind, repo.repo_id, repo.meta)
        return _json({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": oid})

    def delete_branch(self, req: _Request) -> _Response:
        branch = unquote(req.params["rev"])
        with self.lock:
            repo = self.repo(req, write=True)
            if branch == "main":
                raise HubError(403, "the default branch cannot be deleted")
            if repo.meta["branches"].pop(branch, None) is None:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            self.store.save_repo(repo.kind, repo.repo_id, repo.meta)
        return _json({})

    def commits(self, req: _Request) -> _Response:
        repo = self.repo(req)
        oid: str | None = self.resolve(repo, unquote(req.params["rev"]))
        out = []
        while oid is not None:
            commit = self.commit(repo, oid)
            out.append({"id": oid, "title": commit["title"], "message": commit["message"], "date": commit["date"],
                        "authors": [{"user": commit.get("author", USER), "avatar": ""}]})
            oid = commit["parents"][0] if commit["parents"] else None
        return _json(out)

    # -- reading files ----------------------------------------------------------------------------------------

    def tree(self, req: _Request) -> _Response:
        repo = self.repo(req)
        oid = self.resolve(repo, unquote(req.params["rev"]))
        folder = unquote(req.params.get("path") or "").strip("/")
        recursive, expand = _flag(req.query, "recursive"), _flag(req.query, "expand")
        tree = self.commit(repo, oid)["tree"]
        if folder and (folder in tree or not _under(tree, folder)):
            raise HubError(404, f"{folder} is not a folder at {oid}", "EntryNotFound")
        items = _listing(tree, folder, recursive)
        cursor = int((req.query.get("cursor") or ["0"])[-1] or 0)
        size = self.hub.tree_page_size if not expand else min(self.hub.tree_page_size, TREE_PAGE_EXPANDED)
        page = items[cursor:cursor + size]
        headers = []
        if cursor + size < len(items):
            query = f"recursive={str(recursive).lower()}&expand={str(expand).lower()}&cursor={cursor + size}"
            headers.append(("Link", f'<{self.hub.url}{req.path}?{query}>; rel="next"'))
        return _json(self.path_entries(repo, oid, page, expand), headers=headers)

    def paths_info(self, req: _Request) -> _Response:
        repo = self.repo(req)
        oid = self.resolve(repo, unquote(req.params["rev"]))
        body = req.body()
        if "json" in (req.headers.get("Content-Type") or ""):
            payload = json.loads(body or b"{}")
            paths, expand = list(payload.get("paths") or []), bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), _flag(form, "expand")
        tree = self.commit(repo, oid)["tree"]
        items = []
        for path in dict.fromkeys(p.strip("/") for p in paths):
            if path in tree:
                items.append((path, "file"))
            elif path and _under(tree, path):
                items.append((path, "directory"))
        return _json(self.path_entries(repo, oid, items, expand))

    def resolve_file(self, req: _Request) -> _Response:
        repo = self.repo(req)
        if repo.meta.get("gated") and not self.authorized(req):
            raise HubError(401, f"Access to {repo.repo_id} is restricted: it is gated", "GatedRepo")
        oid = self.resolve(repo, unquote(req.params["rev"]))
        path = unquote(req.params["path"])
        entry = self.commit(repo, oid)["tree"].get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path} at {oid}", "EntryNotFound", (("X-Repo-Commit", oid),))
        size = entry["size"]
        etag = entry["sha256"] if entry["lfs"] else entry["oid"]
        headers = [("X-Repo-Commit", oid), ("ETag", f'"{etag}"'), ("Accept-Ranges", "bytes"),
                   ("Content-Type", "application/octet-stream"),
                   ("Content-Disposition", f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}; "
                                           f'filename="{path.rsplit("/", 1)[-1]}";')]
        if entry["lfs"]:
            headers += [("X-Linked-Etag", f'"{entry["sha256"]}"'), ("X-Linked-Size", str(size))]
        blob = self.store.blob_path(entry["sha256"])
        byte_range = _parse_range(req.headers.get("Range"), size)
        if byte_range is None:
            return _Response(200, headers=headers, file=(blob, 0, size))
        start, end = byte_range
        return _Response(206, headers=[*headers, ("Content-Range", f"bytes {start}-{end}/{size}")],
                         file=(blob, start, end - start + 1))

    # -- writing ----------------------------------------------------------------------------------------------

    def preupload(self, req: _Request) -> _Response:
        payload = req.json()
        if _flag(req.query, "create_pr"):
            raise HubError(400, "pull requests are not served by the loopback Hub")
        repo = self.repo(req, write=True)
        oid = self.resolve(repo, unquote(req.params["rev"]))
        tree = self.commit(repo, oid)["tree"]
        answers, announced = [], []
        for item in payload.get("files") or []:
            path, size = _repo_path(str(item.get("path"))), int(item.get("size") or 0)
            sample = base64.b64decode(item.get("sample") or "")
            mode = _upload_mode(path, size, sample)
            answers.append({"path": path, "uploadMode": mode, "shouldIgnore": False,
                            "oid": self._remote_oid(tree.get(path), mode)})
            if mode == "lfs":
                announced.append((path, size, sample))
        with self.lock:
            self.announced.setdefault((repo.kind, repo.repo_id), []).extend(announced)
        return _json({"files": answers, "commitOid": oid})

    def _remote_oid(self, entry: dict | None, mode: str) -> str | None:
        """The oid the client compares its local file to: sha256 for an LFS upload, the git blob oid otherwise."""
        if entry is None:
            return None
        if mode == "lfs":
            return entry["sha256"]
        return _git_oid(self.store.read_blob(entry["sha256"])) if entry["lfs"] else entry["oid"]

    def lfs_batch(self, req: _Request) -> _Response:
        payload = req.json()
        repo = self.repo(req, write=True)
        if payload.get("operation") != "upload":
            raise HubError(400, "only the 'upload' operation of the LFS batch API is served")
        if "basic" not in (payload.get("transfers") or ["basic"]):
            raise HubError(400, "only the 'basic' LFS transfer is served")
        objects = []
        for obj in payload.get("objects") or []:
            oid, size = str(obj.get("oid")), obj.get("size")
            if not re.fullmatch(r"[0-9a-f]{64}", oid) or not isinstance(size, int) or size < 0:
                objects.append({"oid": oid, "size": size if isinstance(size, int) else 0,
                                "error": {"code": 422, "message": "oid must be a sha256 and size an integer"}})
                continue
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not self.store.has_blob(oid, size):
                signature = self._sign(repo, oid, size)
                upload = (f"{self.hub.url}/lfs-upload/{repo.kind}s/{repo.repo_id}/{oid}"
                          f"?size={size}&sig={signature}")
                verify = f"{self.hub.url}/{repo.prefix}.git/info/lfs/objects/verify"
                answer["actions"] = {"upload": {"href": upload, "expires_in": 3600},
                                     "verify": {"href": verify, "expires_in": 3600}}
            objects.append(answer)
        return _json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                     content_type="application/vnd.git-lfs+json")

    def _sign(self, repo: _Repo, oid: str, size: int) -> str:
        message = f"{repo.kind}/{repo.repo_id}/{oid}/{size}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def lfs_upload(self, req: _Request) -> _Response:
        kind, repo_id, oid = KINDS[req.params["t"]], f"{req.params['org']}/{req.params['name']}", req.params["oid"]
        try:
            size = int((req.query.get("size") or [""])[-1])
        except ValueError:
            raise HubError(400, "the upload URL has no size") from None
        expected = self._sign(_Repo(kind, repo_id, {}), oid, size)
        if not hmac.compare_digest((req.query.get("sig") or [""])[-1], expected):
            raise HubError(403, "the upload URL's signature does not match")
        sha256, got, head = self.store.put_stream(req.chunks())
        if sha256 != oid or got != size:
            raise HubError(400, f"the content's sha256/size ({sha256}/{got}) is not the one announced ({oid}/{size})")
        with self.lock:
            self.hub.uploads.append(self._announced_path(kind, repo_id, size, head) or oid)
        return _Response(200)

    def _announced_path(self, kind: str, repo_id: str, size: int, head: bytes) -> str | None:
        """The path preupload announced with this size and first bytes (taken: one PUT, one path)."""
        announced = self.announced.get((kind, repo_id), [])
        for i, (path, announced_size, sample) in enumerate(announced):
            if announced_size == size and head.startswith(sample):
                del announced[i]
                return path
        return None

    def lfs_verify(self, req: _Request) -> _Response:
        payload = req.json()
        self.repo(req, write=True)
        if not self.store.has_blob(str(payload.get("oid")), payload.get("size")):
            raise HubError(404, f"LFS object {payload.get('oid')} is not stored")
        return _json({"message": "ok"}, content_type="application/vnd.git-lfs+json")

    def create_commit(self, req: _Request) -> _Response:
        if _flag(req.query, "create_pr"):
            raise HubError(400, "pull requests are not served by the loopback Hub")
        lines = [json.loads(line) for line in req.body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0].get("value") or {}
        with self.lock:
            repo = self.repo(req, write=True)
            branch = self.branch(repo, unquote(req.params["rev"]))
            head = repo.meta["branches"][branch]
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubError(412, f"parentCommit {parent} is not the head of {branch} ({head})")
            tree = dict(self.commit(repo, head)["tree"])
            received = [path for line in lines[1:] if (path := self._apply(tree, line)) is not None]
            _check_no_file_folder_clash(tree)
            commit = self.new_commit(repo, [head], tree, str(header.get("summary") or ""),
                                     str(header.get("description") or ""))
            repo.meta["branches"][branch] = commit["oid"]
            self.store.save_repo(repo.kind, repo.repo_id, repo.meta)
            self.hub.uploads.extend(received)
        return _json({"success": True, "commitOid": commit["oid"], "commitMessage": commit["title"],
                      "commitUrl": f"{self.hub.url}/{repo.prefix}/commit/{commit['oid']}", "pullRequestUrl": None})

    def _apply(self, tree: dict[str, dict], line: dict) -> str | None:
        """Apply one operation of a commit to the tree; returns the path when the line carried the content."""
        key, value = line.get("key"), line.get("value") or {}
        path = _repo_path(str(value.get("path") or "").strip("/") or "")
        if key == "file":
            content = value.get("content") or ""
            data = base64.b64decode(content) if value.get("encoding") == "base64" else str(content).encode()
            tree[path] = {"sha256": self.store.put_bytes(data), "size": len(data), "lfs": False,
                          "oid": _git_oid(data)}
            return path
        if key == "lfsFile":
            oid, size = str(value.get("oid")), value.get("size")
            if value.get("algo", "sha256") != "sha256" or not self.store.has_blob(oid, size):
                raise HubError(400, f"LFS object {oid} for {path} was not uploaded")
            size = self.store.blob_path(oid).stat().st_size
            tree[path] = {"sha256": oid, "size": size, "lfs": True, "oid": _git_oid(_lfs_pointer(oid, size))}
            return None
        if key == "deletedFile":
            if tree.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            return None
        if key == "deletedFolder":
            doomed = _under(tree, path)
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for doomed_path in doomed:
                del tree[doomed_path]
            return None
        raise HubError(400, f"unknown commit operation {key!r}")


def _check_no_file_folder_clash(tree: dict[str, dict]) -> None:
    for path in tree:
        parts = path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in tree:
                raise HubError(400, f"{'/'.join(parts[:i])} is a file: {path} cannot be inside it")


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range -> (first, last) byte, inclusive; None to send the whole file; 416 past the end."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value or "")
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise HubError(416, f"range {value} is not satisfiable for {size} bytes",
                       headers=(("Content-Range", f"bytes */{size}"),))
    return start, end


_REPO = r"(?P<org>[^/]+)/(?P<name>[^/]+)"
_API = r"/api/(?P<t>models|datasets|spaces)/" + _REPO
_FILES = r"/(?:(?P<p>datasets/|spaces/))?" + _REPO
_REV = r"(?P<rev>[^/]+)"
# (methods, path pattern, _Service method): the first whose pattern matches the whole raw path answers
ROUTES: list[tuple[frozenset[str], re.Pattern[str], Callable[[_Service, _Request], _Response]]] = [
    (frozenset(methods), re.compile(pattern), handler) for methods, pattern, handler in [
        ({"GET"}, r"/api/whoami-v2", _Service.whoami),
        ({"POST"}, r"/api/validate-yaml", _Service.validate_yaml),
        ({"POST"}, r"/api/repos/create", _Service.create_repo),
        ({"DELETE"}, r"/api/repos/delete", _Service.delete_repo),
        ({"GET"}, _API, _Service.info),
        ({"GET"}, _API + "/revision/" + _REV, _Service.info),
        ({"PUT"}, _API + "/settings", _Service.settings),
        ({"GET"}, _API + "/refs", _Service.refs),
        ({"POST"}, _API + "/tag/" + _REV, _Service.create_tag),
        ({"DELETE"}, _API + "/tag/" + _REV, _Service.delete_tag),
        ({"POST"}, _API + "/branch/" + _REV, _Service.create_branch),
        ({"DELETE"}, _API + "/branch/" + _REV, _Service.delete_branch),
        ({"GET"}, _API + "/commits/" + _REV, _Service.commits),
        ({"GET"}, _API + "/tree/" + _REV + r"(?:/(?P<path>.*))?", _Service.tree),
        ({"POST"}, _API + "/paths-info/" + _REV, _Service.paths_info),
        ({"POST"}, _API + "/preupload/" + _REV, _Service.preupload),
        ({"POST"}, _API + "/commit/" + _REV, _Service.create_commit),
        ({"POST"}, _FILES + r"\.git/info/lfs/objects/batch", _Service.lfs_batch),
        ({"POST"}, _FILES + r"\.git/info/lfs/objects/verify", _Service.lfs_verify),
        ({"PUT"}, r"/lfs-upload/(?P<t>models|datasets|spaces)/" + _REPO + r"/(?P<oid>[0-9a-f]{64})",
         _Service.lfs_upload),
        ({"GET", "HEAD"}, _FILES + "/resolve/" + _REV + r"/(?P<path>.+)", _Service.resolve_file),
    ]
]


def _dispatch(service: _Service, req: _Request) -> _Response:
    allowed: set[str] = set()
    for methods, pattern, handler in ROUTES:
        match = pattern.fullmatch(req.path)
        if match is None:
            continue
        if req.method not in methods:
            allowed |= methods
            continue
        req.params = {key: value for key, value in match.groupdict().items() if value is not None}
        return handler(service, req)
    if allowed:
        raise HubError(405, f"{req.method} is not served on {req.path}", headers=(("Allow", ", ".join(allowed)),))
    raise HubError(404, f"the loopback Hub serves no {req.method} {req.path}")


def _error_response(error: HubError) -> _Response:
    headers = [*error.headers] + ([("X-Error-Code", error.code)] if error.code else [])
    return _json({"error": error.message}, error.status, headers=headers)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    service: _Service  # set on the subclass serve_hub makes

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

    def _handle(self) -> None:
        path, _, query = self.path.partition("?")
        self.service.hub.requests.append(f"{self.command} {path}")
        req = _Request(self.command, path, parse_qs(query, keep_blank_values=True), self.headers, self.rfile)
        try:
            response = _dispatch(self.service, req)
        except HubError as error:
            response = _error_response(error)
        except Exception as error:  # a bug here must reach the client as a 500, not a dropped connection
            log.debug("loopback Hub: %s %s failed", self.command, path, exc_info=True)
            response = _json({"error": f"internal error: {type(error).__name__}: {error}"}, 500)
        self._send(response, keep_alive=req.consumed)

    def _send(self, response: _Response, keep_alive: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        length = response.file[2] if response.file else len(response.body)
        self.send_header("Content-Length", str(length))
        if not keep_alive:  # the request's body was not read: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.file is None:
            self.wfile.write(response.body)
            return
        blob, start, remaining = response.file
        with open(blob, "rb") as source:
            source.seek(start)
            while remaining:
                data = source.read(min(CHUNK, remaining))
                if not data:
                    break
                self.wfile.write(data)
                remaining -= len(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.debug("loopback Hub: " + format, *args)


@dataclasses.dataclass
class LoopbackHub:
    url: str  # "http://127.0.0.1:PORT", no trailing slash
    token: str
    storage: Path
    # path_in_repo of every file content received (an LFS PUT, or base64 in a commit); an LFS PUT that no preupload
    # announced (same size, same first bytes) is listed by its sha256
    uploads: list[str] = dataclasses.field(default_factory=list)
    commits: list[str] = dataclasses.field(default_factory=list)  # commit oids created, in order
    requests: list[str] = dataclasses.field(default_factory=list)  # "METHOD /path" of every request
    tree_page_size: int = TREE_PAGE  # entries per page of a tree listing (50 at most when expanded)
    _service: _Service | None = dataclasses.field(default=None, repr=False)

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """The repository's tree at a revision (branch, tag or commit oid): path -> content (KeyError if unknown)."""
        assert self._service is not None
        return self._service.files(repo_type, repo_id, revision)


@contextlib.contextmanager
def serve_hub(storage: Path, token: str = "hf_test_token") -> Iterator[LoopbackHub]:
    """A loopback Hub on 127.0.0.1 (a free port), storing under ``storage``, for as long as the block runs."""
    store = _Store(Path(storage))
    handler: type[_Handler] = type("_BoundHandler", (_Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub = LoopbackHub(url=f"http://127.0.0.1:{server.server_address[1]}", token=token, storage=Path(storage))
    hub._service = handler.service = _Service(hub, store)
    thread = threading.Thread(target=server.serve_forever, name="loopback-hub", daemon=True)
    thread.start()
    log.debug("loopback Hub at %s, storing under %s", hub.url, storage)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
