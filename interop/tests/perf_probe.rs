#[test]
#[ignore]
fn probe() {
    use flightlog_formats::{Keys, Redactor};
    use serde_json::Value;
    let d = tempfile::tempdir().unwrap();
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/claude-code/4d5611e5-241a-462a-8d15-5122611a9569.jsonl"));
    let keys = Keys::load_or_create(&d.path().join("keys")).unwrap();
    let _red = Redactor::new(keys.fingerprint_key);
    let p = flightlog_interop::import::claude_code::parse_path(path).unwrap();
    fn leaves(v: &Value, out: &mut Vec<String>) { match v { Value::String(s) => out.push(s.clone()), Value::Array(a) => a.iter().for_each(|x| leaves(x, out)), Value::Object(m) => m.values().for_each(|x| leaves(x, out)), _ => {} } }
    let mut all = Vec::new();
    for e in &p.events { leaves(&e.data, &mut all); }
    let joined = all.join("\n");
    let pats = [
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z)",
        r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b",
        r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})\b",
        r"\b(github_pat_[A-Za-z0-9_]{22,255})\b",
        r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,99})\b",
        r"\b(xox[abposr]-[A-Za-z0-9-]{10,250})\b",
        r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
        r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@]{1,256}:([^\s@/]{1,256})@",
        r"(?i)\b(?:authorization\s*:\s*)?bearer\s+([A-Za-z0-9._~+/=-]{8,})",
        r"(?i)\bproject-access-token\s*:\s*([A-Za-z0-9._-]{8,})",
        r#"(?i)\b[A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)[A-Z0-9_]*["']?\s*[:=]\s*["']?([^\s"'`;&|]{6,})"#,
    ];
    for p in pats {
        for variant in [p.to_string(), p.replace(r"\b", r"(?-u:\b)")] {
            let re = regex::Regex::new(&variant).unwrap();
            let t = std::time::Instant::now();
            let n = re.captures_iter(&joined).count();
            eprintln!("{:?} n={n} {}", t.elapsed(), &variant[..variant.len().min(50)]);
        }
    }
}
