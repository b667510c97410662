//! Integration tests of the authorization server, over its router in process
//! (`tower::ServiceExt::oneshot`), with a manual clock. One test binary for the crate.

mod admin;
mod backend;
mod code_flow;
mod forgery;
mod limits;
mod refresh_and_revoke;
mod support;
