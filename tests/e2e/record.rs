//! `flightlog record` driven as a user drives it: exit codes, signals, the terminal, a killed
//! recorder, and a scripted agent whose commands, files and API calls are recorded.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use flightlog_formats::{Event, Kind, Store};

use crate::common::{
    assert_secret_absent, assert_verifies, bin, flightlog, session_events, session_of, spawn_quiet,
    work_dir,
};

/// `flightlog --db DB record ARGS` run in `dir`, on the real clock.
fn record(dir: &Path, db: &Path, args: &[&str]) -> Output {
    flightlog(db)
        .current_dir(dir)
        .arg("record")
        .args(args)
        .env_remove("FLIGHTLOG_FAKE_NOW")
        .output()
        .unwrap()
}

/// A process is gone when /proc has no entry for it or it is a zombie.
fn gone(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().chars().next()))
            .flatten();
        if matches!(state, None | Some('Z') | Some('X')) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_file(p: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(p)
            && s.ends_with('\n')
        {
            return s.trim().to_string();
        }
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exit_codes_signals_and_output_pass_through() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db/fl.db");
    let out = record(
        d.path(),
        &db,
        &["--", "sh", "-c", "echo out; echo err >&2; exit 3"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("err\n"));
    let evs = session_events(&db, &session_of(&out));
    let terminal: Vec<(String, i64)> = evs
        .iter()
        .filter(|e| e.kind == Kind::Terminal)
        .map(|e| {
            (
                e.data["data"].as_str().unwrap().to_string(),
                e.data["fd"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(terminal.contains(&("out\n".into(), 1)), "{terminal:?}");
    assert!(terminal.contains(&("err\n".into(), 2)), "{terminal:?}");
    let end = evs.iter().find(|e| e.kind == Kind::SessionEnd).unwrap();
    assert_eq!(end.data["exit"], 3);

    // Killed by a signal: 128 + signal, like a shell.
    let out = record(d.path(), &db, &["--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(143));
    let out = record(d.path(), &db, &["--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(137));

    // A command that does not exist is a usage error, and no session is created for it.
    let out = record(d.path(), &db, &["--", "definitely-not-a-command-xyz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("command not found"));
    let store = Store::open_read_only(&db).unwrap();
    assert_eq!(store.sessions().unwrap().len(), 3);
}

#[test]
fn sigterm_to_the_recorder_reaches_the_agent_and_restores_the_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("this test needs util-linux `script` for a terminal");
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let db = dir.join("db/fl.db");
    // Inside `script`, stdin is a terminal: the recorder uses a PTY and raw mode.
    let inner = format!(
        r#"stty -g > before
( while [ ! -s flpid ]; do sleep 0.05; done; sleep 0.3; kill -TERM $(cat flpid) ) &
'{bin}' --db '{db}' record -- sh -c 'echo $PPID > flpid; echo $$ > childpid; stty -a > childstty; exec sleep 30'
echo "$?" > exitcode
stty -g > after
"#,
        bin = bin().display(),
        db = db.display()
    );
    std::fs::write(dir.join("inner.sh"), inner).unwrap();
    let out = Command::new("script")
        .current_dir(dir)
        .args(["-qec", "sh inner.sh", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(wait_for_file(&dir.join("exitcode")), "143");
    let before = std::fs::read_to_string(dir.join("before")).unwrap();
    let after = std::fs::read_to_string(dir.join("after")).unwrap();
    assert!(!before.is_empty());
    assert_eq!(before, after, "the terminal settings were not restored");
    // The agent ran on a terminal of its own, in cooked mode (the user's settings).
    let child_stty = std::fs::read_to_string(dir.join("childstty")).unwrap();
    assert!(
        child_stty.contains(" icanon") && child_stty.contains(" echo"),
        "{child_stty}"
    );
    let child = std::fs::read_to_string(dir.join("childpid")).unwrap();
    assert!(gone(child.trim()), "the agent outlived the recorder");
}

#[test]
fn a_killed_recorder_takes_the_agent_with_it_and_is_sealed_next_time() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let db = dir.join("db/fl.db");
    let mut fl = flightlog(&db);
    fl.current_dir(dir).args([
        "record",
        "--",
        "sh",
        "-c",
        "echo $$ > childpid; exec sleep 30",
    ]);
    let mut fl = spawn_quiet(fl);
    let child = wait_for_file(&dir.join("childpid"));
    std::thread::sleep(Duration::from_millis(200));
    fl.kill().unwrap(); // SIGKILL: nothing can be caught
    fl.wait().unwrap();
    assert!(
        gone(&child),
        "the traced agent must not outlive its recorder (EXITKILL)"
    );
    let out = record(dir, &db, &["--", "true"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sealed 1 session"));
    let store = Store::open_read_only(&db).unwrap();
    let dead = store
        .sessions()
        .unwrap()
        .into_iter()
        .find(|s| s.id != session_of(&out))
        .unwrap();
    let evs = session_events(&db, &dead.id);
    assert!(
        evs.iter()
            .any(|e| e.kind == Kind::Gap && e.data["reason"] == "writer_died"),
        "{evs:#?}"
    );
    assert!(
        evs.iter()
            .any(|e| e.kind == Kind::Exec && e.data["argv"][0] == "sleep")
    );
}

/// Answers each request with a small JSON body; sends what it saw.
fn server() -> (u16, std::sync::mpsc::Receiver<String>) {
    flightlog_fixtures::upstream::json_server("201 Created", r#"{"ok":true}"#).unwrap()
}

/// Requests whose length a server could read differently from the proxy (the shapes request
/// smuggling uses) are refused with 400 before anything reaches the server.
#[test]
fn ambiguously_framed_requests_are_refused_and_never_forwarded() {
    let (_d, dir, db) = work_dir();
    let (port, seen) = server();
    let shapes = [
        "Content-Length : 5\\r\\n",
        "Content-Length: 5\\r\\nContent-Length: 6\\r\\n",
        "Content-Length: 5\\r\\nTransfer-Encoding: chunked\\r\\n",
        "Content-Length: 5x\\r\\n",
    ];
    let mut script = String::from("p=${HTTP_PROXY##*:}; p=${p%/}\n");
    for shape in shapes {
        script.push_str(&format!(
            "exec 3<>/dev/tcp/127.0.0.1/$p; printf 'POST http://127.0.0.1:{port}/x HTTP/1.1\\r\\nHost: h\\r\\n{shape}\\r\\nhello' >&3; head -c 12 <&3; echo; exec 3<&-\n"
        ));
    }
    std::fs::write(dir.join("agent.sh"), script).unwrap();
    let out = record(&dir, &db, &["--", "bash", "agent.sh"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.lines().filter(|l| *l == "HTTP/1.1 400").count(),
        shapes.len(),
        "{said} {out:?}"
    );
    assert!(
        seen.recv_timeout(Duration::from_millis(500)).is_err(),
        "a refused request reached the server"
    );
}

/// Gemini CLI's HTTP client tunnels even `http://` model calls through `HTTP_PROXY` with
/// CONNECT; curl's `--proxytunnel` does the same. The requests inside are recorded with their
/// `http://` URL, bodies and responses, two of them over one kept-alive tunnel.
#[test]
fn plain_http_inside_a_connect_tunnel_is_recorded_request_by_request() {
    let (_d, dir, db) = work_dir();
    let (port, seen) = server();
    let url = format!("http://127.0.0.1:{port}/v1beta/models/m:generateContent");
    let out = record(
        &dir,
        &db,
        &[
            "--",
            "curl",
            "-s",
            "--proxytunnel",
            "-d",
            r#"{"contents":[{"parts":[{"text":"list the volumes"}]}]}"#,
            &url,
            "--next",
            "--proxytunnel",
            &format!("http://127.0.0.1:{port}/v1beta/models"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"ok":true}{"ok":true}"#
    );
    let first = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        first.starts_with("POST /v1beta/models/m:generateContent HTTP/1.1"),
        "{first}"
    );
    let evs = session_events(&db, &session_of(&out));
    let calls: Vec<&Event> = evs
        .iter()
        .filter(|e| e.kind == Kind::ApiCall && e.source == "proxy" && e.data["method"].is_string())
        .collect();
    let methods: Vec<(&str, &str)> = calls
        .iter()
        .map(|e| {
            (
                e.data["method"].as_str().unwrap_or(""),
                e.data["url"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let post = calls
        .iter()
        .find(|e| e.data["method"] == "POST")
        .unwrap_or_else(|| panic!("no POST recorded inside the tunnel: {methods:?}"));
    assert_eq!(post.data["url"], url.as_str(), "{methods:?}");
    assert!(
        post.data["request_body"]
            .to_string()
            .contains("list the volumes"),
        "{post:?}"
    );
    assert!(
        calls.iter().any(|e| e.data["method"] == "GET"
            && e.data["url"] == format!("http://127.0.0.1:{port}/v1beta/models")),
        "{methods:?}"
    );
    let answered = evs
        .iter()
        .filter(|e| e.kind == Kind::ApiCall && e.source == "proxy" && e.data["status"] == 201)
        .count();
    assert_eq!(answered, 2, "{evs:#?}");
    assert_verifies(&db, &session_of(&out));
}

#[test]
fn scripted_agent_commands_files_and_api_calls_are_recorded_without_its_secret() {
    const TOKEN: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQ9xR";
    let (_d, dir, db) = work_dir();
    std::fs::write(dir.join("config.txt"), "mode = slow\n").unwrap();
    std::fs::write(dir.join("scratch.txt"), "temporary\n").unwrap();
    let (port, seen) = server();
    std::fs::write(
        dir.join("agent.sh"),
        format!(
            r#"echo "$FLIGHTLOG_SESSION" > session.txt
sed -i 's/slow/fast/' config.txt
rm scratch.txt
sleep 0.2 &
curl -s -X POST -H "Authorization: Bearer {TOKEN}" -d 'charge=1' http://127.0.0.1:{port}/v1/charges
wait
exit 5
"#
        ),
    )
    .unwrap();
    let out = record(
        &dir,
        &db,
        &[
            "--label", "e2e", "--env", "staging", "--", "bash", "agent.sh",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let session = session_of(&out);
    // Hooks inside the agent would join this session.
    assert_eq!(
        std::fs::read_to_string(dir.join("session.txt"))
            .unwrap()
            .trim(),
        session
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), r#"{"ok":true}"#);
    let req = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        req.starts_with("POST /v1/charges HTTP/1.1") && req.contains(TOKEN),
        "{req}"
    );

    let evs = session_events(&db, &session);
    let start = &evs[0];
    assert_eq!(start.kind, Kind::SessionStart);
    assert_eq!(start.data["label"], "e2e");
    assert_eq!(start.data["home_env"], "staging");
    let argv0: Vec<&str> = evs
        .iter()
        .filter(|e| e.kind == Kind::Exec)
        .filter_map(|e| e.data["argv"][0].as_str())
        .collect();
    for want in ["bash", "sed", "rm", "sleep", "curl"] {
        assert!(argv0.contains(&want), "{want} missing from {argv0:?}");
    }
    let change = |path: &str, op: &str| {
        evs.iter()
            .find(|e| e.kind == Kind::FileChange && e.data["path"] == path && e.data["op"] == op)
            .unwrap_or_else(|| panic!("no {op} of {path}"))
    };
    let diff = |path: &str, op: &str| change(path, op).data["diff"].as_str().unwrap().to_string();
    let modified = diff("config.txt", "modify");
    assert!(
        modified.contains("-mode = slow") && modified.contains("+mode = fast"),
        "{modified}"
    );
    let deleted = diff("scratch.txt", "delete");
    assert!(deleted.contains("-temporary"), "{deleted}");
    change("session.txt", "create");
    assert!(
        !evs.iter()
            .any(|e| e.kind == Kind::FileChange
                && e.data["path"].as_str().unwrap().starts_with("store")),
        "the recorder's own files must not be reported"
    );
    let call = evs
        .iter()
        .find(|e| e.kind == Kind::ApiCall && e.source == "proxy" && e.data["method"] == "POST")
        .expect("the proxied call");
    assert_eq!(call.data["path"], "/v1/charges");
    assert_eq!(call.data["request_body"], "charge=1");
    assert!(
        call.redactions
            .iter()
            .any(|r| r.kind == "bearer-token" || r.kind == "stripe-key")
    );
    let resp = evs
        .iter()
        .find(|e| e.data["response_of_seq"] == call.seq)
        .expect("the response");
    assert_eq!(resp.data["status"], 201);

    assert_secret_absent(&db, TOKEN);
    assert_verifies(&db, &session);
}

#[test]
fn the_guard_stops_a_destructive_crossing_before_it_runs() {
    let (_d, dir, db) = work_dir();
    let (port, seen) = server();
    std::fs::write(
        dir.join("flightlog.toml"),
        "home = \"staging\"\n[environments.production]\nhosts = [\"127.0.0.1\"]\n[guard]\ndeny = [\"destructive-crossing\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("body.json"),
        r#"{"query":"mutation { volumeDelete(volumeId: \"v1\") }"}"#,
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}/graphql/v2");
    // The first call shows its mutation in argv (stopped at exec); the second reads its body
    // from a file, so only the proxy sees it (answered 403).
    std::fs::write(
        dir.join("agent.sh"),
        format!(
            r#"curl -s -H 'Content-Type: application/json' -d '{{"query":"mutation {{ volumeDelete(volumeId: \"v1\") }}"}}' {url}
echo "argv-curl=$?"
curl -s -o /dev/null -w 'file-curl=%{{http_code}}\n' -H 'Content-Type: application/json' -d @body.json {url}
curl -s -o /dev/null -w 'harmless=%{{http_code}}\n' {url}
"#
        ),
    )
    .unwrap();
    let out = record(&dir, &db, &["--guard", "--", "bash", "agent.sh"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("argv-curl=137"), "{stdout}");
    assert!(stdout.contains("file-curl=403"), "{stdout}");
    assert!(stdout.contains("harmless=201"), "{stdout}");
    // The server saw only the harmless GET.
    let first = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(first.starts_with("GET /graphql/v2"), "{first}");
    assert!(seen.recv_timeout(Duration::from_millis(300)).is_err());

    let evs = session_events(&db, &session_of(&out));
    let decisions: Vec<&Event> = evs.iter().filter(|e| e.kind == Kind::Decision).collect();
    assert_eq!(decisions.len(), 2, "{decisions:#?}");
    for (d, layer) in decisions.iter().zip(["ptrace", "proxy"]) {
        assert_eq!(d.data["decision"], "deny");
        assert_eq!(d.data["layer"], layer);
        let target = d.data["target_seq"].as_u64().unwrap();
        assert!(target < d.seq, "the event is on disk before the decision");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("destructive actions"), "{err}");
}

/// Every exec of every descendant is recorded with how it ended: a background job and its
/// child, a grandchild, a process killed by a signal.
#[test]
fn background_jobs_and_grandchildren_are_traced_with_their_exits() {
    let (_d, dir, db) = work_dir();
    std::fs::write(
        dir.join("agent.sh"),
        r#"sh -c 'sleep 0.1; exit 4' &
bash -c 'sh -c "exit 6"; exit 0'
sh -c 'kill -TERM $$'
wait
exit 2
"#,
    )
    .unwrap();
    let out = record(
        &dir,
        &db,
        &["--no-watch", "--no-proxy", "--", "bash", "agent.sh"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let evs = session_events(&db, &session_of(&out));
    let exec = |argv: &[&str]| {
        evs.iter()
            .find(|e| e.kind == Kind::Exec && e.data["argv"] == serde_json::json!(argv))
            .unwrap_or_else(|| panic!("no exec of {argv:?}"))
    };
    let end = |e: &Event| {
        evs.iter()
            .find(|f| f.data["exit_of_seq"] == e.seq)
            .unwrap_or_else(|| panic!("no exit for {}", e.data["argv"]))
    };
    let background = exec(&["sh", "-c", "sleep 0.1; exit 4"]);
    assert_eq!(end(background).data["exit"], 4);
    let sleep = exec(&["sleep", "0.1"]);
    assert_eq!(sleep.data["ppid"], background.data["pid"]);
    assert_eq!(end(sleep).data["exit"], 0);
    let middle = exec(&["bash", "-c", "sh -c \"exit 6\"; exit 0"]);
    let grandchild = exec(&["sh", "-c", "exit 6"]);
    assert_eq!(grandchild.data["ppid"], middle.data["pid"]);
    assert_eq!(end(grandchild).data["exit"], 6);
    assert_eq!(end(middle).data["exit"], 0);
    let killed = end(exec(&["sh", "-c", "kill -TERM $$"]));
    assert_eq!(killed.data["signal"], "SIGTERM");
    assert!(killed.data["exit"].is_null());
    assert_verifies(&db, &session_of(&out));
}

/// Makes `ptrace` fail with EPERM in this process and its children, as a container's seccomp
/// profile does.
#[cfg(target_arch = "x86_64")]
fn refuse_ptrace() -> std::io::Result<()> {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut filter = [
        stmt(load, 4), // seccomp_data.arch
        jeq(AUDIT_ARCH_X86_64, 0, 3),
        stmt(load, 0), // seccomp_data.nr
        jeq(libc::SYS_ptrace as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain system calls on a filter that lives until they return.
    let r = unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            -1
        } else {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        }
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where the kernel refuses ptrace, the agent still runs (untraced), the user is told, and the
/// session has a `gap` instead of exec events.
#[cfg(target_arch = "x86_64")]
#[test]
fn where_ptrace_is_refused_the_agent_runs_untraced_and_a_gap_says_so() {
    use std::os::unix::process::CommandExt;
    let (_d, dir, db) = work_dir();
    let mut cmd = Command::new(bin());
    cmd.current_dir(&dir)
        .arg("--db")
        .arg(&db)
        .args(["record", "--no-watch", "--no-proxy", "--"])
        .args(["sh", "-c", "/bin/true; exit 3"])
        .env_remove("FLIGHTLOG_SESSION")
        .env_remove("FLIGHTLOG_POLICY")
        .env_remove("FLIGHTLOG_FAKE_NOW")
        .stdin(Stdio::null());
    // SAFETY: refuse_ptrace makes only async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(refuse_ptrace);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ptrace is not permitted here (EPERM"), "{err}");
    let evs = session_events(&db, &session_of(&out));
    let gap = evs
        .iter()
        .find(|e| e.kind == Kind::Gap && e.data["reason"] == "ptrace_unavailable")
        .expect("the gap for the untraced run");
    assert_eq!(gap.data["layer"], "ptrace");
    assert!(
        !evs.iter().any(|e| e.kind == Kind::Exec),
        "nothing was traced"
    );
    assert_verifies(&db, &session_of(&out));
}
