//! Shell splitting, argv/HTTP/GraphQL/SQL decoding: never panic on any command line.
#![no_main]

use flightlog_analysis::{catalogue, decode, shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let cmds = shell::split(&s);
    for c in &cmds {
        let _ = c.program();
    }
    let argv: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    let _ = shell::from_argv(&argv);
    let _ = decode::decode_argv(&argv);
    let _ = catalogue::match_command(&argv);
    let _ = catalogue::match_sql(&s);
    let _ = decode::graphql_from_body(&s, "application/json");
    let _ = decode::parse_graphql(&s, None, serde_json::Value::Null);
    let _ = decode::percent_decode(&s);
    let _ = decode::strip_credentials(&s);
    if let Some(u) = decode::Url::parse(&s) {
        let _ = u.without_password();
    }
    let _ = decode::decode_http("POST", &s, &[], data);
});
