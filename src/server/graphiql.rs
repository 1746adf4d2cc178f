//! GraphiQL for browsers at `GET /graphql`.
//!
//! Its scripts are pinned to exact versions with Subresource Integrity hashes, so a CDN
//! change can never break or alter the page. For hosts without internet, set
//! `HOOKQL_GRAPHIQL_ASSETS` to a `node_modules` folder holding the same versions; the page then
//! loads them from `/graphiql/assets/…` (the same integrity hashes still apply).

use std::path::Path;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

/// One pinned file of an npm package.
struct Asset {
    package: &'static str,
    version: &'static str,
    path: &'static str,
    integrity: &'static str,
}

/// Where the CDN serves npm packages' files unchanged.
const CDN: &str = "https://cdn.jsdelivr.net/npm";

/// The exact files GraphiQL needs. Hashes are of the files as published on npm.
const ASSETS: [Asset; 5] = [
    Asset {
        package: "react",
        version: "18.3.1",
        path: "umd/react.production.min.js",
        integrity: "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
    },
    Asset {
        package: "react-dom",
        version: "18.3.1",
        path: "umd/react-dom.production.min.js",
        integrity: "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
    },
    Asset {
        package: "graphql-ws",
        version: "5.16.2",
        path: "umd/graphql-ws.min.js",
        integrity: "sha384-+EVxFEOpy8LWPRQcpntm0FKN2O+BzrMNSL0G3HIgVWFmeb6xqZqjuLivrQUTXZKi",
    },
    Asset {
        package: "graphiql",
        version: "3.9.0",
        path: "graphiql.min.js",
        integrity: "sha384-8NGfVj4CVlqHajlZj+bPJT4thxPMHMJYn7DWK2CvtopLd02E7qsPHazniBYvVjOO",
    },
    Asset {
        package: "graphiql",
        version: "3.9.0",
        path: "graphiql.min.css",
        integrity: "sha384-QMux00XgRtwRLSYIY3kw2rj1ovk5AuuliAchk+HSQbqdbGFnz9GYuqIlOqxhwCE2",
    },
];

const EXAMPLE_QUERY: &str = r#"# Welcome to hookql. Press run and pick an operation.
#
# Most collections want a signed-in caller: run SignUp (or SignIn), copy the accessToken,
# and put {"Authorization": "Bearer <accessToken>"} in the Headers tab below.
mutation SignUp {
  register(email: "me@example.com", password: "choose a long one") {
    accessToken
    refreshToken
    user { id email role }
  }
}

mutation SignIn {
  login(email: "me@example.com", password: "choose a long one") {
    accessToken
    refreshToken
  }
}

mutation Create {
  createDocument(
    collection: "posts"
    data: { title: "Hello", views: 1 }
  ) {
    id
    version
    data
  }
}

query List {
  documents(
    collection: "posts"
    filter: { views: { _gte: 1 } }
    sort: [{ field: "createdAt", direction: DESC }]
    limit: 10
  ) {
    totalCount
    items { id data createdAt }
  }
}

# Run Watch, then Create in another tab: changes arrive over the WebSocket.
subscription Watch {
  documentChanged(collection: "posts") {
    type
    document { id data version }
    oldData
  }
}
"#;

/// The GraphiQL page.
pub fn page(offline: bool) -> String {
    let url = |a: &Asset| {
        if offline {
            format!("/graphiql/assets/{}/{}", a.package, a.path)
        } else {
            format!("{CDN}/{}@{}/{}", a.package, a.version, a.path)
        }
    };
    let mut tags = String::new();
    for asset in &ASSETS {
        if asset.path.ends_with(".css") {
            tags.push_str(&format!(
                r#"<link rel="stylesheet" href="{}" integrity="{}" crossorigin="anonymous">"#,
                url(asset),
                asset.integrity
            ));
        } else {
            tags.push_str(&format!(
                r#"<script src="{}" integrity="{}" crossorigin="anonymous"></script>"#,
                url(asset),
                asset.integrity
            ));
        }
        tags.push('\n');
    }
    let query = serde_json::to_string(EXAMPLE_QUERY).unwrap_or_else(|_| "\"\"".into());
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hookql GraphiQL</title>
<style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
{tags}</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script>
  const http = new URL("/graphql", window.location.href).href;
  const ws = http.replace(/^http/, "ws");
  // Subscriptions sign in with the Headers tab's Authorization, sent in connection_init.
  const headers = () => {{
    try {{ return JSON.parse(localStorage.getItem("graphiql:headers") || "{{}}") || {{}}; }} catch (e) {{ return {{}}; }}
  }};
  const wsClient = graphqlWs.createClient({{ url: ws, lazy: true, connectionParams: headers }});
  const fetcher = GraphiQL.createFetcher({{ url: http, wsClient }});
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {{ fetcher, defaultQuery: {query}, shouldPersistHeaders: true }})
  );
</script>
</body>
</html>
"#
    )
}

/// Serves one pinned asset from the offline folder; only the listed files, never other paths.
pub async fn asset(
    State(state): State<AppState>,
    UrlPath((package, path)): UrlPath<(String, String)>,
) -> Response {
    let Some(root) = state.settings().graphiql_assets.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "offline GraphiQL assets are not configured (HOOKQL_GRAPHIQL_ASSETS)",
        )
            .into_response();
    };
    let Some(asset) = ASSETS
        .iter()
        .find(|a| a.package == package && a.path == path)
    else {
        return (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response();
    };
    let file = Path::new(&root).join(asset.package).join(asset.path);
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let content_type = if asset.path.ends_with(".css") {
                "text/css; charset=utf-8"
            } else {
                "text/javascript; charset=utf-8"
            };
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "GraphiQL asset missing in HOOKQL_GRAPHIQL_ASSETS");
            (
                StatusCode::NOT_FOUND,
                format!(
                    "{}@{} is not installed in the GraphiQL assets folder",
                    asset.package, asset.version
                ),
            )
                .into_response()
        }
    }
}

/// The page as an HTML response.
pub fn response(state: &AppState) -> Response {
    Html(page(state.settings().graphiql_assets.is_some())).into_response()
}
