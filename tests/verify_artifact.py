#!/usr/bin/env python3
"""Independent verifier for diffver signed verdict artifacts (wire format v2).

Written from docs/artifact.md alone, with the standard library and `rfc8785`
(pip): canonical envelope and payload (RFC 8785), DSSE PAE, HMAC-SHA256 and
ECDSA P-256 signatures (verified here in pure Python), the multi-signature
rule, the in-toto Statement, every field's type, the consistency checks, the
signer block against the key that verified, and, with --diff, the subject.

    python3 tests/verify_artifact.py [--key-file F --key-id ID |
        --public-key-file PEM --key-id ID | --allow-development-key]
        [--diff FILE] [--schema docs/verdict-v2.schema.json] [--expect-invalid] ARTIFACT...

Prints one line per artifact. Exit 0 if every artifact verifies (with
--expect-invalid: if every one is rejected), 1 otherwise, 2 on a usage or key
error. --schema also validates the predicate when `jsonschema` is importable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib
import json
import re
import sys
from typing import Any, Callable, NamedTuple, Optional

import rfc8785

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://diffver.dev/verdict/v2"
VERDICT_SCHEMA = "diffver.verdict/v2"
DEV_KEY = b"diffver deterministic development key v1 (public, not a secret)"
DEV_KEY_ID = "diffver-dev-v1"
MIN_HMAC_KEY_BYTES = 32
SCAN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
KEY_ID = re.compile(r"[\x21-\x7e]{1,256}")


class Invalid(Exception):
    """The artifact is rejected (or, before any artifact is read, a key); the message says why."""


def need(ok: bool, why: str) -> None:
    if not ok:
        raise Invalid(why)


# --- ECDSA P-256 (FIPS 186-4 / SEC 1), affine coordinates ---------------------
P = 2**256 - 2**224 + 2**192 + 2**96 - 1
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)
Point = Optional[tuple[int, int]]  # None is the point at infinity
# AlgorithmIdentifier { id-ecPublicKey, prime256v1 }, DER.
EC_P256_ALG = bytes.fromhex("06072a8648ce3d020106082a8648ce3d030107")


def ec_add(p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    lam = ((3 * x1 * x1 - 3) * pow(2 * y1, -1, P) if x1 == x2  # doubling; a = -3
           else (y2 - y1) * pow(x2 - x1, -1, P)) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def ec_mul(k: int, pt: Point) -> Point:
    acc: Point = None
    while k:
        if k & 1:
            acc = ec_add(acc, pt)
        pt, k = ec_add(pt, pt), k >> 1
    return acc


def der_take(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """One DER TLV with `tag` (definite, minimal length): (contents, rest)."""
    need(len(data) >= 2 and data[0] == tag, f"DER: expected tag 0x{tag:02x}")
    n, i = data[1], 2
    if n & 0x80:
        k = n & 0x7F
        need(1 <= k <= 2 and len(data) >= 2 + k, "DER: bad length")
        n, i = int.from_bytes(data[2:2 + k], "big"), 2 + k
        need(n >= 0x80 and (k == 1 or n >= 0x100), "DER: length not minimal")
    need(len(data) >= i + n, "DER: truncated")
    return data[i:i + n], data[i + n:]


def der_uint(data: bytes) -> tuple[int, bytes]:
    body, rest = der_take(data, 0x02)
    need(body != b"" and body[0] < 0x80 and not (body[:1] == b"\0" and len(body) > 1 and body[1] < 0x80),
         "DER: integer negative or not minimal")
    return int.from_bytes(body, "big"), rest


def p256_public_key(pem: str) -> tuple[int, int]:
    """The point of a PEM SubjectPublicKeyInfo holding a P-256 key (SEC 1 point)."""
    m = re.search(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", pem, re.S)
    need(m is not None, "no PEM PUBLIC KEY block")
    spki, rest = der_take(base64.b64decode("".join(m.group(1).split() if m else []), validate=True), 0x30)
    alg, bits = der_take(spki, 0x30)
    bits, tail = der_take(bits, 0x03)
    need(not rest and not tail and alg == EC_P256_ALG, "not an EC P-256 SubjectPublicKeyInfo")
    x = int.from_bytes(bits[2:34], "big")
    if len(bits) == 34 and bits[:2] in (b"\x00\x02", b"\x00\x03"):  # compressed: y from x
        y = pow((x**3 - 3 * x + B) % P, (P + 1) // 4, P)  # a square root, as P = 3 (mod 4)
        y = y if y % 2 == bits[1] % 2 else P - y
    elif len(bits) == 66 and bits[:2] == b"\x00\x04":
        y = int.from_bytes(bits[34:], "big")
    else:
        raise Invalid("not a SEC 1 P-256 point")
    need(x < P and y < P and (y * y - x**3 + 3 * x - B) % P == 0, "the public key is not a point on P-256")
    return x, y


def p256_verify(q: tuple[int, int], message: bytes, sig: bytes) -> bool:
    try:
        seq, rest = der_take(sig, 0x30)
        r, seq = der_uint(seq)
        s, seq = der_uint(seq)
    except Invalid:
        return False
    if rest or seq or not (1 <= r < N and 1 <= s < N):
        return False
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, -1, N)
    pt = ec_add(ec_mul(e * w % N, G), ec_mul(r * w % N, q))
    return pt is not None and pt[0] % N == r


# --- keys ----------------------------------------------------------------------
class Key(NamedTuple):
    key_id: str
    mode: str  # "development" | "operator"
    algorithm: str  # "hmac-sha256" | "ecdsa-p256-sha256"
    verify: Callable[[bytes, bytes], bool]


def hmac_key(key_id: str, key: bytes, mode: str) -> Key:
    def check(msg: bytes, sig: bytes) -> bool:
        return hmac.compare_digest(hmac.new(key, msg, hashlib.sha256).digest(), sig)
    return Key(key_id, mode, "hmac-sha256", check)


def operator_key_id(key_id: str) -> str:
    need(bool(KEY_ID.fullmatch(key_id)) and key_id != DEV_KEY_ID,
         f"key id {key_id!r}: 1-256 printable ASCII, not {DEV_KEY_ID!r}")
    return key_id


# --- encodings -----------------------------------------------------------------
def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d " % (len(t), t, len(payload)) + payload


def b64decode(what: str, s: str) -> bytes:
    """Standard or URL-safe alphabet (not mixed), canonical padding or none."""
    body = s.rstrip("=")
    pad = len(s) - len(body)
    for alt in ("+/", "-_"):
        if not re.fullmatch("[A-Za-z0-9%s]*" % re.escape(alt), body) or len(body) % 4 == 1 \
                or (pad and pad != -len(body) % 4):
            continue
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=alt.encode())
        if base64.b64encode(raw, altchars=alt.encode()).decode().rstrip("=") == body:
            return raw  # (re-encoding rejects non-zero trailing bits)
    raise Invalid(f"{what} is not base64 (standard or URL-safe)")


def canonical_json(what: str, data: bytes) -> Any:
    try:
        value = json.loads(data.decode("utf-8"))
        same = rfc8785.dumps(value) == data
    except Exception as e:  # not UTF-8, not JSON, or outside RFC 8785's domain
        raise Invalid(f"{what} is not JSON: {e}") from None
    need(same, f"{what} is not in canonical JSON form (RFC 8785)")
    return value


# --- shapes (the typed wire structs) ---------------------------------------------
class Opt(NamedTuple):
    """A nullable field."""
    inner: Any


U32, U64 = "u32", "u64"


def shape(spec: Any, v: Any, at: str) -> None:
    """`v` against a shape: str/bool, U32/U64, a tuple of allowed strings, [item],
    {field: shape} (exactly those fields; "*" for any key), or Opt(shape)."""
    if isinstance(spec, Opt):
        if v is not None:
            shape(spec.inner, v, at)
    elif isinstance(spec, tuple):
        need(type(v) is str and v in spec, f"{at}: {json.dumps(v)[:40]} is not one of {spec}")
    elif isinstance(spec, list):
        need(type(v) is list, f"{at}: not an array")
        for i, x in enumerate(v):
            shape(spec[0], x, f"{at}[{i}]")
    elif isinstance(spec, dict):
        need(type(v) is dict and ("*" in spec or set(v) == set(spec)),
             f"{at}: expected an object with exactly {sorted(spec)}")
        for k, x in v.items():
            shape(spec.get(k, spec.get("*")), x, f"{at}.{k}")
    elif spec in (U32, U64):  # exact types: a bool is not an integer here
        hi = 2**32 - 1 if spec == U32 else 2**64 - 1
        need(type(v) is int and 0 <= v <= hi, f"{at}: {json.dumps(v)[:40]} is not an integer in 0..{hi}")
    else:
        need(type(v) is spec, f"{at}: {json.dumps(v)[:40]} is not a {spec.__name__}")


ENVELOPE = {"payload": str, "payloadType": str, "signatures": [{"keyid": str, "sig": str}]}
FINDING = {
    "rule_id": str, "title": str, "confidence": ("low", "medium", "high"),
    "category": ("integrity", "path-safety", "mode-hazard", "opaque-content", "terminal-escape", "apply",
                 "prompt-injection", "hidden-unicode", "secret", "ci-injection", "code-exec"),
    "severity": ("info", "low", "medium", "high", "critical"), "action": ("block", "warn", "off"),
    "blocking": bool, "suppression": Opt({"kind": ("exception", "baseline", "inline-comment"), "justification": str}),
    "path": Opt(str), "raw_path": Opt(str), "side": ("new", "old", "diff"), "line": Opt(U32), "column": Opt(U32),
    "byte_column": Opt(U32), "offset": U64, "length": U64, "message": str, "evidence": Opt(str),
    "decoding": [str], "fingerprint": str}
PREDICATE = {
    "schema": str, "scan_id": str, "scanned_at": str, "decision": ("pass", "fail", "error"), "blocks": bool,
    "error": Opt({"kind": ("input", "internal"), "message": str}),
    "signer": Opt({"key_id": str, "mode": ("development", "operator"),
                   "algorithm": ("hmac-sha256", "ecdsa-p256-sha256")}),
    "tool": {"name": str, "version": str}, "policy": {"id": str, "version": str, "sha256": str},
    "ruleset": {"sha256": str, "rules": U64},
    "diff": {"sha256": str, "bytes": U64, "files": U64, "added": U64, "removed": U64},
    "summary": {"findings": U64, "blocking": U64, "warnings": U64, "suppressed": U64, "off": U64},
    "findings": [FINDING], "expired_exceptions": [str],
    "post_images": [{"path": str, "blob_id": str, "sha256": str, "size": U64}]}
STATEMENT = {"_type": str, "subject": [{"name": str, "digest": {"*": str}}], "predicateType": str,
             "predicate": PREDICATE}


def check_time(t: str) -> None:  # parsed by hand: datetime has no year 0
    m = TIME.fullmatch(t)
    need(m is not None, f"scanned_at {t!r} is not YYYY-MM-DDThh:mm:ssZ")
    y, mo, d, h, mi, s = map(int, m.groups() if m else ())
    feb = 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    days = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    need(1 <= mo <= 12 and 1 <= d <= days[mo - 1] and h < 24 and mi < 60 and s < 60,
         f"scanned_at {t!r} is not a valid UTC time")


def check_predicate(v: dict[str, Any]) -> None:
    """The consistency checks of the specification, in its order."""
    need(v["schema"] == VERDICT_SCHEMA, f"schema {v['schema']!r} is not {VERDICT_SCHEMA!r}")
    need(SCAN_ID.fullmatch(v["scan_id"]) is not None, f"scan id {v['scan_id']!r} is outside the alphabet")
    check_time(v["scanned_at"])
    fs = v["findings"]
    for i, f in enumerate(fs):
        need(f["blocking"] == (f["action"] == "block" and f["suppression"] is None),
             f"finding {i} ({f['rule_id']}): blocking disagrees with action/suppression")
    unsuppressed = [f["action"] for f in fs if f["suppression"] is None]
    want = {"findings": len(fs), "blocking": sum(f["blocking"] for f in fs),
            "warnings": unsuppressed.count("warn"), "suppressed": len(fs) - len(unsuppressed),
            "off": unsuppressed.count("off")}
    need(v["summary"] == want, "the summary does not match the findings")
    decision, error, blocks, any_blocking = v["decision"], v["error"], v["blocks"], want["blocking"] > 0
    need(decision != "error" or error is not None, "decision error without an error")
    need(decision == "error" or error is None, f"decision {decision} carries an error")
    need(decision != "pass" or not (any_blocking or blocks), "decision pass with blocking findings")
    need(decision != "fail" or (any_blocking and blocks), "decision fail without blocking findings")
    need(error is None or error["kind"] != "input" or blocks, "an input error that does not block")


def check_statement(st: Any) -> dict[str, Any]:
    shape(STATEMENT, st, "statement")
    need(st["_type"] == STATEMENT_TYPE, f"statement type {st['_type']!r}")
    need(st["predicateType"] == PREDICATE_TYPE,
         f"predicate type {st['predicateType']!r} is not {PREDICATE_TYPE!r}")
    v: dict[str, Any] = st["predicate"]
    check_predicate(v)
    need(len(st["subject"]) == 1, f"{len(st['subject'])} subjects; a verdict has exactly one")
    subject = st["subject"][0]
    need(subject["digest"] == {"sha256": v["diff"]["sha256"]}, "the subject digest does not match the verdict's diff")
    need(subject["name"] == f"diffs/{v['scan_id']}.patch",
         f"the subject name {subject['name']!r} is not diffs/<scan_id>.patch")
    need(v["signer"] is not None, "the predicate names no signer")
    return v


def verify(data: bytes, keys: dict[str, Key]) -> tuple[Key, dict[str, Any], list[str]]:
    """Section 8 of the specification: (the key that verified, the verdict, ignored key ids)."""
    env = canonical_json("the envelope", data)
    shape(ENVELOPE, env, "envelope")
    need(env["payloadType"] == PAYLOAD_TYPE, f"payload type {env['payloadType']!r} is not {PAYLOAD_TYPE!r}")
    payload = b64decode("the payload", env["payload"])
    message = pae(env["payloadType"], payload)
    verified: list[Key] = []
    ignored: list[str] = []
    for i, s in enumerate(env["signatures"]):
        need(all(t["keyid"] != s["keyid"] for t in env["signatures"][:i]), f"key id {s['keyid']!r} signs twice")
        sig = b64decode("a signature", s["sig"])
        known = keys.get(s["keyid"])  # a known key decides, and its failure rejects
        need(known is None or known.verify(message, sig), f"signature by known key {s['keyid']!r} does not match")
        # An empty keyid is tried against every key (in key-id order); an unknown one is ignored.
        hit = [known] if known else [keys[i] for i in sorted(keys) if not s["keyid"] and keys[i].verify(message, sig)][:1]
        verified += hit
        ignored += [] if hit else [s["keyid"]]
    need(bool(verified), f"no signature by a known key (keyids {[s['keyid'] for s in env['signatures']]})")
    v = check_statement(canonical_json("the payload", payload))
    claimed = (v["signer"]["key_id"], v["signer"]["mode"], v["signer"]["algorithm"])
    for k in verified:
        if (k.key_id, k.mode, k.algorithm) == claimed:
            return k, v, ignored
    k = verified[0]
    raise Invalid(f"the predicate names signer {claimed} but it verified with {(k.key_id, k.mode, k.algorithm)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--key-file", help="operator HMAC key (trailing CR/LF stripped, >= 32 bytes)")
    src.add_argument("--public-key-file", help="PEM ECDSA P-256 public key (SubjectPublicKeyInfo)")
    src.add_argument("--allow-development-key", action="store_true")
    ap.add_argument("--key-id", default="operator")
    ap.add_argument("--diff", help="the diff the artifacts must be about")
    ap.add_argument("--schema", help="JSON Schema to validate the predicate with (needs jsonschema)")
    ap.add_argument("--expect-invalid", action="store_true", help="succeed only if every artifact is rejected")
    ap.add_argument("artifacts", nargs="+")
    a = ap.parse_args()
    try:
        if a.allow_development_key:
            key = hmac_key(DEV_KEY_ID, DEV_KEY, "development")
        elif a.key_file:
            with open(a.key_file, "rb") as fh:
                secret = fh.read().rstrip(b"\r\n")
            need(len(secret) >= MIN_HMAC_KEY_BYTES, f"the HMAC key is {len(secret)} bytes; at least 32 are required")
            need(secret != DEV_KEY, "the published development key cannot be an operator key")
            key = hmac_key(operator_key_id(a.key_id), secret, "operator")
        else:
            with open(a.public_key_file, encoding="ascii") as fh:
                q = p256_public_key(fh.read())
            key = Key(operator_key_id(a.key_id), "operator", "ecdsa-p256-sha256",
                      lambda m, s: p256_verify(q, m, s))
        digest = None
        if a.diff:
            with open(a.diff, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        validator: Any = None
        if a.schema:
            try:
                jsonschema = importlib.import_module("jsonschema")
            except ImportError:
                print("note: jsonschema is not installed; --schema skipped", file=sys.stderr)
            else:
                with open(a.schema, encoding="utf-8") as fh:
                    validator = jsonschema.Draft202012Validator(json.load(fh))
    except (OSError, ValueError, Invalid) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ok = True
    for path in a.artifacts:
        try:
            with open(path, "rb") as fh:
                k, v, ignored = verify(fh.read(), {key.key_id: key})
            need(digest in (None, v["diff"]["sha256"]), f"the artifact is about diff sha256 {v['diff']['sha256']}, not {digest}")
            for err in list(validator.iter_errors(v))[:1] if validator else []:
                raise Invalid(f"schema: {'/'.join(map(str, err.absolute_path))}: {err.message[:200]}")
            line = (f"valid: {path}: signed by {k.key_id} ({k.mode}, {k.algorithm}); scan {v['scan_id']} "
                    f"decided {v['decision']}; diff sha256 {v['diff']['sha256']}"
                    + (f"; ignored signatures by {ignored}" if ignored else "")
                    + ("; DEVELOPMENT key: proves integrity, not origin" if k.mode == "development" else ""))
            ok &= not a.expect_invalid
        except (OSError, Invalid) as e:
            line = f"invalid: {path}: {e}"
            ok &= a.expect_invalid
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
