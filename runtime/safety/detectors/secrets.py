"""Secrets detector: credentials and keys, found with the maintained `detect-secrets` plugins.

Owns the choice of plugins, their thresholds, the mapping of their secret types to ours and
the character offsets of each hit. The plugins run in process, one line at a time, through
`analyze_string` (pure regex and entropy work): never through `scan_line`, whose global
settings are not thread-safe, and never through `verify`, which would call the network.
detect-secrets' own false-positive heuristics (UUIDs, sequential strings, templates,
`$VAR` and indirect references) are applied to every candidate.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from detect_secrets.filters import heuristic
from detect_secrets.plugins import (
    artifactory,
    aws,
    azure_storage_key,
    basic_auth,
    discord,
    github_token,
    gitlab_token,
    jwt,
    mailchimp,
    npm,
    openai,
    private_key,
    pypi_token,
    sendgrid,
    slack,
    square_oauth,
    stripe,
    telegram_token,
    twilio,
)
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
from detect_secrets.plugins.keyword import CONFIG_DENYLIST_REGEX_TO_GROUP, KeywordDetector

from runtime.models import Finding, Severity
from runtime.safety.redact import span_finding

# Shannon entropy (bits per char) above which a base64-alphabet string counts as random.
# 4.5 is detect-secrets' own default; unquoted candidates must also be long and mixed-case
# so that words, paths and identifiers do not qualify.
ENTROPY_LIMIT = 4.5
UNQUOTED_MIN_LENGTH = 32
# Lines longer than this are scanned in overlapping windows, so a plugin's regex never runs
# over one huge line: a secret up to WINDOW_OVERLAP chars long lies whole in some window.
LINE_WINDOW = 8192
WINDOW_OVERLAP = 1024

_TYPE_BY_PLUGIN: dict[str, str] = {
    "Private Key": "private_key",
    "GitHub Token": "github_token",
    "GitLab Token": "gitlab_token",
    "Slack Token": "slack_token",
    "Stripe Access Key": "stripe_key",
    "JSON Web Token": "jwt",
    "Basic Auth Credentials": "basic_auth_password",
    "OpenAI Token": "openai_key",
    "Twilio API Key": "twilio_key",
    "SendGrid API Key": "sendgrid_key",
    "NPM tokens": "npm_token",
    "PyPI Token": "pypi_token",
    "Discord Bot Token": "discord_token",
    "Telegram Bot Token": "telegram_token",
    "Mailchimp Access Key": "mailchimp_key",
    "Azure Storage Account access key": "azure_storage_key",
    "Artifactory Credentials": "artifactory_token",
    "Square OAuth Secret": "square_oauth_secret",
    "Base64 High Entropy String": "high_entropy_string",
}

SEVERITY_BY_TYPE: dict[str, Severity] = {
    "private_key": "critical",
    "aws_secret_key": "critical",
    "high_entropy_string": "medium",
    "http_authorization": "high",
    "secret_assignment": "medium",
}
_DEFAULT_SEVERITY: Severity = "high"

# When one hit lies inside another, the more specific one names the span (lower rank wins).
_GENERIC_RANK = {"password": 1, "secret_assignment": 2, "high_entropy_string": 3}

# A line of nothing but spaces and control characters (a run of NUL bytes) holds no secret.
_BLANK = "".join(chr(code) for code in range(0x21)) + "\x7f"
# Every keyword of detect-secrets' KeywordDetector contains one of these (lower case); a
# line without any is not given to its slow patterns.
_KEYWORD_STEMS = ("key", "pass", "pwd", "secret", "contrase")
_AWS_KEY_ID = re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_BASE64_LINE = re.compile(r"[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*\r?$")
# A JWT signature is well under 1 KB; the cap keeps a run of tokens on one line linear.
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-.+/=]{0,2048}")
_UNQUOTED_CANDIDATE = re.compile(
    rf"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/]{{{UNQUOTED_MIN_LENGTH},}}={{0,2}}(?![A-Za-z0-9+/=_\-])"
)
_ATTRIBUTE_CHAIN = re.compile(r"[A-Za-z_]+(?:\.[A-Za-z_]+)+")
# `Authorization: Basic <base64>` / `Bearer <token>`: the credential is the whole value.
_AUTHORIZATION_HEADER = re.compile(
    r"\bAuthorization\s*[:=]\s*[\"']?(?:Basic|Bearer|Token)\s+([A-Za-z0-9._~+/\-]{8,}=*)",
    re.IGNORECASE,
)
# Subresource-integrity digests (`sha512-<base64>`) are public hashes, not secrets.
_INTEGRITY_PREFIX = re.compile(r"sha(?:256|384|512)-$")
_SRI_VALUE = re.compile(r"sha(?:256|384|512)-")
_PASSWORD_KEYWORD = re.compile(r"pass(?:word|wd|phrase)?|pwd", re.IGNORECASE)
# Assignment values that are placeholders or code, not secrets (compared in lower case).
_PLACEHOLDERS = (
    "none null nil true false str string bytes int optional changeme password "
    "secret example xxx xxxx xxxxxx redacted required undefined self os env getpass input"
)
_PLACEHOLDER_VALUES = frozenset(_PLACEHOLDERS.split())


def _plugins() -> list[BasePlugin]:
    """The detect-secrets plugins we trust on free text (no Hex entropy: git SHAs are hex)."""
    return [
        aws.AWSKeyDetector(),
        private_key.PrivateKeyDetector(),
        github_token.GitHubTokenDetector(),
        gitlab_token.GitLabTokenDetector(),
        slack.SlackDetector(),
        stripe.StripeDetector(),
        jwt.JwtTokenDetector(),
        basic_auth.BasicAuthDetector(),
        openai.OpenAIDetector(),
        twilio.TwilioKeyDetector(),
        sendgrid.SendGridDetector(),
        npm.NpmDetector(),
        pypi_token.PypiTokenDetector(),
        discord.DiscordBotTokenDetector(),
        telegram_token.TelegramBotTokenDetector(),
        mailchimp.MailchimpDetector(),
        azure_storage_key.AzureStorageKeyDetector(),
        artifactory.ArtifactoryDetector(),
        square_oauth.SquareOAuthDetector(),
    ]


@dataclass(frozen=True)
class _Hit:
    type: str
    start: int
    end: int


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Each line of `text` with its start offset (newline excluded)."""
    offset = 0
    for line in text.split("\n"):
        yield offset, line
        offset += len(line) + 1


def _occurrences(line: str, value: str) -> Iterator[int]:
    index = line.find(value)
    while index != -1:
        yield index
        index = line.find(value, index + 1)


def _is_false_positive(value: str, line: str, plugin: BasePlugin | None) -> bool:
    """detect-secrets' own heuristics, called directly so no global settings are touched."""
    return bool(
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line, plugin)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
    )


class SecretsDetector:
    """Finds credentials, tokens and private keys; one Finding per occurrence."""

    name = "secrets"

    def __init__(self, entropy_limit: float = ENTROPY_LIMIT) -> None:
        self._plugins = _plugins()
        self._keyword = KeywordDetector()
        self._entropy = Base64HighEntropyString(limit=entropy_limit)
        self._entropy_limit = entropy_limit

    def scan(self, location: str, text: str) -> list[Finding]:
        hits: set[_Hit] = set()
        keys = _PemIndex(text)
        for offset, line in _lines(text):
            if line.strip(_BLANK):
                for start, window in _windows(line):
                    hits.update(self._line_hits(keys, offset + start, window))
        return [
            span_finding(
                text,
                hit.start,
                hit.end,
                type=hit.type,
                detector=self.name,
                location=location,
                severity=SEVERITY_BY_TYPE.get(hit.type, _DEFAULT_SEVERITY),
            )
            for hit in _most_specific(hits)
        ]

    # ------------------------------------------------------------------ per line

    def _line_hits(self, keys: _PemIndex, offset: int, line: str) -> Iterator[_Hit]:
        lowered = line.lower()
        for plugin in self._plugins:
            if not _may_match(plugin, line, lowered):
                continue
            plugin_type = str(plugin.secret_type)
            values = set(_analyze(plugin, line))
            if not values:
                continue
            prefix_ends = _prefix_group_ends(plugin, line)
            for value in values:
                if not value or _is_false_positive(value, line, plugin):
                    continue
                for index in _occurrences(line, value):
                    length = max(len(value), prefix_ends.get(index, 0) - index)
                    yield self._typed_hit(
                        plugin_type, keys, offset + index, line[index : index + length]
                    )
        yield from self._keyword_hits(offset, line)
        for match in _AUTHORIZATION_HEADER.finditer(line):
            yield _Hit("http_authorization", offset + match.start(1), offset + match.end(1))
        yield from self._entropy_hits(offset, line)

    def _typed_hit(self, plugin_type: str, keys: _PemIndex, start: int, value: str) -> _Hit:
        end = start + len(value)
        if plugin_type == "AWS Access Key":
            kind = "aws_access_key" if _AWS_KEY_ID.fullmatch(value) else "aws_secret_key"
            return _Hit(kind, start, end)
        if plugin_type == "Private Key":
            return _Hit("private_key", *keys.span(start))
        if plugin_type == "JSON Web Token":
            # The plugin's pattern stops before the signature; the signature is secret too.
            tail = _TOKEN_TAIL.match(keys.text, end)
            return _Hit("jwt", start, tail.end() if tail else end)
        return _Hit(_TYPE_BY_PLUGIN.get(plugin_type, "secret"), start, end)

    def _keyword_hits(self, offset: int, line: str) -> Iterator[_Hit]:
        lowered = line.lower()
        if not any(stem in lowered for stem in _KEYWORD_STEMS):
            return
        if heuristic.is_indirect_reference(line):
            return
        values = self._keyword.analyze_string(line, CONFIG_DENYLIST_REGEX_TO_GROUP)
        for value in set(values):
            bare = value.strip("'\"")
            if bare == value and value.split():
                # Unquoted, the library's pattern runs to the end of the line: the value is
                # the first word (`--password=X rest of command`).
                bare = value.split()[0]
            if len(bare) < 4 or bare.lower() in _PLACEHOLDER_VALUES:
                continue
            if _is_false_positive(bare, line, self._keyword):
                continue
            if not value.startswith(("'", '"')) and not _plausible_unquoted_value(bare):
                continue
            for index in _occurrences(line, bare):
                before = line[max(0, index - 40) : index]
                kind = "password" if _PASSWORD_KEYWORD.search(before) else "secret_assignment"
                yield _Hit(kind, offset + index, offset + index + len(bare))

    def _entropy_hits(self, offset: int, line: str) -> Iterator[_Hit]:
        candidates = set(_analyze(self._entropy, line))
        candidates.update(
            m.group(0) for m in _UNQUOTED_CANDIDATE.finditer(line) if _mixed_classes(m.group(0))
        )
        for value in candidates:
            if shannon_entropy(value) <= self._entropy_limit:
                continue
            if _is_false_positive(value, line, self._entropy) or _SRI_VALUE.match(value):
                continue
            for index in _occurrences(line, value):
                if _INTEGRITY_PREFIX.search(line, max(0, index - 7), index):
                    continue
                yield _Hit("high_entropy_string", offset + index, offset + index + len(value))


def shannon_entropy(value: str) -> float:
    """Bits per character, as detect-secrets' `calculate_shannon_entropy` computes it for a
    string of its base64 alphabet (every candidate here is one), counted in one pass."""
    if not value:
        return 0.0
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())


# Literal text every pattern of a plugin contains (its denylist in detect-secrets 1.5), as
# (exact, lower-case) substrings: a line holding none of them cannot match, and skipping
# the plugin's regexes there halves the cost of a text with nothing to find. A plugin not
# listed here always runs.
_ANCHORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "AWSKeyDetector": (("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), ("aws",)),
    "PrivateKeyDetector": (("BEGIN", "PuTTY-User-Key-File-2"), ()),
    "GitHubTokenDetector": (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), ()),
    "GitLabTokenDetector": (
        (
            "glpat-",
            "gldt-",
            "glft-",
            "glsoat-",
            "glrt-",
            "GR1348941",
            "glcbt-",
            "glimt-",
            "glptt-",
            "glagent-",
            "gloas-",
        ),
        (),
    ),
    "SlackDetector": ((), ("xox", "hooks.slack.com")),
    "StripeDetector": (("k_live_",), ()),
    "JwtTokenDetector": (("eyJ",), ()),
    "BasicAuthDetector": (("://",), ()),
    "OpenAIDetector": (("T3BlbkFJ",), ()),
    "SendGridDetector": (("SG.",), ()),
    "NpmDetector": ((":_authToken=",), ()),
    "PypiTokenDetector": (("pypi-",), ()),
    "DiscordBotTokenDetector": ((".",), ()),
    "TelegramBotTokenDetector": ((":",), ()),
    "MailchimpDetector": (("-us",), ()),
    "AzureStorageKeyDetector": (("AccountKey=",), ()),
    "SquareOAuthDetector": (("sq0csp-",), ()),
}


def _may_match(plugin: BasePlugin, line: str, lowered: str) -> bool:
    anchors = _ANCHORS.get(type(plugin).__name__)
    if anchors is None:
        return True
    exact, folded = anchors
    return any(a in line for a in exact) or any(a in lowered for a in folded)


def _analyze(plugin: BasePlugin, line: str) -> Iterator[str]:
    result: Any = plugin.analyze_string(line)
    for value in result:
        yield str(value)


def _prefix_group_ends(plugin: BasePlugin, line: str) -> dict[int, int]:
    """Where a plugin's pattern captures only a token's prefix (`(ghp|gho)_...`), the end
    of the whole match, keyed by its start: the secret is the whole token, not the prefix."""
    ends: dict[int, int] = {}
    for pattern in getattr(plugin, "denylist", ()):
        if not pattern.groups:
            continue
        for match in pattern.finditer(line):
            if match.start(1) == match.start():
                ends[match.start()] = max(ends.get(match.start(), 0), match.end())
    return ends


def _plausible_unquoted_value(value: str) -> bool:
    """An unquoted assignment value that could be a literal secret: one token, not a call,
    a type annotation or an attribute chain such as `settings.api_key`."""
    if any(char in value for char in " \t()[]{},;<>") or value.endswith(":"):
        return False
    return not _ATTRIBUTE_CHAIN.fullmatch(value)


def _mixed_classes(value: str) -> bool:
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )


def _windows(line: str) -> Iterator[tuple[int, str]]:
    """The line itself, or overlapping windows of a line longer than LINE_WINDOW."""
    if len(line) <= LINE_WINDOW:
        yield 0, line
        return
    step = LINE_WINDOW - WINDOW_OVERLAP
    for start in range(0, len(line), step):
        yield start, line[start : start + LINE_WINDOW]
        if start + LINE_WINDOW >= len(line):
            return


class _PemIndex:
    """Where private key blocks end, found once per text: finding each key's block must not
    search the rest of the text again for every header (a file of headers would be
    quadratic)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._ends: list[tuple[int, int]] | None = None
        self._body_ends: dict[int, int] = {}
        self._newlines: list[int] | None = None

    def span(self, hit_start: int) -> tuple[int, int]:
        """The whole key block: from its BEGIN line to its END line, or to the end of the
        base64 body of a truncated key."""
        text = self.text
        near = max(0, hit_start - 64)
        window_start = max(near, text.rfind("\n", near, hit_start) + 1)
        begin = _PEM_BEGIN.search(text, window_start, hit_start + 64)
        start = begin.start() if begin and begin.start() <= hit_start + 16 else window_start
        end_marker = self._end_after(start)
        if end_marker is not None:
            return start, end_marker
        return start, self._body_end(hit_start)

    def _end_after(self, start: int) -> int | None:
        if self._ends is None:
            self._ends = [(m.start(), m.end()) for m in _PEM_END.finditer(self.text)]
        index = bisect.bisect_left(self._ends, (start, -1))
        return self._ends[index][1] if index < len(self._ends) else None

    def _body_end(self, hit_start: int) -> int:
        # No END line (truncated key): take the base64 body that follows the header line.
        text = self.text
        end = self._line_end(hit_start)
        if end in self._body_ends:
            return self._body_ends[end]
        line_end = end
        while end < len(text):
            next_end = text.find("\n", end + 1)
            next_end = len(text) if next_end == -1 else next_end
            if not _BASE64_LINE.match(text[end + 1 : next_end]):
                break
            end = next_end
        self._body_ends[line_end] = end
        return end

    def _line_end(self, position: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", self.text)]
        index = bisect.bisect_left(self._newlines, position)
        return self._newlines[index] if index < len(self._newlines) else len(self.text)


def _rank(hit: _Hit) -> int:
    return _GENERIC_RANK.get(hit.type, 0)


_RANKS = range(max(_GENERIC_RANK.values()) + 1)


def _most_specific(hits: set[_Hit]) -> list[_Hit]:
    """Drop hits lying inside another hit that names them better: a specific type beats a
    keyword assignment, which beats raw entropy; at equal rank the wider span wins.

    One sweep over the hits by start (n log n, not all pairs: a file of base64 lines has a
    hit per line). For each rank it keeps the furthest end among hits that start earlier;
    hits that start at the same place are compared within their group.
    """
    by_start: dict[int, list[_Hit]] = {}
    for hit in hits:
        by_start.setdefault(hit.start, []).append(hit)
    reach_before = [-1 for _ in _RANKS]  # furthest end of a hit starting earlier, by rank
    kept: list[_Hit] = []
    for start in sorted(by_start):
        group = by_start[start]
        reach_here = [-1 for _ in _RANKS]
        for hit in group:
            reach_here[_rank(hit)] = max(reach_here[_rank(hit)], hit.end)
        for hit in group:
            rank = _rank(hit)
            better = any(max(reach_before[r], reach_here[r]) >= hit.end for r in range(rank))
            wider = reach_before[rank] >= hit.end or reach_here[rank] > hit.end
            if not (better or wider):
                kept.append(hit)
        reach_before = [max(a, b) for a, b in zip(reach_before, reach_here, strict=True)]
    return sorted(kept, key=lambda h: (h.start, h.end, h.type))
