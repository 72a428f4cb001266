"""The zero-setup policy engine: regopy (rego-cpp) in process.

The policy bundle is compiled once into a regopy `Bundle` with a plan per entrypoint;
each query only sets the input and runs the plan (about 0.3 ms here, against about 8 ms for
an ad-hoc `Interpreter.query` that recompiles every time). A reload compiles the new bundle
off to the side and swaps the reference, so a broken policy never replaces a working one.

regopy is not thread-safe; one lock serialises queries.

The result comes back as JSON text. regopy 1.5.2 keeps strings in their JSON-escaped
form, so for a string holding a `"`, a `\\` or a control character its builtins see the
escape sequence (`count` is larger, a regex for a backslash matches). With the built-in
policies that can only turn an allow into a deny; the conformance suite checks that.

The input goes in node by node through regopy's C input API (`regoInput*`, then
`regoSetInput`): about 0.05 ms for a tool-call input, against 0.16 ms for parsing the same
input as a JSON term. Each string is handed over in its JSON-escaped form, exactly what the
term parser would have kept, so the policy sees the same document either way (handed over
raw, such a string came back as unescaped JSON text, and one aborted the process in C++).
A value the C API would change goes in as a JSON term instead (`set_input_term`): a float
it would round (it keeps six decimals, so 0.7999999 would become 0.8), an integer beyond
64 bits, anything that is not plain JSON data.

Known gap (regopy 1.5.2): it crashes the process on `with input as ...` over these modules,
so `_test.rego` files are never loaded here; `opa test` runs them.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring as escape_json_string
from typing import Any

import regopy
from regopy import rego_shared as native

from runtime.errors import PolicyCompileError, PolicyUnavailable
from runtime.policy.base import AUTHZ_ENTRYPOINT, MEMORY_ENTRYPOINT, SAFETY_ENTRYPOINT, EvalResult
from runtime.policy.bundle import PolicyBundle, first_line, load_bundle
from runtime.policy.explain import (
    Explanation,
    Observed,
    PolicySource,
    hits_from,
    observed_from_shadows,
    shadow_copies,
    whole_rule_hits,
)

ENGINE_NAME = "embedded-regopy"
DEFAULT_ENTRYPOINTS = (AUTHZ_ENTRYPOINT, MEMORY_ENTRYPOINT, SAFETY_ENTRYPOINT)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
REGO_ERROR_MESSAGE = re.compile(r"\(errormsg (?:\d+:)?([^)]*)\)")
ERROR_FILE = re.compile(r"\(error (\d+):")
ERROR_POSITION = re.compile(r"\|(\d+)\|")
ERROR_MESSAGE = re.compile(r"\(errormsg (\d+):")


@dataclass(frozen=True)
class CompiledPolicy:
    """A regopy plan set for one bundle; replaced whole on reload."""

    bundle: PolicyBundle
    plans: Any
    entrypoints: frozenset[str]


def quiet_interpreter() -> regopy.Interpreter:
    """An interpreter that keeps its log to itself: regopy prints compile errors to the
    process's stdout by default (from C++, so no Python redirect would catch it), which
    would corrupt `--json` output. Its errors come back in the result instead."""
    interpreter = regopy.Interpreter()
    interpreter.log_level = regopy.LogLevel.NONE
    return interpreter


def first_compile_error(text: str, modules: Mapping[str, str]) -> str:
    """`file:row: message` of the first error in regopy's error tree (an S-expression of
    length-prefixed atoms, positions in bytes), or the tree's first line."""
    found = ERROR_FILE.search(text)
    if found is None:
        return first_line(text)
    start = found.end()
    file = text[start : start + int(found[1])]
    rest = text[start + int(found[1]) :]
    position = ERROR_POSITION.match(rest)
    message = ERROR_MESSAGE.search(rest)
    detail = rest[message.end() : message.end() + int(message[1])] if message else "error"
    source = modules.get(file)
    if position is None or source is None:
        return f"{file}: {detail}"
    row = source.encode()[: int(position[1])].count(b"\n") + 1
    return f"{file}:{row}: {detail}"


def compile_bundle(bundle: PolicyBundle, entrypoints: Iterable[str]) -> CompiledPolicy:
    """Compile modules + data into regopy plans; PolicyCompileError on any failure."""
    wanted = sorted(set(entrypoints))
    builder = quiet_interpreter()
    try:
        for module_id, source in sorted(bundle.modules.items()):
            builder.add_module(module_id, source)
        # Non-ASCII literal, as in the input: regopy would keep a `\u` escape in the string,
        # and a data string would then never equal the same input string.
        builder.add_data_json(json.dumps(bundle.data, ensure_ascii=False))
        plans = builder.build(None, wanted)
    except regopy.RegoError as exc:
        error = first_compile_error(str(exc), bundle.modules)
        raise PolicyCompileError(f"regopy could not compile {bundle.root}: {error}") from exc
    if not plans.ok():
        error = first_compile_error(str(plans.node()), bundle.modules)
        raise PolicyCompileError(f"regopy could not compile {bundle.root}: {error}")
    return CompiledPolicy(bundle=bundle, plans=plans, entrypoints=frozenset(wanted))


def query_plan(interpreter: regopy.Interpreter, plans: Any, entrypoint: str) -> Any:
    """Run one entrypoint's plan; the value of its first expression, or None if undefined."""
    output = native.rego_bundle_query_entrypoint(interpreter._impl, plans._impl, entrypoint)
    try:
        text = native.rego_output_string(output)
        if not native.rego_output_ok(output) or text.startswith("(error"):
            # An evaluation error comes back as an `(error ...)` tree (sometimes marked ok)
            # that also holds the whole input: keep only its message.
            message = REGO_ERROR_MESSAGE.search(text)
            detail = message[1] if message else " ".join(text.split())[:300]
            raise PolicyUnavailable(f"embedded engine failed: rego error: {detail}")
    finally:
        native.rego_free_output(output)
    if text == "undefined":
        return None
    document = json.loads(text)
    first = document[0] if isinstance(document, list) else document
    expressions = first.get("expressions", []) if isinstance(first, dict) else []
    return expressions[0] if expressions else None


def input_term(input_doc: dict[str, Any]) -> str:
    """The input as a JSON term; non-ASCII stays literal (an escape would change what
    regopy's builtins see, see the module docstring)."""
    return json.dumps(input_doc, ensure_ascii=False, allow_nan=False)


class NotExact(Exception):
    """Internal: a value the C input API would not carry exactly; use the JSON term."""


def exact_float(value: float) -> bool:
    """True when regopy's float input (C++ `std::to_string`, six decimals) keeps `value`."""
    return math.isfinite(value) and float(f"{value:f}") == value


def input_node(input_doc: Any) -> int:
    """The input built node by node with regopy's C API; NotExact when a value would change.

    Each string goes in as its JSON-escaped text (the form a JSON term leaves inside regopy,
    see the module docstring), so both paths give the policy the same strings. The caller
    frees the handle with `regoFreeInput`.
    """
    library = native.rego
    handle: int = library.regoNewInput()
    add_string = library.regoInputString
    close_item = library.regoInputObjectItem

    def string(value: str) -> int:
        return int(add_string(handle, escape_json_string(value)[1:-1].encode()))

    def add(value: Any) -> int:
        kind = type(value)
        if kind is str:
            return string(value)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str or string(key) or add(item) or close_item(handle):
                    raise NotExact
            return int(library.regoInputObject(handle, len(value)))
        if kind is list:
            for item in value:
                if add(item):
                    raise NotExact
            return int(library.regoInputArray(handle, len(value)))
        if kind is bool:
            return int(library.regoInputBoolean(handle, value))
        if kind is int and INT64_MIN <= value <= INT64_MAX:
            return int(library.regoInputInt(handle, value))
        if kind is float and exact_float(value):
            return int(library.regoInputFloat(handle, value))
        if value is None:
            return int(library.regoInputNull(handle))
        raise NotExact

    try:
        if add(input_doc):
            raise NotExact
    except BaseException:
        library.regoFreeInput(handle)
        raise
    return handle


def set_input(interpreter: regopy.Interpreter, input_doc: dict[str, Any]) -> None:
    """Give the interpreter `input_doc` by the fastest exact path (module docstring)."""
    try:
        handle = input_node(input_doc)
    except NotExact:
        interpreter.set_input_term(input_term(input_doc))
        return
    try:
        native.rego_set_input(interpreter._impl, handle)
    finally:
        native.rego.regoFreeInput(handle)


class EmbeddedEngine:
    """PolicyEngine over regopy; same entrypoints and documents as the OPA server."""

    def __init__(
        self,
        policy_dir: str | os.PathLike[str],
        *,
        entrypoints: Iterable[str] = DEFAULT_ENTRYPOINTS,
    ) -> None:
        self._lock = threading.Lock()
        self._compiled = compile_bundle(load_bundle(policy_dir), entrypoints)
        self._interpreter = quiet_interpreter()
        self._closed = False

    @property
    def name(self) -> str:
        return ENGINE_NAME

    @property
    def policy_version(self) -> str:
        return self._compiled.bundle.version

    @property
    def bundle(self) -> PolicyBundle:
        return self._compiled.bundle

    def evaluate(self, entrypoint: str, input_doc: dict[str, Any]) -> EvalResult:
        compiled = self._compiled_for(entrypoint)
        if entrypoint not in compiled.entrypoints:
            return EvalResult(policy_version=compiled.bundle.version, engine=ENGINE_NAME)
        with self._lock:
            if self._closed:
                raise PolicyUnavailable("policy engine is closed")
            try:
                set_input(self._interpreter, input_doc)
                result = query_plan(self._interpreter, compiled.plans, entrypoint)
            except (regopy.RegoError, TypeError, ValueError, RecursionError) as exc:
                raise PolicyUnavailable(f"embedded engine failed: {exc}") from exc
        return EvalResult(
            result=result,
            policy_version=compiled.bundle.version,
            engine=ENGINE_NAME,
        )

    def explain(self, entrypoint: str, input_doc: dict[str, Any]) -> Explanation:
        """The entrypoint's value and the rules that produced it (runtime.policy.explain).

        regopy has no tracer: private copies of the entrypoint's branches and of the rules it
        reads are compiled beside the bundle, and each copy is asked for this input.
        """
        bundle = self._compiled.bundle
        source = PolicySource(bundle.modules)
        result = self.evaluate(entrypoint, input_doc).result
        modules, shadows = shadow_copies(source, entrypoint)
        if not shadows:  # the sources name no such rule
            return Explanation(
                result=result, rules=hits_from(source, entrypoint, Observed(), result)
            )
        try:
            compiled = compile_bundle(
                PolicyBundle(bundle.root, {**bundle.modules, **modules}, bundle.data),
                [shadow.entrypoint for shadow in shadows],
            )
        except PolicyCompileError:
            rules = whole_rule_hits(
                source, entrypoint, result, lambda rule: self.evaluate(rule, input_doc).result
            )
            return Explanation(result=result, rules=rules)
        interpreter = quiet_interpreter()
        values: dict[str, Any] = {}
        with self._lock:
            try:
                set_input(interpreter, input_doc)
            except (regopy.RegoError, TypeError, ValueError, RecursionError) as exc:
                raise PolicyUnavailable(f"embedded engine failed: {exc}") from exc
            for shadow in shadows:
                try:
                    values[shadow.name] = query_plan(interpreter, compiled.plans, shadow.entrypoint)
                except (PolicyUnavailable, regopy.RegoError, ValueError):
                    # A copy the engine cannot evaluate for this input (e.g. a rule the
                    # decision never reached) held nothing that can be shown.
                    continue
        observed = observed_from_shadows(source, entrypoint, shadows, values)
        return Explanation(result=result, rules=hits_from(source, entrypoint, observed, result))

    def reload(self, policy_dir: str | os.PathLike[str] | None = None) -> str:
        """Compile a new bundle aside and swap it in; a broken one raises and changes nothing."""
        current = self._compiled
        compiled = compile_bundle(
            load_bundle(policy_dir or current.bundle.root), current.entrypoints
        )
        with self._lock:
            self._compiled = compiled
        return compiled.bundle.version

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _compiled_for(self, entrypoint: str) -> CompiledPolicy:
        """The current plans, rebuilt once with `entrypoint` if it has no plan yet."""
        compiled = self._compiled
        if entrypoint in compiled.entrypoints:
            return compiled
        try:
            rebuilt = compile_bundle(compiled.bundle, compiled.entrypoints | {entrypoint})
        except PolicyCompileError:
            # An entrypoint naming no rule cannot be planned: it is undefined, as in OPA.
            return compiled
        with self._lock:
            self._compiled = rebuilt
        return rebuilt
