//! The CDS consumers over a real store and service: NEWS2 scoring through the door, alert
//! Tasks, idempotence under redelivery, no loop on CDS's own writes.

#![allow(clippy::unwrap_used)]

mod hooks;
mod medication;
mod news2;
mod rules;
mod subscriptions;
mod support;
