//! A request seen on the wire (the proxy) into an [`ApiRequest`].

use super::*;

/// Builds an [`ApiRequest`] from a request seen on the wire (or reconstructed), decoding GraphQL
/// when the body or query string carries an operation.
pub fn decode_http(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> ApiRequest {
    let parsed = Url::parse(url);
    let body_text = String::from_utf8_lossy(body).into_owned();
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let mut graphql = graphql_from_body(&body_text, &content_type);
    if graphql.is_none()
        && let Some(q) = parsed.as_ref().and_then(|u| u.query.as_deref())
    {
        graphql = graphql_from_query_string(q);
    }
    ApiRequest {
        method: if method.is_empty() {
            "GET".into()
        } else {
            method.to_ascii_uppercase()
        },
        url: url.to_string(),
        host: parsed.as_ref().map(|u| u.host.clone()).unwrap_or_default(),
        path: parsed.as_ref().map(|u| u.path.clone()).unwrap_or_default(),
        headers: headers.to_vec(),
        body: if body.is_empty() {
            None
        } else {
            Some(body_text)
        },
        graphql,
    }
}
