//! `sslmode=require` through rustls against a real server that accepts TLS only: a private
//! cluster (`scripts/pg-cluster.sh start-tls`) with a self-signed certificate made by openssl and
//! password authentication on loopback. The password is never printed, whatever fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{local_store, stderr};
use crate::common::bin;

struct Cluster {
    dir: PathBuf,
    port: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster.sh")
}

/// A password no test input contains by chance.
fn password() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("pw-{:x}-{:x}", std::process::id(), t.as_nanos())
}

fn run(args: &[&str], pgpassword: Option<&str>, secret: &str) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env_remove("FLIGHTLOG_TEAM_URL")
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .env("FLIGHTLOG_HOST", "tls-host")
        .stdin(Stdio::null());
    if let Some(p) = pgpassword {
        c.env("PGPASSWORD", p);
    }
    let out = c.output().unwrap();
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(secret),
            "the password is on {what} of flightlog {args:?}"
        );
    }
    out
}

#[test]
fn sslmode_require_with_a_self_signed_certificate() {
    if super::server().is_none() {
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is missing (.ci/run installs it)"
        );
        eprintln!("skipped: no openssl");
        return;
    }
    let pw = password();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let start = Command::new(script())
        .arg("start-tls")
        .arg(&dir)
        .env("PG_CLUSTER_PASSWORD", &pw)
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", stderr(&start));
    let cluster = Cluster {
        port: std::fs::read_to_string(dir.join("port"))
            .unwrap()
            .trim()
            .to_string(),
        dir,
    };
    let url = |mode: &str| {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode={mode}",
            cluster.port
        )
    };
    let required = url("require");

    let out = run(&["team", "init", &required], Some(&pw), &pw);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A push with the password in the URL itself, then the same bytes read back.
    let (_d, db, ids) = local_store(1, 500);
    let with_password = format!(
        "postgres://postgres:{}@127.0.0.1:{}/postgres?sslmode=require",
        pw, cluster.port
    );
    let out = run(
        &[
            "--db",
            db.to_str().unwrap(),
            "push",
            "--all",
            "--to",
            &with_password,
        ],
        None,
        &pw,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let remote = run(
        &["--db", &required, "show", &ids[0], "--json"],
        Some(&pw),
        &pw,
    );
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = run(
        &["--db", db.to_str().unwrap(), "show", &ids[0], "--json"],
        None,
        &pw,
    );
    assert!(remote.stdout == local.stdout, "show --json differs");
    let v = run(&["--db", &required, "verify", "--all"], Some(&pw), &pw);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );

    // The server takes TLS only: without it the connection is refused, so the ones above were
    // encrypted.
    let out = run(&["--db", &url("disable"), "sessions"], Some(&pw), &pw);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no encryption"), "{}", stderr(&out));
    // A wrong password, in the URL or the environment: refused, and neither is shown.
    let wrong = format!("{pw}-wrong");
    let out = run(&["--db", &required, "sessions"], Some(&wrong), &pw);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("password authentication failed"),
        "{}",
        stderr(&out)
    );
    let out = run(
        &[
            "--db",
            &with_password.replace("/postgres?", "/nosuchdb?"),
            "sessions",
        ],
        None,
        &pw,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
