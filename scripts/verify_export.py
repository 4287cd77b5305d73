#!/usr/bin/env python3
"""Check a flightlog export or evidence bundle offline, with Python's standard library only.

usage: python3 verify_export.py BUNDLE_DIR_OR_EVENTS_JSONL PUBLIC_KEY [PUBLIC_KEY ...]

PUBLIC_KEY is a signer's Ed25519 public key (64 hex digits, or a file of them, one per line) from
a channel you trust, not from the bundle; a bundle from a team store needs its host's key and its
exporter's. INTACT (exit 0) only when every signature was checked against a key you gave.
"""
import hashlib
import json
import os
import re
import sys

ZERO = "0" * 64
LINE = re.compile(rb'^\{"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})","event":(.*)\}$')

# --- Ed25519 signature verification, RFC 8032 section 5.1 ---------------------------------
P = 2**255 - 19  # the field prime
L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
D = -121665 * pow(121666, P - 2, P) % P  # the curve constant d
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1

def point_add(a, b):
    """Adds two points in extended coordinates (X, Y, Z, T) (RFC 8032, 5.1.4)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    a, b = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, d = t1 * 2 * D * t2 % P, z1 * 2 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)

def scalar_mult(k, point):
    """k * point, by double-and-add."""
    result = (0, 1, 1, 0)  # the neutral element
    while k:
        if k & 1:
            result = point_add(result, point)
        point, k = point_add(point, point), k >> 1
    return result

def decode_point(s):
    """Decodes a 32-byte point (RFC 8032, 5.1.3); None when it is not a valid point."""
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if len(s) != 32 or y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P  # candidate sqrt(u/v)
    if (v * x * x - u) % P != 0:
        x = x * SQRT_M1 % P
    if (v * x * x - u) % P != 0 or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)

BASE = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))  # y = 4/5, x even

def ed25519_verify(public, message, signature):
    """True when signature (64 bytes) is public's (32 bytes) signature of message."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r, s = decode_point(public), decode_point(signature[:32]), int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    left, right = scalar_mult(8 * s, BASE), scalar_mult(8, point_add(r, scalar_mult(k, a)))
    # [8][S]B == [8]R + [8][k]A: equal x/z and y/z.
    return all((left[i] * right[2] - right[i] * left[2]) % P == 0 for i in (0, 1))

def signed_by(public, message, sig_hex):
    """Checks a hex signature; False for anything malformed."""
    ok = re.fullmatch("[0-9a-f]{128}", sig_hex or "")
    return bool(ok) and ed25519_verify(public, message, bytes.fromhex(sig_hex))

# --- The log: hash chain, RFC 6962 Merkle root, checkpoints --------------------------------
def sha256(b):
    return hashlib.sha256(b).digest()

def merkle_root(leaves):
    """RFC 6962 tree hash; each leaf is an event's 32-byte hash."""
    if len(leaves) <= 1:
        return sha256(b"\x00" + leaves[0]) if leaves else sha256(b"")
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:]))

def read_sessions(path):
    """The export's lines per session, in file order: {session: [(line_no, prev, hash, raw, event)]}."""
    sessions, problems = {}, []
    with open(path, "rb") as f:
        for no, line in enumerate(f.read().split(b"\n"), 1):
            m = LINE.match(line.rstrip(b"\r"))
            event = json_or_none(m.group(3)) if m else None
            if not line.strip():
                continue
            if not isinstance(event, dict):
                problems.append(f"line {no}: not an export line {{\"prev\",\"hash\",\"event\"}}")
                continue
            entry = (no, m.group(1).decode(), m.group(2).decode(), m.group(3), event)
            sessions.setdefault(str(event.get("session")), []).append(entry)
    return sessions, problems

def json_or_none(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None

def check_checkpoint(where, event, hashes, keys):
    """A checkpoint signs {count, head, root, session} over every event before it."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    n = len(hashes)
    statement = {"count": n, "head": hashes[-1].hex() if n else ZERO,
                 "root": merkle_root(hashes).hex(), "session": event.get("session")}
    problems = [f"{where}: checkpoint {k} is {data.get(k)}, the events give {v}"
                for k, v in statement.items() if data.get(k) != v]
    message = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    key = next((k for k in keys if k.hex() == data.get("pubkey")), None)
    if key is None:
        problems.append(f"{where}: checkpoint signed by key {data.get('pubkey')}, not a key you gave")
    elif not signed_by(key, message, data.get("sig")):
        problems.append(f"{where}: checkpoint signature does not verify with the key it names")
    return problems

def check_session(session, lines, keys):
    """The chain links, each event's hash and seq, every checkpoint; the last event must be one."""
    problems, prev, hashes = [], ZERO, []
    for seq, (no, claimed_prev, claimed_hash, raw, event) in enumerate(lines):
        where = f"session {session}, line {no}"
        if claimed_prev != prev:
            problems.append(f"{where}: does not link to the event before it (one removed, moved or inserted)")
        if sha256(bytes.fromhex(claimed_prev) + raw).hex() != claimed_hash:
            problems.append(f"{where}: the event's hash does not match its bytes (edited)")
        if event.get("seq") != seq:
            problems.append(f"{where}: seq {event.get('seq')}, expected {seq}")
        if event.get("kind") == "checkpoint":
            problems += check_checkpoint(where, event, hashes, keys)
        prev = claimed_hash
        hashes.append(bytes.fromhex(claimed_hash))
    if lines[-1][4].get("kind") != "checkpoint":
        problems.append(f"session {session}: does not end with a signed checkpoint (truncated)")
    return problems

def check_manifest(folder, keys):
    """MANIFEST.sig signs MANIFEST; MANIFEST lists every file's SHA-256, none missing or added."""
    try:
        manifest = open(os.path.join(folder, "MANIFEST"), "rb").read()
        sig = open(os.path.join(folder, "MANIFEST.sig")).read().strip()
    except OSError as e:
        return [f"bundle: cannot read {e.filename}"]
    problems = [] if any(signed_by(k, manifest, sig) for k in keys) else ["MANIFEST.sig does not verify with a key you gave"]
    listed = {}
    for line in manifest.decode(errors="replace").splitlines():
        digest, _, name = line.partition("  ")  # the `sha256sum` format
        listed[name] = digest
    for name in sorted(set(os.listdir(folder)) - {"MANIFEST", "MANIFEST.sig"} - set(listed)):
        problems.append(f"{name}: not listed in MANIFEST (added)")
    for name, digest in sorted(listed.items()):
        path = os.path.join(folder, name)
        if "/" in name or not os.path.isfile(path):
            problems.append(f"{name}: listed in MANIFEST but missing")
        elif sha256(open(path, "rb").read()).hex() != digest:
            problems.append(f"{name}: does not match its SHA-256 in MANIFEST (modified)")
    return problems

def read_keys(arg):
    """Trusted keys: 64 hex digits given directly, or a file with one or more, one per line."""
    text = open(arg).read() if os.path.isfile(arg) else arg
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not all(re.fullmatch("[0-9a-fA-F]{64}", line) for line in lines):
        return None
    return [bytes.fromhex(line) for line in lines]

def main(args):
    if len(args) < 2:
        print(__doc__.strip(), file=sys.stderr)
        print("\nNOT VERIFIED: give the export and the public key(s) you trust.", file=sys.stderr)
        return 2
    path, keys = args[0], []
    for arg in args[1:]:
        more = read_keys(arg)
        if more is None:
            print(f"NOT VERIFIED: {arg} is not a public key (64 hex digits) or a file holding them", file=sys.stderr)
            return 2
        keys += [k for k in more if k not in keys]
    problems, checked = [], "chain and checkpoints"
    if os.path.isdir(path):
        problems += check_manifest(path, keys)
        path, checked = os.path.join(path, "events.jsonl"), "MANIFEST, chain and checkpoints"
    sessions = {}
    if not os.path.isfile(path):
        problems.append(f"{path} does not exist (give a bundle directory or a jsonl export)")
    else:
        sessions, bad_lines = read_sessions(path)
        problems += bad_lines + ([] if sessions else [f"{path} holds no events (empty)"])
    for session, lines in sessions.items():
        problems += check_session(session, lines, keys)
        print(f"session {session}: {len(lines)} events checked")
    for p in problems:
        print("FAIL " + p)
    if problems:
        return 1
    events = sum(len(lines) for lines in sessions.values())
    print(f"INTACT: {events} events in {len(sessions)} session(s); {checked} signed by {', '.join(k.hex() for k in keys)}")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
