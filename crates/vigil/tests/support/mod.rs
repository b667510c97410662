//! Starting the real `vigil` binary and talking HTTP/1.1 to it with a minimal blocking client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `vigil serve` process.
pub struct Vigil {
    pub child: Child,
    pub address: SocketAddr,
}

impl Vigil {
    /// Starts `vigil serve --data DIR --listen 127.0.0.1:0 --dev` and waits for its address.
    pub fn start(data: &Path) -> Vigil {
        Self::start_with(data, &[])
    }

    /// Like [`Vigil::start`], with extra `serve` arguments.
    pub fn start_with(data: &Path, extra: &[&str]) -> Vigil {
        let mut args = vec!["--dev", "--log", "warn"];
        args.extend_from_slice(extra);
        Self::spawn(data, &args, Stdio::inherit())
    }

    /// `vigil serve --data DIR --listen 127.0.0.1:0` with authentication on (no `--dev`),
    /// its log (stderr) written to `log`.
    pub fn start_secure(data: &Path, extra: &[&str], log: &Path) -> Vigil {
        let log = std::fs::File::create(log).expect("log file");
        Self::spawn(data, extra, Stdio::from(log))
    }

    fn spawn(data: &Path, extra: &[&str], stderr: Stdio) -> Vigil {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start vigil");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address line");
        let address = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Vigil { child, address }
    }

    /// `vigil serve --dev --listen 127.0.0.1:0 --mllp 127.0.0.1:0 --log warn --data DIR` with
    /// `extra` arguments: the server and its MLLP address (the second stdout line).
    pub fn start_with_mllp(data: &Path, extra: &[&str]) -> (Vigil, SocketAddr) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args([
                "serve",
                "--dev",
                "--listen",
                "127.0.0.1:0",
                "--mllp",
                "127.0.0.1:0",
            ])
            .args(["--log", "warn", "--data"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vigil");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
        let (http_line, mllp_line) = (next(), next());
        let address = http_line
            .rsplit("http://")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no HTTP address in {http_line:?}"));
        let mllp = mllp_line
            .rsplit(' ')
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no MLLP address in {mllp_line:?}"));
        (Vigil { child, address }, mllp)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill_hard(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.child.wait().expect("wait").success()
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        http(self.address, method, path, body)
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn http(address: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Response {
    try_http(address, method, path, body).expect("http request")
}

/// Like [`http`], with extra request headers.
pub fn http_with(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    try_http_with(address, method, path, body, headers).expect("http request")
}

/// Like [`http`], but I/O failures (a killed server) are returned.
pub fn try_http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Response> {
    try_http_with(address, method, path, body, &[])
}

/// A form POST (`application/x-www-form-urlencoded`), e.g. to the token endpoint.
pub fn http_form(
    address: SocketAddr,
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    request(address, "POST", path, Some(&body), &all).expect("http request")
}

fn try_http_with(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut all = vec![("Content-Type", "application/fhir+json")];
    all.extend_from_slice(headers);
    request(address, method, path, body, &all)
}

fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("truncated response"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}
