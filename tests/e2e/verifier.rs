//! The auditor's verifier (`scripts/verify_export.py`, also every bundle's `verify.py`), run
//! with the real python3: every session fixture, a missing or wrong key, empty and
//! multi-session files, the RFC 8032 Ed25519 and RFC 6962 Merkle test vectors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flightlog_formats::checkpoint::sign;
use flightlog_formats::keys::SigningKey;

pub fn python() -> &'static str {
    ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("python3 is needed to run the auditor's verifier")
}

pub fn script() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/verify_export.py"
    ))
}

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(rel)
}

/// `python3 verify_export.py ARGS...`
pub fn run(args: &[&str]) -> Output {
    Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// `python3 verify_export.py ARGS...` exits `code` and says `needle`: what it said.
fn says(args: &[&str], code: i32, needle: &str) -> String {
    let o = run(args);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {out}");
    assert!(out.contains(needle), "{args:?}: {out}");
    out
}

fn test_key() -> String {
    repo("fixtures/keys/test.pub").to_str().unwrap().to_string()
}

#[test]
fn every_session_fixture_gets_its_verdict() {
    let key = test_key();
    let dir = repo("fixtures/sessions");
    let mut seen = 0;
    for (sub, want) in [("valid", 0), ("invalid", 1)] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let o = run(&[p.to_str().unwrap(), &key]);
            let out = stdout(&o);
            assert_eq!(o.status.code(), Some(want), "{}: {out}", p.display());
            assert_eq!(out.contains("INTACT:"), want == 0, "{}: {out}", p.display());
            seen += 1;
        }
    }
    assert_eq!(seen, 9);
    // What each tampering is called.
    for (file, says) in [
        (
            "edited-payload",
            "line 5: the event's hash does not match its bytes (edited)",
        ),
        (
            "deleted-event",
            "line 14: does not link to the event before it",
        ),
        ("reordered", "line 12: does not link"),
        (
            "truncated",
            "does not end with a signed checkpoint (truncated)",
        ),
        ("bad-genesis", "line 1: does not link"),
        (
            "inserted",
            "line 19: checkpoint count is 17, the events give 18",
        ),
    ] {
        let p = dir.join(format!("invalid/{file}.jsonl"));
        let out = stdout(&run(&[p.to_str().unwrap(), &key]));
        assert!(out.contains(says), "{file}: {out}");
    }
}

#[test]
fn fails_closed_without_the_trusted_key() {
    let valid = repo("fixtures/sessions/valid/pocketos.jsonl");
    let valid = valid.to_str().unwrap();
    let good = std::fs::read_to_string(test_key()).unwrap();
    // The key as a file or as hex.
    assert_eq!(run(&[valid, &test_key()]).status.code(), Some(0));
    assert_eq!(run(&[valid, good.trim()]).status.code(), Some(0));
    // No key, or not a key: no verdict.
    for args in [
        vec![valid],
        vec![valid, "not-a-key"],
        vec![valid, &good[..40]],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stdout(&o).contains("NOT VERIFIED"), "{}", stdout(&o));
        assert!(!stdout(&o).contains("INTACT:"));
    }
    // Another key (RFC 8032 test 1's): every checkpoint is refused.
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let out = says(&[valid, other], 1, "not a key you gave");
    assert!(!out.contains("INTACT:"), "{out}");
}

#[test]
fn empty_missing_and_multi_session_files() {
    let d = tempfile::tempdir().unwrap();
    let key = test_key();
    for (name, body) in [("empty.jsonl", ""), ("blank.jsonl", "\n\n  \n")] {
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        says(&[p.to_str().unwrap(), &key], 1, "holds no events (empty)");
    }
    let missing = d.path().join("nope.jsonl");
    says(&[missing.to_str().unwrap(), &key], 1, "does not exist");
    // A directory that is not a bundle.
    says(&[d.path().to_str().unwrap(), &key], 1, "cannot read");
    // Two sessions in one file, and a garbage line among them.
    let valid = repo("fixtures/sessions/valid");
    let two = std::fs::read_to_string(valid.join("minimal.jsonl")).unwrap()
        + &std::fs::read_to_string(valid.join("pocketos.jsonl")).unwrap();
    let p = d.path().join("two.jsonl");
    std::fs::write(&p, &two).unwrap();
    let p = p.to_str().unwrap();
    says(&[p, &key], 0, "INTACT: 21 events in 2 session(s)");
    std::fs::write(p, two.replacen('\n', "\nnot json\n", 1)).unwrap();
    says(&[p, &key], 1, "line 2: not an export line");
    // No temporary files left behind (the script makes none).
    let tmp = d.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let o = Command::new(python())
        .arg(script())
        .arg(valid.join("pocketos.jsonl"))
        .arg(&key)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

/// Calls `function(*args)` of the script, each argument given as hex bytes; prints the result.
fn call(function: &str, args: &[&str]) -> String {
    let code = format!(
        "import importlib.util, sys\n\
         spec = importlib.util.spec_from_file_location('v', sys.argv[1])\n\
         v = importlib.util.module_from_spec(spec); spec.loader.exec_module(v)\n\
         r = v.{function}(*[bytes.fromhex(a) for a in sys.argv[2:]])\n\
         print(r.hex() if isinstance(r, bytes) else r)"
    );
    let o = Command::new(python())
        .arg("-c")
        .arg(code)
        .arg(script())
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stdout(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn verify(public: &str, msg: &str, sig: &str) -> bool {
    match call("ed25519_verify", &[public, msg, sig]).as_str() {
        "True" => true,
        "False" => false,
        other => panic!("{other}"),
    }
}

#[test]
fn ed25519_matches_rfc_8032_test_vectors() {
    // RFC 8032 section 7.1, tests 1, 2, 3 and SHA(abc): (secret, public, message, signature).
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];
    for (secret, public, msg, sig) in vectors {
        // The vectors as written here are the RFC's: ed25519-dalek derives the same key and
        // signature from the secret.
        let mut seed = [0u8; 32];
        hex::decode_to_slice(secret, &mut seed).unwrap();
        let sk = SigningKey::from_bytes(&seed);
        assert_eq!(hex::encode(sk.verifying_key().as_bytes()), public);
        assert_eq!(sign(&sk, &hex::decode(msg).unwrap()), sig);
        assert!(verify(public, msg, sig), "{public} {msg}");
        // One bit flipped in the signature's R or S, or in the message: refused.
        for i in [0, 31, 32, 63] {
            let mut bad = hex::decode(sig).unwrap();
            bad[i] ^= 1;
            assert!(!verify(public, msg, &hex::encode(bad)), "sig byte {i}");
        }
        assert!(!verify(public, &format!("{msg}00"), sig));
    }
    // S >= L (the signature made malleable by adding the group order) is refused.
    let (_, public, msg, sig) = vectors[0];
    let mut s = hex::decode(&sig[64..]).unwrap();
    let l =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
    let mut carry = 0u16;
    for (b, lb) in s.iter_mut().zip(&l) {
        let v = *b as u16 + *lb as u16 + carry;
        *b = v as u8;
        carry = v >> 8;
    }
    assert!(!verify(
        public,
        msg,
        &format!("{}{}", &sig[..64], hex::encode(s))
    ));
    // A public key that is not a point, and wrong lengths.
    assert!(!verify(&"ff".repeat(32), msg, sig));
    assert!(!verify(&public[..62], msg, sig));
    assert!(!verify(public, msg, &sig[..126]));
    // Keys and messages ed25519-dalek made: accepted; with another key's signature: refused.
    for n in 0u8..6 {
        let sk = SigningKey::from_bytes(&[n.wrapping_mul(37).wrapping_add(1); 32]);
        let msg: Vec<u8> = (0..(n as usize * 50))
            .map(|i| (i * 7 + n as usize) as u8)
            .collect();
        let sig = sign(&sk, &msg);
        let public = hex::encode(sk.verifying_key().as_bytes());
        assert!(verify(&public, &hex::encode(&msg), &sig), "key {n}");
        let other = SigningKey::from_bytes(&[200 + n; 32]);
        let wrong = sign(&other, &msg);
        assert!(!verify(&public, &hex::encode(&msg), &wrong), "key {n}");
    }
}

#[test]
fn merkle_root_matches_rfc_6962_reference_tree() {
    use flightlog_formats::merkle::{REFERENCE_LEAVES as LEAVES, REFERENCE_ROOTS as ROOTS};
    for (n, want) in ROOTS.iter().enumerate() {
        // merkle_root takes a list: call it through a tiny wrapper.
        let code = format!(
            "import importlib.util, sys\n\
             spec = importlib.util.spec_from_file_location('v', sys.argv[1])\n\
             v = importlib.util.module_from_spec(spec); spec.loader.exec_module(v)\n\
             print(v.merkle_root([bytes.fromhex(a) for a in {:?}]).hex())",
            &LEAVES[..n]
        );
        let o = Command::new(python())
            .arg("-c")
            .arg(code)
            .arg(script())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            *want,
            "{n} leaves"
        );
    }
}

/// Runs the commands of a bundle README's "Verify offline" steps (the indented `python3` and
/// `flightlog verify` lines), with the placeholders replaced by the auditor's trusted copies.
pub fn readme_steps(bundle: &Path, trusted_key: &Path, flightlog: &Path) -> Vec<(String, Output)> {
    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    let cmds: Vec<String> = readme
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("python3 ") || l.starts_with("flightlog verify "))
        .map(|l| {
            l.replace(
                "/path/to/trusted/verify_export.py",
                script().to_str().unwrap(),
            )
            .replace("/path/to/trusted.pub", trusted_key.to_str().unwrap())
        })
        .collect();
    assert_eq!(cmds.len(), 2, "{readme}");
    cmds.into_iter()
        .map(|c| {
            let c = c.replacen("flightlog ", &format!("{} ", flightlog.display()), 1);
            let o = Command::new("sh")
                .arg("-c")
                .arg(&c)
                .current_dir(bundle)
                .env_remove("FLIGHTLOG_DB")
                .output()
                .unwrap();
            (c, o)
        })
        .collect()
}

#[test]
fn the_script_and_the_bundle_copy_are_one_file() {
    let src = std::fs::read_to_string(repo("interop/src/bundle.rs")).unwrap();
    assert!(src.contains("include_str!(\"../../scripts/verify_export.py\")"));
    let py = std::fs::read_to_string(script()).unwrap();
    let lines = py.lines().count();
    assert!((100..=210).contains(&lines), "{lines} lines");
    // Standard library only, no subprocess (no openssl), no temporary files.
    for line in py.lines().filter(|l| l.starts_with("import ")) {
        assert!(
            [
                "import hashlib",
                "import json",
                "import os",
                "import re",
                "import sys"
            ]
            .contains(&line),
            "{line}"
        );
    }
    assert!(!py.contains("subprocess") && !py.contains("tempfile") && !py.contains("__import__"));
}
