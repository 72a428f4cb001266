"""The production policy engine: a real OPA server on loopback, queried over REST.

Two modes:
- managed (no URL configured): starts `opa run --server` on a free 127.0.0.1 port, pushes
  the policy bundle through OPA's policy and data APIs, health-checks `/health`, restarts
  the process if it died, and stops it on `close()`;
- remote (a URL): pushes the bundle when a policy dir is given, else queries what the
  server already holds.

opa-python-client (`opa_client.OpaClient`) does the policy upload, health checks and,
when asked (`query_client="opa_client"`), the queries. By default queries go through a
small pool of keep-alive `http.client` connections instead: opa-python-client's
`query_rule` works per input but rides on `requests`, which costs about 0.6 ms per call
here, more than OPA's own evaluation (bench/bench_policy.py; docs/policy.md has numbers).
Decision logging to the console is switched on in managed mode so that OPA returns a
`decision_id` with each answer; the log lines are drained into a small ring buffer, never
to disk, and shown only when the server fails to start.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import RegoParseError

from runtime.errors import OpaUnavailable, PolicyCompileError, PolicyUnavailable
from runtime.policy.base import EvalResult
from runtime.policy.bundle import PolicyBundle, check_bundle, find_opa, load_bundle
from runtime.policy.explain import (
    Explanation,
    PolicySource,
    TraceMismatch,
    attribute_whole_rules,
    hits_from,
    observed_from_trace,
    whole_rule_hits,
)

ENGINE_NAME = "opa-server"
ADMIN_TIMEOUT = 10.0
EXPLAIN_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1


QueryClient = Literal["pooled", "opa_client"]


class EngineUnreachable(Exception):
    """Internal: the query could not reach the server (refused, reset, closed)."""


class EngineTimeout(Exception):
    """Internal: the server did not answer within the timeout."""


class KeepAlivePool:
    """Keep-alive HTTP/1.1 connections to one server; one connection per concurrent caller."""

    def __init__(self, url: str, timeout: float, maxsize: int = 16) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.timeout = timeout
        self.maxsize = maxsize
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST `body`; retries once on a fresh connection if a kept-alive one went stale."""
        connection, reused = self._acquire()
        try:
            result = self._roundtrip(connection, path, body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            connection.close()
            if not reused:
                raise
            connection = self._connect()
            try:
                result = self._roundtrip(connection, path, body)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        self._release(connection)
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _roundtrip(
        self, connection: http.client.HTTPConnection, path: str, body: bytes
    ) -> tuple[int, bytes]:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()

    def _connect(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _acquire(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(connection)
                return
        connection.close()


def die_with_parent() -> None:
    """Linux: the managed OPA gets SIGTERM if the runtime dies without closing it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ManagedOpaProcess:
    """One `opa run --server` child process on loopback, with its last log lines."""

    def __init__(self, opa: Path, *, startup_timeout: float = 10.0) -> None:
        self.opa = opa
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, load: Path | None = None) -> None:
        """Start the server on a free loopback port; `load` is a folder of policy and data
        files it loads at start-up, compiled together (so rules may refer across files)."""
        last_error = ""
        for _attempt in range(3):
            self.port = free_loopback_port()
            self.process = subprocess.Popen(
                [
                    str(self.opa),
                    "run",
                    "--server",
                    "--addr",
                    f"127.0.0.1:{self.port}",
                    "--log-level",
                    "error",
                    "--set",
                    "decision_logs.console=true",
                    *([str(load)] if load is not None else []),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,  # start-up errors go to stdout
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
            assert self.process.stdout is not None
            self._drain = threading.Thread(
                target=self._drain_log, args=(self.process.stdout,), daemon=True
            )
            self._drain.start()
            if self._wait_healthy():
                return
            last_error = self.describe_failure()
            self.stop()
            if load is not None:
                refused = load_refusal(self.log_tail, load)
                if refused is not None:
                    raise PolicyCompileError(refused)
        raise OpaUnavailable(f"OPA server did not start: {last_error}")

    def _drain_log(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                self.log_tail.append(line.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            return  # the stream was closed under us by stop()

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive:
                return False
            try:
                response = requests.get(f"{self.url}/health", timeout=0.5)
                if response.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.02)
        return False

    def describe_failure(self) -> str:
        code = self.process.poll() if self.process is not None else None
        status = f"exited with code {code}" if code is not None else "no healthy answer"
        errors = [line for line in self.log_tail if '"Decision Log"' not in line]
        return f"{status} on {self.url}" + (f": {errors[-1]}" if errors else "")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._drain is not None:
            self._drain.join(timeout=2)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class ServerLink:
    """Everything that talks to one server process; swapped whole on restart or reload."""

    url: str
    client: OpaClient
    admin: OpaClient
    pool: KeepAlivePool
    version: str
    process: ManagedOpaProcess | None = None

    def close(self) -> None:
        for client in (self.client, self.admin):
            with contextlib.suppress(Exception):
                client.close_connection()
        self.pool.close()
        if self.process is not None:
            self.process.stop()


class OpaServerEngine:
    """PolicyEngine over an OPA server; see the module docstring for the two modes."""

    def __init__(
        self,
        policy_dir: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        timeout: float = 1.0,
        opa_binary: Path | None = None,
        check_policies: bool = True,
        query_client: QueryClient = "pooled",
    ) -> None:
        if url is None and policy_dir is None:
            raise OpaUnavailable("OPA server engine needs a policy dir (managed) or a url.")
        self.timeout = timeout
        self.query_client = query_client
        self._lock = threading.RLock()
        self._bundle: PolicyBundle | None = load_bundle(policy_dir) if policy_dir else None
        self._check_policies = check_policies
        self._closed = False
        self._managed = url is None
        self._opa_binary = opa_binary or (find_opa() if self._managed else None)
        if self._bundle is not None and check_policies and self._opa_binary is not None:
            check_bundle(self._bundle, opa=self._opa_binary)
        self._link = self._open_link(url, self._bundle)

    # ------------------------------------------------------------------ PolicyEngine

    @property
    def name(self) -> str:
        return ENGINE_NAME

    @property
    def policy_version(self) -> str:
        return self._link.version

    @property
    def url(self) -> str:
        return self._link.url

    @property
    def bundle(self) -> PolicyBundle | None:
        return self._bundle

    def evaluate(self, entrypoint: str, input_doc: dict[str, Any]) -> EvalResult:
        link = self._link
        if self._closed:
            raise PolicyUnavailable(
                f"policy engine unreachable: OPA engine for {link.url} is closed"
            )
        try:
            body = self._query(link, entrypoint, input_doc)
        except EngineUnreachable as exc:
            # A dead managed server is restarted; a reload may also have retired this link.
            fresh = self._relink(link)
            if fresh is None:
                raise PolicyUnavailable(
                    f"policy engine unreachable: OPA at {link.url}: {exc}"
                ) from exc
            link = fresh
            try:
                body = self._query(link, entrypoint, input_doc)
            except (EngineUnreachable, EngineTimeout) as retry_exc:
                raise PolicyUnavailable(
                    f"policy engine unreachable after restart: OPA at {link.url}: {retry_exc}"
                ) from retry_exc
        except EngineTimeout as exc:
            raise PolicyUnavailable(
                f"policy engine timed out after {self.timeout}s: OPA at {link.url}"
            ) from exc
        decision_id = body.get("decision_id")
        return EvalResult(
            result=body.get("result"),
            decision_id=decision_id if isinstance(decision_id, str) else None,
            policy_version=link.version,
            engine=ENGINE_NAME,
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._link.close()

    def explain(self, entrypoint: str, input_doc: dict[str, Any]) -> Explanation:
        """The entrypoint's value and the rules that produced it, from OPA's own trace.

        `?explain=full&pretty=true` gives the rule bodies that held, with `file:row`; a
        rule with a single such body gets the rule's whole value (a plain query). Only when
        several bodies of one multi-value rule held is the JSON trace (`?explain=full`, the
        head's key among each event's locals) fetched to split the value between them: it
        holds the input many times over (about 100 MB for a 1 MiB argument).
        """
        link = self._link
        if self._closed:
            raise PolicyUnavailable(
                f"policy engine unreachable: OPA engine for {link.url} is closed"
            )
        source = PolicySource(self._sources(link))
        pretty = self._explain_query(link, entrypoint, input_doc, "?explain=full&pretty=true")
        result = pretty.get("result")
        lines = [line for line in pretty.get("explanation") or [] if isinstance(line, str)]
        observed = observed_from_trace(source, entrypoint, lines)
        whole = attribute_whole_rules(
            source, observed, lambda rule: self.evaluate(rule, input_doc).result
        )
        if not whole:
            traced = self._explain_query(link, entrypoint, input_doc, "?explain=full")
            try:
                observed = observed_from_trace(
                    source, entrypoint, lines, traced.get("explanation") or []
                )
            except TraceMismatch:
                rules = whole_rule_hits(
                    source, entrypoint, result, lambda rule: self.evaluate(rule, input_doc).result
                )
                return Explanation(result=result, rules=rules)
        return Explanation(result=result, rules=hits_from(source, entrypoint, observed, result))

    def _explain_query(
        self, link: ServerLink, entrypoint: str, input_doc: dict[str, Any], query: str
    ) -> dict[str, Any]:
        """One traced query, with a timeout for traces rather than for decisions."""
        url = f"{link.url}/v1/data/{entrypoint}{query}"
        try:
            response = requests.post(url, json={"input": input_doc}, timeout=EXPLAIN_TIMEOUT)
        except requests.Timeout as exc:
            raise PolicyUnavailable(
                f"policy engine timed out after {EXPLAIN_TIMEOUT}s explaining: OPA at {link.url}"
            ) from exc
        except requests.RequestException as exc:
            raise PolicyUnavailable(
                f"policy engine unreachable: OPA at {link.url}: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise PolicyUnavailable(
                f"policy engine error: OPA at {link.url} answered HTTP {response.status_code}: "
                f"{response.text[:300]!r}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise PolicyUnavailable(f"policy engine answered with invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise PolicyUnavailable(f"policy engine answered with a non-object: {body!r:.200}")
        return body

    def _sources(self, link: ServerLink) -> dict[str, str]:
        """The Rego modules the server holds, by module id (pushed from the bundle, or listed)."""
        if self._bundle is not None:
            return dict(self._bundle.modules)
        try:
            response = requests.get(f"{link.url}/v1/policies", timeout=ADMIN_TIMEOUT)
            listed = response.json().get("result") or []
        except (requests.RequestException, ValueError) as exc:
            raise PolicyUnavailable(
                f"could not list the policies of OPA at {link.url}: {exc}"
            ) from exc
        return {
            str(module["id"]): str(module["raw"])
            for module in listed
            if isinstance(module, dict) and "id" in module and "raw" in module
        }

    # ------------------------------------------------------------------ operations

    def healthy(self) -> bool:
        return bool(self._link.client.check_health())

    @property
    def managed_pid(self) -> int | None:
        """The pid of the managed OPA process (None in remote mode)."""
        process = self._link.process
        if process is None or process.process is None:
            return None
        return process.process.pid

    def reload(self, policy_dir: str | os.PathLike[str] | None = None) -> str:
        """Load a new bundle; a broken one is refused and the old one stays. Returns the version.

        Managed mode swaps atomically: a second server is started with the new bundle and
        replaces the first only once it answers, so every decision comes wholly from the old
        or wholly from the new policy. Remote mode pushes module by module (with rollback).
        """
        with self._lock:
            source = policy_dir or (self._bundle.root if self._bundle else None)
            if source is None:
                raise PolicyCompileError("No policy directory to reload from.")
            bundle = load_bundle(source)
            if self._check_policies and self._opa_binary is not None:
                check_bundle(bundle, opa=self._opa_binary)
            if self._managed:
                fresh = self._open_link(None, bundle)
                old, self._link = self._link, fresh
                old.close()
            else:
                self._push(self._link, bundle, previous=self._bundle)
                self._link.version = bundle.version
            self._bundle = bundle
            return bundle.version

    # ------------------------------------------------------------------ internals

    def _open_link(self, url: str | None, bundle: PolicyBundle | None) -> ServerLink:
        """Connect to `url`, or start a managed server; push `bundle` when given."""
        process: ManagedOpaProcess | None = None
        to_push = bundle
        if url is None:
            assert self._opa_binary is not None
            process = ManagedOpaProcess(self._opa_binary)
            if bundle is not None:
                # A managed server loads the whole bundle at start-up: one compile, so
                # modules of a package split across files may use each other's rules.
                with tempfile.TemporaryDirectory(prefix="runtime-opa-") as staging:
                    process.start(write_bundle(bundle, Path(staging)))
                to_push = None  # loaded at start-up; nothing to push
            else:
                process.start()
            url = process.url
        url = url.rstrip("/")
        link = ServerLink(
            url=url,
            client=make_opa_client(url, self.timeout),
            admin=make_opa_client(url, ADMIN_TIMEOUT),
            pool=KeepAlivePool(url, self.timeout),
            version=bundle.version if bundle is not None else "",
            process=process,
        )
        if to_push is not None:
            try:
                self._push(link, to_push, previous=None)
            except BaseException:
                link.close()
                raise
        return link

    def _relink(self, failed: ServerLink) -> ServerLink | None:
        """The link to retry on after `failed` could not be reached, or None."""
        with self._lock:
            if self._closed:
                return None
            if self._link is not failed:
                return self._link
            if not self._managed:
                return None
            process = failed.process
            if process is not None and process.alive and bool(failed.client.check_health()):
                return failed
            try:
                fresh = self._open_link(None, self._bundle)
            except (OpaUnavailable, PolicyCompileError):
                return None
            self._link = fresh
            failed.close()
            return fresh

    def _query(
        self, link: ServerLink, entrypoint: str, input_doc: dict[str, Any]
    ) -> dict[str, Any]:
        if self.query_client == "opa_client":
            body = self._query_opa_client(link, entrypoint, input_doc)
        else:
            body = self._query_pooled(link, entrypoint, input_doc)
        if not isinstance(body, dict):
            raise PolicyUnavailable(f"policy engine answered with a non-object: {body!r:.200}")
        return body

    @staticmethod
    def _query_pooled(
        link: ServerLink, entrypoint: str, input_doc: dict[str, Any], query: str = ""
    ) -> Any:
        payload = json.dumps({"input": input_doc}).encode()
        try:
            status, raw = link.pool.post_json(f"/v1/data/{entrypoint}{query}", payload)
        except TimeoutError as exc:
            raise EngineTimeout(str(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnreachable(type(exc).__name__) from exc
        if status != 200:
            raise PolicyUnavailable(
                f"policy engine error: OPA at {link.url} answered HTTP {status}: {raw[:300]!r}"
            )
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise PolicyUnavailable(f"policy engine answered with invalid JSON: {exc}") from exc

    @staticmethod
    def _query_opa_client(link: ServerLink, entrypoint: str, input_doc: dict[str, Any]) -> Any:
        try:
            return link.client.query_rule(input_data=input_doc, package_path=entrypoint)
        except requests.ConnectionError as exc:
            raise EngineUnreachable(type(exc).__name__) from exc
        except requests.Timeout as exc:
            raise EngineTimeout(str(exc)) from exc
        except requests.RequestException as exc:
            raise PolicyUnavailable(f"policy engine error: OPA at {link.url}: {exc}") from exc
        except ValueError as exc:
            raise PolicyUnavailable(f"policy engine answered with invalid JSON: {exc}") from exc

    def _push(self, link: ServerLink, bundle: PolicyBundle, previous: PolicyBundle | None) -> None:
        """Upload modules then data; on a refused module, restore `previous`."""
        try:
            push_modules(link, bundle.modules)
            if previous is not None:
                for module_id in sorted(set(previous.modules) - set(bundle.modules)):
                    link.admin.delete_policy(module_id)
            put_data(link, bundle.data)
        except PolicyCompileError:
            if previous is not None:
                restore(link, previous, bundle)
            raise
        except requests.RequestException as exc:
            raise OpaUnavailable(f"Could not push policies to OPA at {link.url}: {exc}") from exc


def make_opa_client(url: str, timeout: float) -> OpaClient:
    parts = urlsplit(url)
    return OpaClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https",
        retries=0,
        timeout=timeout,
    )


def put_policy(link: ServerLink, module_id: str, source: str) -> None:
    try:
        link.admin.update_policy_from_string(source, module_id, rego_compat=False)
    except RegoParseError as exc:
        raise PolicyCompileError(f"OPA refused {module_id}: {exc}") from exc


def put_data(link: ServerLink, data: Any) -> None:
    """Replace the whole base document, so keys dropped from data.json disappear."""
    # opa_client's update_or_create_data cannot address the data root.
    response = requests.put(f"{link.url}/v1/data", json=dict(data), timeout=ADMIN_TIMEOUT)
    if response.status_code != 204:
        raise PolicyCompileError(f"OPA refused the data document: {opa_error_message(response)}")


def load_refusal(log_lines: collections.deque[str], folder: Path) -> str | None:
    """`OPA refused <module>: <error>` when OPA exited because a loaded file did not compile."""
    prefix = f"{folder}/"
    for line in log_lines:
        if "initialization error" not in line or prefix not in line:
            continue
        detail = line.split(prefix, 1)[1]
        module, _, rest = detail.partition(":")
        message = rest.split(":", 1)[1].strip() if rest[:1].isdigit() else rest.strip()
        return f"OPA refused {module}: {message}"
    return None


def write_bundle(bundle: PolicyBundle, folder: Path) -> Path:
    """The bundle's modules and its merged data as files OPA can load from `folder`."""
    for module_id, source in bundle.modules.items():
        target = folder / "policies" / module_id
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    (folder / "policies" / "data.json").write_text(json.dumps(bundle.data))
    return folder / "policies"


def push_modules(link: ServerLink, modules: Mapping[str, str]) -> None:
    """PUT every module; OPA compiles each PUT against the modules it already holds, so a
    rule that uses one from a later file (same package, split across files) fails until
    that file is in. Retry the refused ones while each pass makes progress; the error
    that remains when nothing more goes in is the real one."""
    waiting = dict(sorted(modules.items()))
    while waiting:
        refused: dict[str, str] = {}
        last_error: PolicyCompileError | None = None
        for module_id, source in waiting.items():
            try:
                put_policy(link, module_id, source)
            except PolicyCompileError as exc:
                refused[module_id] = source
                last_error = exc
        if last_error is not None and len(refused) == len(waiting):
            raise last_error
        waiting = refused


def restore(link: ServerLink, previous: PolicyBundle, failed: PolicyBundle) -> None:
    with contextlib.suppress(Exception):
        for module_id in sorted(set(failed.modules) - set(previous.modules)):
            link.admin.delete_policy(module_id)
        push_modules(link, previous.modules)
        put_data(link, previous.data)


def opa_error_message(response: requests.Response) -> str:
    """OPA's error body as one line: code, message and the first detailed error."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    message = f"{body.get('code', response.status_code)}: {body.get('message', '')}"
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict):
        first = errors[0]
        location = first.get("location") or {}
        message += (
            f" ({location.get('file', '')}:{location.get('row', '')}: {first.get('message', '')})"
        )
    return message
