//! The two pages a person sees: the login form and the consent form. Every value is escaped;
//! every page carries anti-clickjacking and no-cache headers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;\
padding:0 1rem;color:#1d2433}h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}\
input[type=text],input[type=password]{width:100%;padding:.45rem;box-sizing:border-box}\
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a1141c;font-weight:600}\
ul{padding-left:1.2rem}code{font-size:.95em}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let pairs = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
             base-uri 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn hidden_inputs(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

/// The login form: `username` (kept as typed after a failure), `password`, and the OAuth
/// request in hidden inputs, posted back to `action`.
pub(crate) fn login_page(
    action: &str,
    client_id: &str,
    hidden: &[(String, String)],
    error: Option<&str>,
    username: &str,
) -> Response {
    let (user_focus, password_focus) = if username.is_empty() {
        (" autofocus", "")
    } else {
        ("", " autofocus")
    };
    let error = error
        .map(|message| {
            format!(
                "<p class=\"error\" role=\"alert\">{}</p>\n",
                escape(message)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in to Vigil</h1>\n<p>The application <code>{client}</code> asks to connect \
         to your record.</p>\n{error}<form method=\"post\" action=\"{action}\">\n{hidden}\
         <label for=\"username\">User name</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" required{user_focus}>\n\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required{password_focus}>\n\
         <button type=\"submit\">Sign in</button>\n</form>",
        username = escape(username),
        client = escape(client_id),
        action = escape(action),
        hidden = hidden_inputs(hidden),
    );
    page(StatusCode::OK, "Sign in - Vigil", &body)
}

/// The consent form: the scopes asked for, and buttons `decision=allow` / `decision=deny`.
pub(crate) fn consent_page(
    action: &str,
    client_id: &str,
    username: &str,
    consent_handle: &str,
    scopes: &[String],
) -> Response {
    let items: String = scopes
        .iter()
        .map(|scope| {
            format!(
                "<li><code>{}</code> {}</li>\n",
                escape(scope),
                escape(describe_scope(scope))
            )
        })
        .collect();
    let body = format!(
        "<h1>Allow access?</h1>\n<p>Signed in as <strong>{user}</strong>. The application \
         <code>{client}</code> asks for:</p>\n<ul>\n{items}</ul>\n\
         <form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"consent\" value=\"{handle}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>",
        user = escape(username),
        client = escape(client_id),
        action = escape(action),
        handle = escape(consent_handle),
    );
    page(StatusCode::OK, "Allow access - Vigil", &body)
}

/// A request that cannot be sent back to the app (unknown client, unregistered redirect URI):
/// shown to the person instead of redirecting (RFC 6749 section 4.1.2.1).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>This sign-in request cannot be completed</h1>\n<p class=\"error\">{}</p>",
        escape(message)
    );
    page(status, "Error - Vigil", &body)
}

fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "openid" | "fhirUser" => "(who you are)",
        "launch/patient" => "(your patient record as the context)",
        "offline_access" => "(keep access when you are not using the app)",
        "online_access" => "(keep access while you use the app)",
        _ if scope.starts_with("patient/") => "(data in the patient's record)",
        _ if scope.starts_with("user/") => "(data you can see)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_covers_markup_and_both_quotes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }
}
