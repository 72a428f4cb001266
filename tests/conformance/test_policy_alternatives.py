"""Both engines give the same alternatives under data other than the shipped data.

The shipped data holds untrusted side effects for approval and allows every relative path,
so the generated corpus of test_policy_engines.py never reaches two of the alternative
rules of rego/runtime/authz/authz_alternatives.rego. Here the same corpus runs over a copy of rego/ that
denies untrusted side effects and allows only some path globs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from runtime.policy.base import AUTHZ_ENTRYPOINT
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.opa import OpaServerEngine
from tests.conformance.patched_policy import patched_engines
from tests.conformance.test_policy_engines import authz_edge, compare, corpus, policy_inputs

pytestmark = pytest.mark.opa


def strict_data(data: dict[str, Any]) -> None:
    data["authz"]["provenance"]["untrusted_side_effect"] = "deny"
    data["authz"]["fs"]["allowed_globs"] = ["out/**", "data/*"]


@pytest.fixture(scope="module")
def strict_engines(
    tmp_path_factory: pytest.TempPathFactory, policy_dir: Path, opa_binary: Path
) -> Iterator[tuple[OpaServerEngine, EmbeddedEngine]]:
    target = tmp_path_factory.mktemp("strict") / "rego"
    with patched_engines(policy_dir, target, opa_binary, strict_data) as engines:
        yield engines


@corpus(300)
@given(document=policy_inputs())
def test_authz_decisions_agree_under_strict_data(
    strict_engines: tuple[OpaServerEngine, EmbeddedEngine], document: dict[str, Any]
) -> None:
    compare(*strict_engines, AUTHZ_ENTRYPOINT, document)


def test_untrusted_write_outside_the_globs_gets_every_alternative(
    strict_engines: tuple[OpaServerEngine, EmbeddedEngine],
) -> None:
    opa, embedded = strict_engines
    document = authz_edge(
        "coder",
        "fs.write",
        "write",
        {"path": "notes/a.md", "content": "x"},
        provenance={"args": {"content": "untrusted", "path": "untrusted"}},
    )
    compare(opa, embedded, AUTHZ_ENTRYPOINT, document)
    assert opa.evaluate(AUTHZ_ENTRYPOINT, document).result == {
        "allow": False,
        "require_approval": False,
        "reasons": [
            "a write call with untrusted arguments (content, path) is not allowed",
            "path notes/a.md is not under an allowed path",
        ],
        "alternatives": [
            "ask the user to approve a write call with untrusted arguments (content, path), "
            "or take those arguments from the user's task only",
            "use a relative path inside the workspace, without '..', that matches an allowed "
            "glob: out/**, data/*",
        ],
        "obligations": {},
    }


def non_ascii_grant(data: dict[str, Any]) -> None:
    data["authz"]["grants"]["agents"]["rédacteur"] = {"tools": ["fs.read"]}


def test_non_ascii_strings_in_data_agree(
    tmp_path_factory: pytest.TempPathFactory, policy_dir: Path, opa_binary: Path
) -> None:
    target = tmp_path_factory.mktemp("non_ascii") / "rego"
    with patched_engines(policy_dir, target, opa_binary, non_ascii_grant) as (opa, embedded):
        document = authz_edge("rédacteur", "fs.read", "read", {"path": "a.md"})
        compare(opa, embedded, AUTHZ_ENTRYPOINT, document)
