//! Server-sent events: bytes in, `(event, data)` pairs out, with every line bounded in size
//! so a misbehaving server cannot make us buffer without end.

use crate::error::{Error, ErrorKind, Result};
use bytes::{Buf, BytesMut};

/// Longest SSE line accepted (a single streamed chunk is far smaller).
pub const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, empty when the server sent none.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Incremental decoder: feed it bytes as they arrive, take whole events out.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
    event: String,
    data: Vec<String>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let mut line = self.buf.split_to(pos + 1);
            line.truncate(pos);
            if line.last() == Some(&b'\r') {
                line.truncate(pos - 1);
            }
            let line = std::str::from_utf8(&line)
                .map_err(|_| Error::new(ErrorKind::Provider, "stream: a line is not valid UTF-8"))?
                .to_string();
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        if self.buf.len() > MAX_LINE_BYTES {
            self.buf.advance(self.buf.len());
            return Err(Error::new(
                ErrorKind::Provider,
                format!("stream: a line exceeds {MAX_LINE_BYTES} bytes"),
            ));
        }
        Ok(out)
    }

    /// Ends the input: an event not closed by a blank line is still delivered.
    pub fn finish(&mut self) -> Option<Event> {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() {
            if let Ok(line) = std::str::from_utf8(&rest) {
                if let Some(ev) = self.line(line.trim_end_matches('\r')) {
                    return Some(ev);
                }
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {} // id, retry: not needed for LLM streams
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        if self.data.is_empty() {
            self.event.clear();
            return None;
        }
        Some(Event {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data).join("\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_arbitrary_splits() {
        let input = b"event: a\ndata: {\"x\":1}\n\n: ping\n\ndata: line1\r\ndata: line2\r\n\r\ndata: [DONE]\n\n";
        for split in 1..input.len() {
            let mut d = Decoder::new();
            let mut evs = d.feed(&input[..split]).unwrap();
            evs.extend(d.feed(&input[split..]).unwrap());
            evs.extend(d.finish());
            assert_eq!(
                evs,
                vec![
                    Event {
                        event: "a".into(),
                        data: "{\"x\":1}".into()
                    },
                    Event {
                        event: "".into(),
                        data: "line1\nline2".into()
                    },
                    Event {
                        event: "".into(),
                        data: "[DONE]".into()
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn unterminated_last_event_and_oversized_lines() {
        let mut d = Decoder::new();
        assert!(d.feed(b"data: tail").unwrap().is_empty());
        assert_eq!(d.finish().unwrap().data, "tail");
        let mut d = Decoder::new();
        let big = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(d.feed(&big).unwrap_err().kind, ErrorKind::Provider);
        assert_eq!(
            d.feed(&[0xff, b'\n']).unwrap_err().kind,
            ErrorKind::Provider
        );
    }
}
