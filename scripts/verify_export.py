#!/usr/bin/env python3
"""Verify a flightlog jsonl export offline: python3 verify_export.py events.jsonl [checkpoint.pub]"""
import hashlib, json, os, re, shutil, subprocess, sys, tempfile
H = lambda b: hashlib.sha256(b).digest()
def mth(l): k = 1 << ((len(l) - 1).bit_length() - 1) if len(l) > 1 else 0; return H(b"") if not l else H(b"\0" + l[0]) if len(l) == 1 else H(b"\1" + mth(l[:k]) + mth(l[k:]))
LINE, prev, hs, bad = re.compile(rb'^\{"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})","event":(.*)\}$'), "0" * 64, [], []
for i, raw in enumerate(l for l in open(sys.argv[1], "rb").read().split(b"\n") if l.strip()):
    m = LINE.match(raw)
    if not m: sys.exit(f"FAIL line {i + 1}: not an export line")
    p, h, ev = m.group(1).decode(), m.group(2).decode(), m.group(3); e = json.loads(ev)
    if p != prev: bad.append(f"seq {i}: broken link")
    if hashlib.sha256(bytes.fromhex(p) + ev).hexdigest() != h: bad.append(f"seq {i}: hash mismatch (edited)")
    if e["seq"] != i: bad.append(f"line {i + 1}: seq {e['seq']}, expected {i}")
    prev = h; hs.append(h)
if e["kind"] != "checkpoint": sys.exit("FAIL: the export does not end with a checkpoint (truncated?)")
d, n = e["data"], len(hs) - 1
want = {"count": n, "head": hs[n - 1] if n else "0" * 64, "root": mth([bytes.fromhex(x) for x in hs[:n]]).hex(), "session": e["session"]}
bad += [f"checkpoint {k} is {d.get(k)}, computed {v}" for k, v in want.items() if d.get(k) != v]
pub = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else d["pubkey"]
if pub != d["pubkey"]: bad.append("checkpoint signed by another key than the one given")
if shutil.which("openssl"):
    t = tempfile.mkdtemp(); f = lambda n, b: (open(os.path.join(t, n), "wb").write(b), os.path.join(t, n))[1]
    pem = f("k.pem", b"-----BEGIN PUBLIC KEY-----\n" + __import__("base64").b64encode(bytes.fromhex("302a300506032b6570032100" + pub)) + b"\n-----END PUBLIC KEY-----\n")
    msg, sig = f("m", json.dumps(want, sort_keys=True, separators=(",", ":")).encode()), f("s", bytes.fromhex(d["sig"]))
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-in", msg, "-sigfile", sig], capture_output=True)
    bad += [] if r.returncode == 0 else ["checkpoint signature does not verify"]; print("signature checked with openssl")
else: print("signature not checked (openssl not found)")
print("\n".join(["FAIL " + b for b in bad] or [f"OK: {len(hs)} events, chain and checkpoint intact"])); sys.exit(1 if bad else 0)
