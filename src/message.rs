//! The one type that crosses from `nats/` to `lake/`: a stored message as plain data.
//!
//! The read paths in [`crate::nats`] fill it from what the server answered (sequence, subject,
//! receive time and the publisher's headers as JSON); [`crate::lake`] turns it into a row without
//! knowing where it came from. Keeping it outside both wings is what lets neither import the other.

/// One message as read from the stream.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub stream_seq: u64,
    pub subject: String,
    /// JetStream receive time, nanoseconds since the epoch.
    pub time_ns: i64,
    /// Headers as a JSON object (`{"name":["v1","v2"]}`), when the message had any.
    pub headers: Option<String>,
    pub payload: bytes::Bytes,
}
