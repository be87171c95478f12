//! Reading a stream. This wing owns everything that talks to a NATS server: the connection and
//! its NATS-CLI-style flags ([`connect`]), subject filters ([`subject`]), the window a user asks
//! for ([`window`], including the read-path choice), the JetStream API requests everything
//! below is built on ([`api`]: typed errors, stream info, the ephemeral consumer), the plan that
//! freezes a window into a sequence range and picks a read path ([`plan`]), the per-sequence bookkeeping both read paths share and
//! the gap accounting after a read ([`cursor`]), the two read paths themselves (ephemeral pull
//! [`consumer`]s and batched [`direct`] gets), the server's word about a stored message, which a
//! publisher's forged headers cannot change ([`reply`]), raw header blocks as `STREAM.MSG.GET`
//! returns them ([`header_block`], kept free of other dependencies so that `fuzz/` compiles it
//! alone), and [`publish`] for loading data.
//!
//! What leaves this wing is plain data: [`crate::message::RawMessage`] chunks on a channel, a
//! [`cursor::ReadReport`], a [`plan::Plan`]. Nothing here knows about Arrow, Parquet or SQL, and
//! nothing here imports another wing.

pub mod api;
pub mod connect;
pub mod consumer;
pub mod cursor;
pub mod direct;
pub mod header_block;
pub mod plan;
pub mod publish;
pub mod reply;
pub mod subject;
pub mod window;
