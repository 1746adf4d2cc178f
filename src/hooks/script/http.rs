//! The `http` helpers of scripts: `http.get/post/put/delete(url, body?, headers?)` →
//! `#{status, headers, body}`, for the recipes that call an API inline (post to Slack, sync a
//! search index).
//!
//! Only hosts in the binding's `allow_hosts` can be reached, redirects are not followed (so
//! an allowed host cannot bounce a script elsewhere), each call ends by the script's deadline,
//! and bodies are read up to [`MAX_RESPONSE_BYTES`]. A non-2xx status is an answer, not an
//! error: the script decides. A call that gets no answer throws (catch it with `try`).

use std::sync::Arc;

use reqwest::Method;
use rhai::{Dynamic, Engine, EvalAltResult, Map, Position};

use super::convert::{from_json, to_json};
use super::current;
use crate::hooks::webhook::client::{describe, read_body};
use crate::hooks::webhook::MAX_RESPONSE_BYTES;

/// The script variable `http`.
#[derive(Clone)]
pub(super) struct HttpApi {
    client: reqwest::Client,
    allow_hosts: Arc<[String]>,
    runtime: tokio::runtime::Handle,
}

impl HttpApi {
    /// `http` for one run, reaching `allow_hosts` only. Must be called on the runtime.
    pub(super) fn new(client: reqwest::Client, allow_hosts: Arc<[String]>) -> Self {
        Self {
            client,
            allow_hosts,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn call(&self, method: Method, url: &str, body: Dynamic, headers: Dynamic) -> Out {
        let name = method.as_str().to_ascii_lowercase();
        let fail = |message: String| -> Box<EvalAltResult> {
            EvalAltResult::ErrorRuntime(
                Dynamic::from(format!("http.{name}: {message}")),
                Position::NONE,
            )
            .into()
        };
        let parsed = url::Url::parse(url).map_err(|e| fail(format!("invalid URL: {e}")))?;
        check_host(&parsed, &self.allow_hosts).map_err(fail)?;
        let mut request = self.client.request(method, parsed);
        if !headers.is_unit() {
            let map = headers
                .try_cast::<Map>()
                .ok_or_else(|| fail("headers must be a map of names to strings".into()))?;
            for (key, value) in map {
                request = request.header(key.as_str(), value.to_string());
            }
        }
        if body.is_string() {
            request = request.body(body.to_string());
        } else if !body.is_unit() {
            let json = to_json(body).map_err(|e| fail(format!("the body {e}")))?;
            request = request.json(&json);
        }
        let timeout = current::time_left();
        if timeout.is_zero() {
            return Err(fail("the hook's time is up".into()));
        }
        let ms = timeout.as_millis();
        let answer = self.runtime.block_on(async {
            tokio::time::timeout(timeout, async {
                let response = request
                    .timeout(timeout)
                    .send()
                    .await
                    .map_err(|e| describe(&e, ms))?;
                let status = response.status().as_u16();
                let mut headers = Map::new();
                for (name, value) in response.headers() {
                    if let Ok(text) = value.to_str() {
                        headers.insert(name.as_str().into(), text.into());
                    }
                }
                let body = read_body(response, MAX_RESPONSE_BYTES).await?;
                Ok::<_, String>((status, headers, body))
            })
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {ms} ms")))
        });
        let (status, headers, body) = answer.map_err(fail)?;
        let body = match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(json) => from_json(&json),
            Err(_) => Dynamic::from(String::from_utf8_lossy(&body).into_owned()),
        };
        let mut result = Map::new();
        result.insert("status".into(), Dynamic::from(rhai::INT::from(status)));
        result.insert("headers".into(), Dynamic::from_map(headers));
        result.insert("body".into(), body);
        Ok(Dynamic::from_map(result))
    }
}

/// Whether `url` is http(s) to a host the binding allows: `example.com` (any port),
/// `example.com:8080` (that port), `*.example.com` (its subdomains).
fn check_host(url: &url::Url, allowed: &[String]) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("only http and https URLs, not `{}`", url.scheme()));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(0);
    let ok = allowed.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let (name, entry_port) = match entry.rsplit_once(':') {
            Some((name, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                (name.to_string(), p.parse().ok())
            }
            _ => (entry.clone(), None),
        };
        let host_ok = match name.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == name,
        };
        host_ok && entry_port.is_none_or(|p: u16| p == port)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{host}` is not in this hook's `allow_hosts`; add it there to reach it"
        ))
    }
}

type Out = Result<Dynamic, Box<EvalAltResult>>;

/// Registers `http.get/post/put/delete` with 1 to 3 arguments.
pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<HttpApi>("Http");
    for (name, method) in [
        ("get", Method::GET),
        ("post", Method::POST),
        ("put", Method::PUT),
        ("delete", Method::DELETE),
    ] {
        let m = method.clone();
        engine.register_fn(name, move |h: &mut HttpApi, url: &str| -> Out {
            h.call(m.clone(), url, Dynamic::UNIT, Dynamic::UNIT)
        });
        let m = method.clone();
        engine.register_fn(
            name,
            move |h: &mut HttpApi, url: &str, body: Dynamic| -> Out {
                h.call(m.clone(), url, body, Dynamic::UNIT)
            },
        );
        let m = method;
        engine.register_fn(
            name,
            move |h: &mut HttpApi, url: &str, body: Dynamic, headers: Dynamic| -> Out {
                h.call(m.clone(), url, body, headers)
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(url: &str, hosts: &[&str]) -> bool {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        check_host(&url::Url::parse(url).unwrap(), &hosts).is_ok()
    }

    #[test]
    fn only_allowed_hosts_are_reached() {
        assert!(allowed("https://hooks.slack.com/x", &["hooks.slack.com"]));
        assert!(allowed("https://API.example.com/x", &["*.example.com"]));
        assert!(!allowed("https://example.com/x", &["*.example.com"]));
        assert!(!allowed(
            "https://evil.com/hooks.slack.com",
            &["hooks.slack.com"]
        ));
        assert!(allowed("http://127.0.0.1:9000/", &["127.0.0.1:9000"]));
        assert!(!allowed("http://127.0.0.1:9001/", &["127.0.0.1:9000"]));
        assert!(!allowed("http://127.0.0.1:9001/", &[]));
        assert!(!allowed("file:///etc/passwd", &["localhost"]));
    }
}
