//! FHIR R4 Subscriptions, driven by the change feed.
//!
//! - [`manager::SubscriptionManager`] (consumer `cds-subscriptions`) watches Subscription
//!   resources: it checks each one ([`SubscriptionSpec::parse`]), moves `requested` to
//!   `active`, sets `error` with a reason when the criteria or channel cannot be served, `off`
//!   when `end` has passed, and runs one delivery consumer per live subscription.
//! - [`delivery::SubscriptionDelivery`] (consumer `subscription-{id}`) reads the change feed
//!   from its own saved position, tests every created or updated version against the criteria
//!   with the in-memory matcher (the same semantics as search) and notifies. The position is
//!   saved only after the notification was delivered, so a notification is durable: a crash
//!   (even `kill -9`) between the commit and the notification notifies after the restart, and
//!   notifications of one subscription keep commit order. A failed delivery is retried with
//!   exponential back-off (0.2 s doubling to 30 s, 2 s for websocket); after
//!   [`ERROR_AFTER_FAILURES`] failures in a row the Subscription is set to `error` (with the
//!   reason in `error`), and back to `active` at the next success. Retries go on until
//!   delivered, until `end` passes, or until the notification is older than
//!   [`NOTIFICATION_MAX_AGE_MICROS`] (24 hours after its commit): an expired notification is
//!   dropped, the Subscription set to `error` saying so, and the next one tried. Without the
//!   expiry a dead endpoint would hold the change feed, whose pruning waits for every
//!   consumer, for ever.
//! - Channels: `rest-hook` (`http://` endpoints; no `payload`: `POST` to the endpoint with an
//!   empty body; `payload` `application/fhir+json` or `application/json`: `PUT
//!   {endpoint}/{type}/{id}` with the resource; every `channel.header` line is sent) and
//!   `websocket` (R4 bind-with-id: the client sends `bind {id}` on `/websocket`, the server
//!   answers `bound {id}` and sends `ping {id}` per notification; with no client bound the
//!   notification waits, as for an unreachable rest-hook).

pub mod delivery;
pub mod manager;
pub mod rest_hook;
pub mod websocket;

use serde_json::Value;
use std::sync::Arc;
use vigil_service::{CompiledQuery, FhirService, RequestContext, parse_instant_micros};

/// How long after its commit an undelivered notification is still retried: 24 hours.
pub const NOTIFICATION_MAX_AGE_MICROS: i64 = 24 * 3_600_000_000;

/// Failures in a row after which a Subscription's status becomes `error`.
pub const ERROR_AFTER_FAILURES: u32 = 3;

/// How notifications reach the subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// HTTP to an endpoint.
    RestHook {
        /// `http://host[:port]/path`.
        endpoint: String,
        /// `Some(mime)`: the resource is sent (PUT); `None`: an empty POST.
        payload: Option<String>,
        /// `channel.header`, split at the first `:`.
        headers: Vec<(String, String)>,
    },
    /// R4 websocket, bind-with-id.
    Websocket,
}

/// A Subscription Vigil can serve.
pub struct SubscriptionSpec {
    /// Its id.
    pub id: String,
    /// Its criteria as written.
    pub criteria: String,
    /// The criteria compiled for the in-memory matcher.
    pub compiled: Arc<CompiledQuery>,
    /// Its channel.
    pub channel: Channel,
    /// `end`, microseconds since the epoch.
    pub end_micros: Option<i64>,
}

impl SubscriptionSpec {
    /// Checks a Subscription: its criteria compile for the matcher (no ignored parameter), its
    /// channel is `rest-hook` with an `http://` endpoint, a supported payload and well-formed
    /// headers, or `websocket`. The error is the reason put in `Subscription.error`.
    pub fn parse(
        service: &FhirService,
        context: &RequestContext,
        subscription: &Value,
    ) -> Result<SubscriptionSpec, String> {
        let id = subscription["id"]
            .as_str()
            .ok_or("the Subscription has no id")?
            .to_owned();
        let criteria = subscription["criteria"]
            .as_str()
            .ok_or("the Subscription has no criteria")?
            .to_owned();
        let compiled = service
            .compile_criteria(context, &criteria)
            .map_err(|error| format!("criteria not supported: {error}"))?;
        let channel = parse_channel(&subscription["channel"])?;
        let end_micros = match subscription["end"].as_str() {
            Some(text) => Some(parse_instant_micros(text).ok_or("end is not a valid instant")?),
            None => None,
        };
        Ok(SubscriptionSpec {
            id,
            criteria,
            compiled: Arc::new(compiled),
            channel,
            end_micros,
        })
    }

    /// Whether `end` has passed at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.end_micros.is_some_and(|end| end <= now)
    }

    /// What identifies the behaviour (a changed fingerprint restarts delivery).
    pub fn fingerprint(&self) -> String {
        format!("{}|{:?}|{:?}", self.criteria, self.channel, self.end_micros)
    }
}

fn parse_channel(channel: &Value) -> Result<Channel, String> {
    match channel["type"].as_str() {
        Some("rest-hook") => {
            let endpoint = channel["endpoint"]
                .as_str()
                .ok_or("a rest-hook channel needs an endpoint")?;
            rest_hook::check_endpoint(endpoint)?;
            let payload = match channel["payload"].as_str().map(str::trim) {
                None | Some("") => None,
                Some(mime @ ("application/fhir+json" | "application/json")) => {
                    Some(mime.to_owned())
                }
                Some(other) => {
                    return Err(format!(
                        "payload {other:?} is not supported (application/fhir+json, application/json or none)"
                    ));
                }
            };
            let mut headers = Vec::new();
            for line in channel["header"].as_array().into_iter().flatten() {
                let line = line.as_str().ok_or("a channel header is not a string")?;
                headers.push(rest_hook::parse_header(line)?);
            }
            Ok(Channel::RestHook {
                endpoint: endpoint.trim_end_matches('/').to_owned(),
                payload,
                headers,
            })
        }
        Some("websocket") => Ok(Channel::Websocket),
        Some(other) => Err(format!(
            "channel type {other:?} is not supported (rest-hook, websocket)"
        )),
        None => Err("the Subscription has no channel type".to_owned()),
    }
}

/// The consumer name of a subscription's delivery.
pub fn consumer_name(id: &str) -> String {
    format!("subscription-{id}")
}
