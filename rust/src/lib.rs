//! guard_middleware's scanning engine: normalisation for matching, the blocklist and PII detection,
//! and the strict JSON check of bodies.
//! Pure (no I/O) and linear in the input. The Python surface is in `py.rs`.

pub mod blocklist;
pub mod fastpath;
pub mod json_check;
pub mod normalize;
pub mod pii;
pub mod pii_holdback;
pub mod secret;
pub mod stream_fast;
pub mod unicode;
pub mod user_regex;

#[cfg(feature = "python")]
mod py;
