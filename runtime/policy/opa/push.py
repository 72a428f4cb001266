"""Pushing a bundle to a remote OPA server through its policy and data APIs.

Only remote mode pushes (the managed server loads its bundle at start-up, see process.py).
OPA compiles each `PUT /v1/policies/<id>` against the modules it already holds, so the
modules go in path order, once each: a module may use rules of modules before it, or of
other packages through `data.` references (which need no order). A package split across
files whose files use each other's rules cannot be pushed module by module; the managed
server and the embedded engine load such a bundle in one compile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import RegoParseError

from runtime.errors import PolicyCompileError
from runtime.policy.bundle import PolicyBundle

ADMIN_TIMEOUT = 10.0


def make_opa_client(url: str, timeout: float, token: str | None = None) -> OpaClient:
    parts = urlsplit(url)
    return OpaClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (443 if parts.scheme == "https" else 80),
        ssl=parts.scheme == "https",
        retries=0,
        timeout=timeout,
        token=token,
    )


def put_policy(admin: OpaClient, module_id: str, source: str) -> None:
    try:
        admin.update_policy_from_string(source, module_id, rego_compat=False)
    except RegoParseError as exc:
        raise PolicyCompileError(f"OPA refused {module_id}: {exc}") from exc


def put_data(url: str, data: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Replace the whole base document, so keys dropped from data.json disappear."""
    # opa_client's update_or_create_data cannot address the data root.
    response = requests.put(
        f"{url}/v1/data", json=dict(data), headers=dict(headers), timeout=ADMIN_TIMEOUT
    )
    if response.status_code != 204:
        raise PolicyCompileError(f"OPA refused the data document: {opa_error_message(response)}")


def push_modules(admin: OpaClient, modules: Mapping[str, str]) -> None:
    """PUT every module once, in path order; the first refusal is the error."""
    for module_id, source in sorted(modules.items()):
        put_policy(admin, module_id, source)


def push_bundle(
    admin: OpaClient,
    url: str,
    headers: Mapping[str, str],
    bundle: PolicyBundle,
    previous: PolicyBundle | None,
) -> None:
    """Upload modules then data, dropping modules `previous` had and `bundle` has not; on a
    refused module or data document, `previous` is put back (when there is one)."""
    try:
        push_modules(admin, bundle.modules)
        if previous is not None:
            for module_id in sorted(set(previous.modules) - set(bundle.modules)):
                admin.delete_policy(module_id)
        put_data(url, bundle.data, headers)
    except PolicyCompileError:
        if previous is not None:
            restore(admin, url, headers, previous, bundle)
        raise


def restore(
    admin: OpaClient,
    url: str,
    headers: Mapping[str, str],
    previous: PolicyBundle,
    failed: PolicyBundle,
) -> None:
    with contextlib.suppress(Exception):
        for module_id in sorted(set(failed.modules) - set(previous.modules)):
            admin.delete_policy(module_id)
        push_modules(admin, previous.modules)
        put_data(url, previous.data, headers)


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
