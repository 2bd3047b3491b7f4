//! A cached entry and its self-checking byte form, shared by the Redis and filesystem tiers.
//!
//! Layout (little-endian): `TRC1` | kind u8 | created_ms u64 | expires_ms u64 (0: never) |
//! key_len u32 | key | payload_len u32 | payload | SHA-256 of everything before it.
//! The key inside lets a reader reject a file that belongs to another key (a hash collision
//! or a misplaced file) and lets `validate` find entries by pattern without an index; the
//! trailing hash catches torn, truncated, zero-filled or edited bytes.

use bytes::Bytes;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"TRC1";
const HEAD: usize = 4 + 1 + 8 + 8 + 4;

/// What the payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Caller bytes (the `get`/`set` API of the bindings).
    Value = 0,
    /// A `ChatResponse` as JSON.
    Response = 1,
    /// The chunks of a stream as a JSON array, boundaries kept.
    Stream = 2,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Value,
            1 => Kind::Response,
            2 => Kind::Stream,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub created_ms: u64,
    /// 0: never expires.
    pub expires_ms: u64,
    pub payload: Bytes,
}

impl Entry {
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms != 0 && now_ms >= self.expires_ms
    }

    /// Milliseconds left, for tiers that expire entries themselves (Redis `PX`); None: forever.
    pub fn ttl_left_ms(&self, now_ms: u64) -> Option<u64> {
        (self.expires_ms != 0).then(|| self.expires_ms.saturating_sub(now_ms).max(1))
    }
}

pub fn encode(key: &str, e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD + key.len() + 4 + e.payload.len() + 32);
    out.extend_from_slice(MAGIC);
    out.push(e.kind as u8);
    out.extend_from_slice(&e.created_ms.to_le_bytes());
    out.extend_from_slice(&e.expires_ms.to_le_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&e.payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Why bytes were rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum Corrupt {
    /// Too short, bad magic, bad lengths or a wrong hash.
    Damaged,
    /// Intact, but written for another key.
    OtherKey,
}

/// Decodes and verifies bytes; returns the key stored inside with the entry.
pub fn decode(bytes: &[u8]) -> Result<(String, Entry), Corrupt> {
    if bytes.len() < HEAD + 4 + 32 || &bytes[..4] != MAGIC {
        return Err(Corrupt::Damaged);
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(Corrupt::Damaged);
    }
    let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
    let u32_at = |i: usize| {
        body.get(i..i + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    };
    let kind = Kind::from_u8(body[4]).ok_or(Corrupt::Damaged)?;
    let key_len = u32_at(21).ok_or(Corrupt::Damaged)?;
    let key_end = HEAD.checked_add(key_len).ok_or(Corrupt::Damaged)?;
    let key = body
        .get(HEAD..key_end)
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or(Corrupt::Damaged)?;
    let payload_len = u32_at(key_end).ok_or(Corrupt::Damaged)?;
    if body.len() != key_end + 4 + payload_len {
        return Err(Corrupt::Damaged);
    }
    let entry = Entry {
        kind,
        created_ms: u64_at(5),
        expires_ms: u64_at(13),
        payload: Bytes::copy_from_slice(&body[key_end + 4..]),
    };
    Ok((key.to_string(), entry))
}

/// Decodes bytes that must belong to `key`.
pub fn decode_for(key: &str, bytes: &[u8]) -> Result<Entry, Corrupt> {
    let (stored, entry) = decode(bytes)?;
    if stored != key {
        return Err(Corrupt::OtherKey);
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            kind: Kind::Response,
            created_ms: 7,
            expires_ms: 9,
            payload: Bytes::from_static(b"{\"content\":\"hi\"}"),
        }
    }

    #[test]
    fn round_trips_and_rejects_every_damage() {
        let bytes = encode("k", &entry());
        assert_eq!(decode_for("k", &bytes), Ok(entry()));
        assert_eq!(decode_for("other", &bytes), Err(Corrupt::OtherKey));
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]).unwrap_err(),
                Corrupt::Damaged,
                "cut {cut}"
            );
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x40;
            assert!(decode_for("k", &flipped).is_err(), "flip {i}");
        }
        assert!(decode(&vec![0u8; bytes.len()]).is_err());
    }
}
