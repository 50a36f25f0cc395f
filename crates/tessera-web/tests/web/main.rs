//! tessera-web's one test binary: the admin API and the sign-in pages, in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod account;
mod admin_portal;
mod api;
mod audit_portal;
mod directory_portal;
mod ecp;
mod passkeys;
mod roles;
mod rollover_portal;
mod saml;
mod signin;
mod trace;
mod wsfed;
mod wstrust;
mod xsw;
