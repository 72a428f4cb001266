"""The production policy engine: a real OPA server, queried over REST.

Two modes:
- managed (no URL configured): starts `opa run --server` on a free 127.0.0.1 port with
  the bundle loaded at start-up and locked (process.py: a per-server bearer token, a
  manifest that owns every path), health-checks it, restarts it if it died, checks that
  each decision comes from the revision it loaded, and stops it on `close()`;
- remote (a URL): pushes the bundle when a policy dir is given (push.py), else queries
  what the server already holds; a `token` is sent as a bearer token when given.

Decisions go through a pool of keep-alive connections (pool.py); opa-python-client does
the health checks and the remote policy upload.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from opa_client import OpaClient

from runtime.errors import OpaUnavailable, PolicyCompileError, PolicyUnavailable
from runtime.policy.base import EvalResult
from runtime.policy.bundle import OPA_MISSING, PolicyBundle, check_bundle, find_opa, load_bundle
from runtime.policy.explain import (
    Explanation,
    PolicySource,
    TraceMismatch,
    attribute_whole_rules,
    hits_from,
    observed_from_trace,
    whole_rule_hits,
)
from runtime.policy.opa.pool import EngineTimeout, EngineUnreachable, KeepAlivePool
from runtime.policy.opa.process import ManagedOpaProcess
from runtime.policy.opa.push import ADMIN_TIMEOUT, make_opa_client, push_bundle

ENGINE_NAME = "opa-server"
NO_OPA_FOR_SERVER = (
    f'{OPA_MISSING}, or set policy_engine = "embedded" in runtime.toml '
    "(the embedded engine needs no OPA binary)"
)
EXPLAIN_TIMEOUT = 30.0


@dataclass
class ServerLink:
    """Everything that talks to one server process; swapped whole on restart or reload."""

    url: str
    client: OpaClient
    admin: OpaClient
    pool: KeepAlivePool
    version: str
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    process: ManagedOpaProcess | None = None

    @property
    def query_suffix(self) -> str:
        """A managed server says which revision answered; a remote one is not asked."""
        return "?provenance=true" if self.process is not None else ""

    def close(self) -> None:
        for client in (self.client, self.admin):
            with contextlib.suppress(Exception):
                client.close_connection()
        self.pool.close()
        if self.process is not None:
            self.process.stop()


def answered_revision(body: dict[str, Any]) -> str | None:
    """The revision of the (single) bundle a `?provenance=true` answer names, if any."""
    provenance = body.get("provenance")
    bundles = provenance.get("bundles") if isinstance(provenance, dict) else None
    if not isinstance(bundles, dict) or len(bundles) != 1:
        return None
    (only,) = bundles.values()
    revision = only.get("revision") if isinstance(only, dict) else None
    return revision if isinstance(revision, str) else None


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
        token: str | None = None,
    ) -> None:
        if url is None and policy_dir is None:
            raise OpaUnavailable("OPA server engine needs a policy dir (managed) or a url.")
        self.timeout = timeout
        self._remote_token = token
        self._lock = threading.RLock()
        self._bundle: PolicyBundle | None = load_bundle(policy_dir) if policy_dir else None
        self._check_policies = check_policies
        self._closed = False
        self._managed = url is None
        self._opa_binary = opa_binary or (find_managed_opa() if self._managed else None)
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

    @property
    def token(self) -> str | None:
        """The bearer token this engine sends (the managed server's own, or the remote one
        given); held in memory only."""
        return self._link.token

    @property
    def auth_headers(self) -> dict[str, str]:
        """The Authorization header this engine sends (none for a remote server without a
        token); held in memory only."""
        return dict(self._link.headers)

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
            response = requests.post(
                url, json={"input": input_doc}, headers=link.headers, timeout=EXPLAIN_TIMEOUT
            )
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
            response = requests.get(
                f"{link.url}/v1/policies", headers=link.headers, timeout=ADMIN_TIMEOUT
            )
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
        """Connect to `url` and push `bundle` when given, or start a managed server loaded
        with `bundle` (one compile, so a package may be split across files)."""
        process: ManagedOpaProcess | None = None
        token = self._remote_token
        if url is None:
            assert self._opa_binary is not None and bundle is not None
            process = ManagedOpaProcess(self._opa_binary)
            process.start(bundle)
            url, token = process.url, process.token
        url = url.rstrip("/")
        link = ServerLink(
            url=url,
            client=make_opa_client(url, self.timeout, token),
            admin=make_opa_client(url, ADMIN_TIMEOUT, token),
            pool=KeepAlivePool(url, self.timeout, headers=bearer(token)),
            version=bundle.version if bundle is not None else "",
            token=token,
            headers=bearer(token),
            process=process,
        )
        if process is None and bundle is not None:
            try:
                self._push(link, bundle, previous=None)
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
        payload = json.dumps({"input": input_doc}).encode()
        try:
            status, raw = link.pool.post_json(f"/v1/data/{entrypoint}{link.query_suffix}", payload)
        except TimeoutError as exc:
            raise EngineTimeout(str(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnreachable(type(exc).__name__) from exc
        if status != 200:
            raise PolicyUnavailable(
                f"policy engine error: OPA at {link.url} answered HTTP {status}: {raw[:300]!r}"
            )
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise PolicyUnavailable(f"policy engine answered with invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise PolicyUnavailable(f"policy engine answered with a non-object: {body!r:.200}")
        if link.process is not None:
            revision = answered_revision(body)
            if revision != link.version:
                raise PolicyUnavailable(
                    f"policy engine answered from policy revision {revision}, not the loaded "
                    f"{link.version}: the policy was changed outside the runtime"
                )
        return body

    @staticmethod
    def _push(link: ServerLink, bundle: PolicyBundle, previous: PolicyBundle | None) -> None:
        """Upload a bundle to a remote server (push.py); a refused one restores `previous`."""
        try:
            push_bundle(link.admin, link.url, link.headers, bundle, previous)
        except requests.RequestException as exc:
            raise OpaUnavailable(f"Could not push policies to OPA at {link.url}: {exc}") from exc


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def find_managed_opa() -> Path:
    """The OPA binary a managed server runs; without one, the error names both fixes."""
    try:
        return find_opa()
    except OpaUnavailable as exc:
        raise OpaUnavailable(NO_OPA_FOR_SERVER) from exc
