//! The test harness: a server in a temporary data directory, registered users and clients,
//! HTTP helpers, and the browser side of a launch (form scraping, PKCE).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use vigil_auth::{
    Admin, AuthConfig, AuthEvents, AuthServer, ClientCredential, LoginFailure, ManualClock,
    NewClient, NewUser, Subject,
};

pub const BASE: &str = "https://vigil.test/fhir";
pub const REDIRECT: &str = "https://app.test/callback";
pub const ALICE_PASSWORD: &str = "alice-correct-horse";
pub const BOB_PASSWORD: &str = "bob-battery-staple";
pub const CONF_SECRET: &str = "conf-secret-value-0123456789";
pub const BACKEND_SECRET: &str = "backend-secret-value-0123456789";
pub const APP_SCOPES: &str = "launch/patient openid fhirUser patient/*.rs patient/Observation.read offline_access online_access";

/// Events recorded as text, to check what the audit trail would receive.
#[derive(Default)]
pub struct RecordedEvents(pub Mutex<Vec<String>>);

impl RecordedEvents {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("events lock").clone()
    }
}

impl AuthEvents for RecordedEvents {
    fn login_succeeded(&self, username: &str, client_id: &str, peer: Option<SocketAddr>) {
        self.0
            .lock()
            .expect("events lock")
            .push(format!("login ok {username} {client_id} {peer:?}"));
    }

    fn login_failed(
        &self,
        username: &str,
        client_id: &str,
        peer: Option<SocketAddr>,
        reason: LoginFailure,
    ) {
        self.0.lock().expect("events lock").push(format!(
            "login failed {username} {client_id} {peer:?} {reason:?}"
        ));
    }

    fn token_issued(&self, client_id: &str, subject: &Subject, scopes: &[String], grant: &str) {
        self.0.lock().expect("events lock").push(format!(
            "token {client_id} {subject:?} {} {grant}",
            scopes.join(" ")
        ));
    }

    fn token_refused(
        &self,
        client_id: Option<&str>,
        grant_type: Option<&str>,
        error: &str,
        _peer: Option<SocketAddr>,
    ) {
        self.0
            .lock()
            .expect("events lock")
            .push(format!("refused {client_id:?} {grant_type:?} {error}"));
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub server: Arc<AuthServer>,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    pub events: Arc<RecordedEvents>,
    pub admin: Admin,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The query parameters of the Location header.
    pub fn location_params(&self) -> Vec<(String, String)> {
        let location = self
            .header("location")
            .unwrap_or_else(|| panic!("no Location: {} {}", self.status, self.body));
        assert!(
            location.starts_with(REDIRECT),
            "redirect to {location}, not the registered URI"
        );
        let query = location
            .split_once('?')
            .map(|(_, query)| query)
            .unwrap_or("");
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn location_param(&self, name: &str) -> Option<String> {
        self.location_params()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_lifetime(3600)
    }

    pub fn with_lifetime(lifetime: u64) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let admin = Admin::open(dir.path()).expect("admin");
        register_fixtures(&admin);
        let clock = Arc::new(ManualClock::starting_now());
        let events = Arc::new(RecordedEvents::default());
        let mut config = AuthConfig::new(BASE, dir.path());
        config.token_lifetime = lifetime;
        let server = Arc::new(
            AuthServer::open(&config)
                .expect("auth server")
                .with_clock(clock.clone())
                .with_events(events.clone()),
        );
        let router = server.clone().router();
        Self {
            dir,
            server,
            router,
            clock,
            events,
            admin,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path_and_query: &str) -> Response {
        let request = Request::get(format!("/{}", path_and_query.trim_start_matches('/')))
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    /// POSTs a form from `peer`, with an optional Authorization header.
    pub async fn post_form_from(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        authorization: Option<&str>,
        peer: SocketAddr,
    ) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let mut request = request.body(Body::from(body)).expect("request");
        request.extensions_mut().insert(ConnectInfo(peer));
        self.send(request).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Response {
        self.post_form_from(path, pairs, authorization, default_peer())
            .await
    }

    /// Starts a launch: GET /auth/authorize with these parameters; returns the login page.
    pub async fn authorize(&self, params: &[(&str, &str)]) -> Response {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.get(&format!("/auth/authorize?{query}")).await
    }

    /// Submits the login form of `page` with these credentials, from `peer`.
    pub async fn submit_login(
        &self,
        page: &Response,
        username: &str,
        password: &str,
        peer: SocketAddr,
    ) -> Response {
        let mut fields = hidden_inputs(&page.body);
        assert!(page.body.contains("name=\"username\""), "no username input");
        assert!(page.body.contains("name=\"password\""), "no password input");
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        self.post_form_from("/auth/authorize", &pairs, None, peer)
            .await
    }

    /// Answers the consent page with `decision` (`allow` or `deny`).
    pub async fn submit_consent(&self, page: &Response, decision: &str) -> Response {
        assert!(
            page.body.contains("name=\"decision\" value=\"allow\"")
                && page.body.contains("name=\"decision\" value=\"deny\""),
            "not a consent page: {}",
            page.body
        );
        let mut fields = hidden_inputs(&page.body);
        fields.push(("decision".into(), decision.into()));
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        self.post_form("/auth/authorize", &pairs, None).await
    }

    /// A whole launch of the public app for alice (login, consent when asked); returns the
    /// redirect.
    pub async fn launch(&self, scopes: &str, pkce: &Pkce, state: &str) -> Response {
        let page = self.authorize(&app_request(scopes, pkce, state)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let after_login = self
            .submit_login(&page, "alice", ALICE_PASSWORD, default_peer())
            .await;
        if after_login.status == StatusCode::OK {
            self.submit_consent(&after_login, "allow").await
        } else {
            after_login
        }
    }

    /// Exchanges a code of the public app.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Response {
        self.post_form(
            "/auth/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", "app"),
                ("code_verifier", verifier),
            ],
            None,
        )
        .await
    }

    /// A launch and exchange; returns the token response.
    pub async fn tokens(&self, scopes: &str) -> Value {
        let pkce = Pkce::new();
        let redirect = self.launch(scopes, &pkce, "s1").await;
        let code = redirect.location_param("code").expect("a code");
        let response = self.exchange(&code, &pkce.verifier).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.json()
    }
}

pub fn default_peer() -> SocketAddr {
    "127.0.0.1:50000".parse().expect("address")
}

pub fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")))
}

/// The parameters of a standalone launch of the public app.
pub fn app_request<'a>(scopes: &'a str, pkce: &'a Pkce, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("scope", scopes),
        ("state", state),
        ("aud", BASE),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let mut bytes = [0_u8; 32];
        SystemRandom::new().fill(&mut bytes).expect("random");
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        Self {
            verifier,
            challenge,
        }
    }
}

/// The hidden inputs of a page, unescaped.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for piece in html.split("<input type=\"hidden\" ").skip(1) {
        let name = attribute(piece, "name").expect("hidden input has a name");
        let value = attribute(piece, "value").expect("hidden input has a value");
        fields.push((unescape(&name), unescape(&value)));
    }
    fields
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_string())
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Decodes a JWT's payload without checking it.
pub fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn register_fixtures(admin: &Admin) {
    admin
        .add_user(&NewUser {
            username: "alice".into(),
            password: ALICE_PASSWORD.into(),
            patient: Some("Patient/123".into()),
            practitioner: None,
            roles: vec![],
        })
        .expect("alice");
    admin
        .add_user(&NewUser {
            username: "bob".into(),
            password: BOB_PASSWORD.into(),
            patient: None,
            practitioner: Some("Practitioner/456".into()),
            roles: vec!["clinician".into(), "auditor".into()],
        })
        .expect("bob");
    admin
        .add_client(&NewClient {
            id: "app".into(),
            credential: ClientCredential::Public,
            redirect_uris: vec![REDIRECT.into(), "https://app.test/other".into()],
            scopes: APP_SCOPES.into(),
        })
        .expect("app");
    admin
        .add_client(&NewClient {
            id: "conf".into(),
            credential: ClientCredential::Secret(CONF_SECRET.into()),
            redirect_uris: vec![REDIRECT.into()],
            scopes: "openid fhirUser user/*.rs online_access".into(),
        })
        .expect("conf");
    admin
        .add_client(&NewClient {
            id: "backend".into(),
            credential: ClientCredential::Secret(BACKEND_SECRET.into()),
            redirect_uris: vec![],
            scopes: "system/*.rs system/Observation.read".into(),
        })
        .expect("backend");
}
