"""diffver: verify a diff and scan what it adds before it is merged or read by an agent.

Five lines::

    import diffver
    result = diffver.scan(open("pr.diff", "rb").read(), policy=diffver.Policy.builtin("standard"))
    print(result.decision)                     # "pass", "fail" or "error"
    for f in result.blocking:
        print(f.rule_id, f.path, f.line, f.message)

The engine is diffver's Rust core: the same results and the same signed bytes
as the Rust crate and the ``diffver`` CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional, Union

from . import _native
from ._errors import (
    BaselineError,
    DiffverError,
    LimitExceeded,
    ParseError,
    PolicyError,
    RuleError,
    SignatureError,
)
from ._native import (
    Baseline,
    Diff,
    FilePatch,
    Finding,
    Hunk,
    Keyring,
    Line,
    Policy,
    Ruleset,
    ScanResult,
    Signer,
)

__version__: str = _native.__version__

__all__ = [
    "Baseline",
    "BaselineError",
    "Diff",
    "DiffverError",
    "FilePatch",
    "Finding",
    "Hunk",
    "Keyring",
    "LimitExceeded",
    "Line",
    "ParseError",
    "Policy",
    "PolicyError",
    "RuleError",
    "Ruleset",
    "ScanResult",
    "SignatureError",
    "Signer",
    "Verified",
    "parse",
    "scan",
    "sign",
    "verify",
]


def scan(
    diff: Union[bytes, str],
    *,
    policy: Optional[Policy] = None,
    baseline: Optional[Baseline] = None,
    now: Union[str, datetime, None] = None,
    signer: Optional[Signer] = None,
    rules: Optional[Ruleset] = None,
    scan_id: Optional[str] = None,
    fingerprint_key: Optional[bytes] = None,
    allow_empty: bool = False,
) -> ScanResult:
    """Verify ``diff``, run the rules and decide under ``policy`` (default: ``standard``).

    ``now`` (RFC 3339 text or an aware datetime) pins the scan time; with
    ``scan_id`` and ``signer`` also fixed, ``result.artifact`` is byte-identical
    across runs and to the CLI's ``--artifact``. The GIL is released while
    scanning, and a ``Ruleset`` may be shared by threads.

    Input that is not a diff, a ``diff --cc`` or a broken limit gives decision
    ``"error"`` with ``error_origin == "input"``, blocking under every policy;
    findings before the error are kept. An empty ``diff`` is such an error
    unless ``allow_empty=True``.
    """
    return _native.scan(
        diff,
        policy=policy,
        baseline=baseline,
        now=now,
        signer=signer,
        rules=rules,
        scan_id=scan_id,
        fingerprint_key=fingerprint_key,
        allow_empty=allow_empty,
    )


def parse(
    diff: Union[bytes, str], *, max_bytes: Optional[int] = None, allow_empty: bool = False
) -> Diff:
    """Parse ``diff`` into files, hunks and lines. Raises ParseError or LimitExceeded.

    ``ParseError.kind`` is ``"no-patch"`` for input that holds no patch and
    ``"empty"`` for an empty input (accepted with ``allow_empty=True``).
    """
    return _native.parse(diff, max_bytes=max_bytes, allow_empty=allow_empty)


def sign(result: ScanResult, signer: Signer) -> bytes:
    """The signed verdict of ``result`` (a DSSE envelope, canonical JSON bytes)."""
    return result.sign(signer)


@dataclass(frozen=True)
class Verified:
    """A verified artifact: the signed verdict and who signed it.

    ``mode`` is ``"development"`` when the published development key verified
    it (integrity in transit only, not origin) and ``"operator"`` otherwise.
    """

    verdict: Dict[str, Any]
    key_id: str
    mode: str
    algorithm: str
    subject_sha256: str
    ignored_keyids: List[str]

    @property
    def decision(self) -> str:
        """``pass``, ``fail`` or ``error``."""
        value: str = self.verdict["decision"]
        return value


def verify(envelope: bytes, keys: Keyring, *, diff: Optional[bytes] = None) -> Verified:
    """Verify a signed verdict; with ``diff``, also that it is about that diff.

    Raises SignatureError (``kind`` says which check failed).
    """
    if not isinstance(envelope, (bytes, bytearray)):
        raise TypeError(f"envelope must be bytes, not {type(envelope).__name__}")
    if diff is not None and not isinstance(diff, (bytes, bytearray)):
        raise TypeError(f"diff must be bytes, not {type(diff).__name__}")
    out: Dict[str, Any] = json.loads(
        _native.verify_json(bytes(envelope), keys, None if diff is None else bytes(diff))
    )
    return Verified(
        verdict=out["verdict"],
        key_id=out["key_id"],
        mode=out["mode"],
        algorithm=out["algorithm"],
        subject_sha256=out["subject_sha256"],
        ignored_keyids=list(out["ignored_keyids"]),
    )
