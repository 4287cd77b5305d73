//! HTTP requests out of command lines and proxy captures, and GraphQL operations out of bodies.
//!
//! - [`decode_argv`]: `curl`, `wget`, HTTPie (`http`, `https`) and `xh` argv into an
//!   [`ApiRequest`] (method, URL, headers, body), seeing through wrappers (`sudo`, `bash -c`).
//! - [`decode_http`]: a request seen by the proxy.
//! - [`parse_graphql`]: operation type, operation name and root fields (aliases resolved,
//!   fragments followed) of a GraphQL document; batched and GET (`?query=`) requests included.
//!
//! Nothing here fails: what cannot be decoded is left out (`None`), never guessed.

use flightlog_formats::payload::{self, ApiCall};
use serde_json::{Map, Value, json};

use crate::shell;

mod curl;
mod graphql;
mod http;
mod httpie;
mod url;
mod wget;

use curl::*;
use graphql::*;
pub use graphql::{graphql_from_body, parse_graphql};
pub use http::decode_http;
use httpie::*;
pub use url::{Url, percent_decode, strip_credentials};
use wget::*;

/// One HTTP request, decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiRequest {
    /// Upper case (`GET`, `POST`, ...).
    pub method: String,
    pub url: String,
    /// Lower case, without port.
    pub host: String,
    /// Path without the query string (`/graphql/v2`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub graphql: Option<GraphQl>,
}

/// A decoded GraphQL operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphQl {
    /// `query`, `mutation` or `subscription`.
    pub operation_type: String,
    pub operation_name: Option<String>,
    /// Root fields of the operation, aliases resolved (`x: volumeDelete` → `volumeDelete`).
    pub root_fields: Vec<String>,
    /// The request's `variables` (`null` when absent).
    pub variables: Value,
}

impl ApiRequest {
    /// The api_call data convention:
    /// `{"method","url","host","path","status","request_headers","request_body","response_body","graphql","via_seq"}`.
    pub fn to_data(&self) -> Value {
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            let k = k.to_ascii_lowercase();
            match headers.get_mut(&k) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k, Value::String(v.clone()));
                }
            }
        }
        json!({
            "method": self.method,
            "url": self.url,
            "host": self.host,
            "path": self.path,
            "status": Value::Null,
            "request_headers": headers,
            "request_body": self.body,
            "response_body": Value::Null,
            "graphql": self.graphql.as_ref().map(GraphQl::to_data),
            "via_seq": Value::Null,
        })
    }

    /// Reads an api_call event's data back (GraphQL re-decoded from the body when the event
    /// has none).
    pub fn from_data(data: &Value) -> Option<ApiRequest> {
        Self::from_payload(&ApiCall::from_value(data))
    }

    /// Reads a typed `api_call` payload back (see [`ApiRequest::from_data`]).
    pub fn from_payload(a: &ApiCall) -> Option<ApiRequest> {
        let url = a.url.as_deref().unwrap_or("");
        let method = a.method.as_deref().unwrap_or("");
        let host = a.host.as_deref();
        if url.is_empty() && host.is_none() && !a.rest.contains_key("host") {
            return None;
        }
        let headers: Vec<(String, String)> = a
            .request_headers
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        let body = a.request_body.as_deref().unwrap_or("");
        let url = if url.is_empty() {
            // CONNECT-only records carry a host (and maybe a port).
            format!("https://{}", host.unwrap_or(""))
        } else {
            url.to_string()
        };
        let mut req = decode_http(method, &url, &headers, body.as_bytes());
        if let Some(h) = host
            && req.host.is_empty()
        {
            req.host = h.to_ascii_lowercase();
        }
        if let Some(g) = &a.graphql {
            req.graphql = Some(GraphQl::from_payload(g));
        }
        Some(req)
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the request changes something: not GET/HEAD/OPTIONS, and not a GraphQL query.
    pub fn is_mutating(&self) -> bool {
        if let Some(g) = &self.graphql {
            return g.operation_type == "mutation";
        }
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "")
    }
}

impl GraphQl {
    pub fn to_data(&self) -> Value {
        json!({
            "operation_type": self.operation_type,
            "operation_name": self.operation_name,
            "root_fields": self.root_fields,
            "variables": self.variables,
        })
    }

    pub fn from_data(v: &Value) -> Option<GraphQl> {
        v.is_object()
            .then(|| GraphQl::from_payload(&payload::GraphQl::from_value(v)))
    }

    /// Reads the typed `graphql` facts of an `api_call` payload.
    pub fn from_payload(g: &payload::GraphQl) -> GraphQl {
        GraphQl {
            operation_type: g.operation_type.clone().unwrap_or_else(|| "query".into()),
            operation_name: g.operation_name.clone(),
            root_fields: g.root_fields.clone().unwrap_or_default(),
            variables: g.variables.clone().unwrap_or(Value::Null),
        }
    }
}

const HTTP_CLIENTS: [&str; 6] = ["curl", "wget", "http", "https", "xh", "xhs"];

/// Decodes an HTTP client's argv (`curl`, `wget`, `http`/`https`, `xh`), seeing through
/// wrappers (`sudo`, `env`, `bash -c '..'`). `None` when the argv is not an HTTP request.
pub fn decode_argv(argv: &[String]) -> Option<ApiRequest> {
    let prog = argv.first().map(|p| shell::basename(p))?;
    if HTTP_CLIENTS.contains(&prog) {
        return decode_client(prog, &argv[1..]);
    }
    shell::from_argv(argv).into_iter().find_map(|c| {
        let p = c.program();
        if HTTP_CLIENTS.contains(&p) {
            decode_client(p, &c.argv[1..])
        } else {
            None
        }
    })
}

fn decode_client(prog: &str, args: &[String]) -> Option<ApiRequest> {
    match prog {
        "curl" => decode_curl(args),
        "wget" => decode_wget(args),
        _ => decode_httpie(prog, args),
    }
}

/// A command-line client's request as [`decode_http`] reads it, with no body (not an empty one)
/// when the command sends none. Without a method of the client's own, a body makes it POST and
/// no body GET.
fn client_request(
    method: Option<String>,
    url: &str,
    headers: &[(String, String)],
    body: Option<String>,
) -> ApiRequest {
    let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
    let mut r = decode_http(
        &method,
        url,
        headers,
        body.as_deref().unwrap_or("").as_bytes(),
    );
    if body.is_none() {
        r.body = None;
    }
    r
}

fn split_header(h: &str) -> Option<(String, String)> {
    let (k, v) = h.split_once(':')?;
    let k = k.trim();
    if k.is_empty() || k.contains(' ') {
        return None;
    }
    Some((k.to_string(), v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::argv as v;

    #[test]
    fn the_incident_curl() {
        let argv = v(&[
            "curl",
            "-X",
            "POST",
            "https://backboard.railway.app/graphql/v2",
            "-H",
            "Authorization: Bearer [REDACTED:bearer-token:0123456789abcdef]",
            "-d",
            r#"{"query":"mutation { volumeDelete(volumeId: \"3d2c42fb-1111-2222-3333-444455556666\") }"}"#,
        ]);
        let r = decode_argv(&argv).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.host, "backboard.railway.app");
        assert_eq!(r.path, "/graphql/v2");
        assert_eq!(
            r.header("authorization"),
            Some("Bearer [REDACTED:bearer-token:0123456789abcdef]")
        );
        let g = r.graphql.clone().unwrap();
        assert_eq!(g.operation_type, "mutation");
        assert_eq!(g.root_fields, v(&["volumeDelete"]));
        assert!(r.is_mutating());
        let d = r.to_data();
        assert_eq!(d["graphql"]["root_fields"][0], "volumeDelete");
        assert_eq!(
            d["request_headers"]["authorization"],
            r.header("Authorization").unwrap()
        );
        assert_eq!(ApiRequest::from_data(&d).unwrap().graphql, r.graphql);
    }

    #[test]
    fn curl_flag_forms() {
        let r = decode_argv(&v(&["curl", "-sSXDELETE", "api.heroku.com/apps/x"])).unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str(), r.path.as_str()),
            ("DELETE", "api.heroku.com", "/apps/x")
        );
        let r = decode_argv(&v(&["curl", "--request=PUT", "--url", "https://a.b/c?d=1"])).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("PUT", "/c"));
        let r = decode_argv(&v(&["curl", "https://a.b/", "--json", r#"{"x":1}"#])).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = decode_argv(&v(&["curl", "-G", "https://a.b/s", "-d", "q=1"])).unwrap();
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("GET", "https://a.b/s?q=1")
        );
        let r = decode_argv(&v(&["curl", "-I", "https://a.b/"])).unwrap();
        assert_eq!(r.method, "HEAD");
        let r = decode_argv(&v(&[
            "sudo",
            "bash",
            "-c",
            "curl -XPOST https://a.b/graphql -d '{\"query\":\"{ me { id } }\"}'",
        ]))
        .unwrap();
        assert_eq!(r.graphql.unwrap().operation_type, "query");
        assert!(decode_argv(&v(&["curl", "--version"])).is_none());
        assert!(decode_argv(&v(&["ls", "-l"])).is_none());
    }

    #[test]
    fn wget_and_httpie() {
        let r = decode_argv(&v(&[
            "wget",
            "-qO-",
            "--method=DELETE",
            "--header=Authorization: Bearer x",
            "https://console.neon.tech/api/v2/projects/p1",
        ]))
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_str()),
            ("DELETE", "console.neon.tech")
        );
        let r = decode_argv(&v(&[
            "wget",
            "--post-data",
            "Action=DeleteDBInstance&SkipFinalSnapshot=true",
            "https://rds.us-east-1.amazonaws.com/",
        ]))
        .unwrap();
        assert_eq!(r.method, "POST");
        let r = decode_argv(&v(&[
            "http",
            "DELETE",
            "api.supabase.com/v1/projects/abc",
            "Authorization:Bearer x",
        ]))
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.url.as_str()),
            ("DELETE", "http://api.supabase.com/v1/projects/abc")
        );
        assert_eq!(r.header("Authorization"), Some("Bearer x"));
        let r = decode_argv(&v(&[
            "https",
            "backboard.railway.com/graphql/v2",
            "query=mutation { a: environmentDelete(id: \"e\") }",
        ]))
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.graphql.unwrap().root_fields, v(&["environmentDelete"]));
        let r = decode_argv(&v(&["xh", ":8080/items", "limit==5"])).unwrap();
        assert_eq!(r.url, "http://localhost:8080/items?limit=5");
    }

    #[test]
    fn graphql_forms() {
        let g = parse_graphql(
            "mutation VolumeInstanceBackupDelete($a: String!, $b: String!) {\n  x: volumeInstanceBackupDelete(volumeInstanceId: $a, volumeInstanceBackupId: $b) { workflowId }\n  # volumeDelete(volumeId: \"no\")\n  serviceDelete(environmentId: \"e\", id: \"s\") @include(if: true)\n}",
            None,
            Value::Null,
        )
        .unwrap();
        assert_eq!(
            g.operation_name.as_deref(),
            Some("VolumeInstanceBackupDelete")
        );
        assert_eq!(
            g.root_fields,
            v(&["volumeInstanceBackupDelete", "serviceDelete"])
        );

        let doc = "query Q { me { id } } mutation M { projectDelete(id: \"p\") } mutation N { ...F } fragment F on Mutation { volumeDelete(volumeId: \"v\") }";
        assert_eq!(
            parse_graphql(doc, Some("Q"), Value::Null)
                .unwrap()
                .operation_type,
            "query"
        );
        assert_eq!(
            parse_graphql(doc, Some("N"), Value::Null)
                .unwrap()
                .root_fields,
            v(&["volumeDelete"])
        );
        assert_eq!(
            parse_graphql(doc, None, Value::Null).unwrap().root_fields,
            v(&["projectDelete"])
        );

        let g = graphql_from_body(r#"{"query":"mutation VolumeDelete($id: String!) { volumeDelete(volumeId: $id) }","variables":{"id":"3d2c42fb-x"},"operationName":"VolumeDelete"}"#, "").unwrap();
        assert_eq!(g.variables["id"], "3d2c42fb-x");
        let g = graphql_from_body(
            r#"[{"query":"{ me { id } }"},{"query":"mutation { environmentDelete(id: \"e\") }"}]"#,
            "",
        )
        .unwrap();
        assert_eq!(g.operation_type, "mutation");
        // A body that is not valid JSON (a shell variable spliced in).
        let g = graphql_from_body(
            r#"{"query":"mutation { volumeDelete(volumeId: \"$VOL\") }", "variables": $VARS}"#,
            "",
        )
        .unwrap();
        assert_eq!(g.root_fields, v(&["volumeDelete"]));
        // String arguments mentioning a mutation are not fields.
        let g = parse_graphql(
            r#"query { search(text: "volumeDelete") { id } }"#,
            None,
            Value::Null,
        )
        .unwrap();
        assert_eq!(g.root_fields, v(&["search"]));
        let r = decode_http(
            "GET",
            "https://x/graphql?query=mutation%20%7B%20projectDelete(id%3A%221%22)%20%7D",
            &[],
            b"",
        );
        assert_eq!(r.graphql.unwrap().root_fields, v(&["projectDelete"]));
    }

    #[test]
    fn urls() {
        let u = Url::parse("postgres://app:[REDACTED:url-password:00]@db.prod.example.com:5432/main?sslmode=require").unwrap();
        assert_eq!(u.host, "db.prod.example.com");
        assert_eq!(
            u.without_password(),
            "postgres://app@db.prod.example.com:5432/main?sslmode=require"
        );
        assert_eq!(Url::parse("[::1]:8080/x").unwrap().host, "::1");
    }
}
