//! Image sizes read from the bytes a request carries (PNG, JPEG, GIF and WebP headers), and
//! what each provider charges for an image of that size (published rules; estimates).
//! Images given by URL cannot be sized offline: they count at the low-detail price.

use serde_json::Value;

/// A base64 image payload in any provider's shape, and whether it asks for low detail:
/// OpenAI `image_url` / `input_image` with a `data:` URL, Anthropic `image` with a base64
/// `source`, Gemini `inlineData` / `inline_data` with an `image/*` type.
pub fn payload(block: &Value) -> Option<(&str, bool)> {
    let low = |v: Option<&Value>| v.and_then(Value::as_str) == Some("low");
    match block.get("type").and_then(Value::as_str) {
        Some("image_url") => {
            let image = block.get("image_url")?;
            Some((data_url(image)?, low(image.get("detail"))))
        }
        Some("input_image") => Some((data_url(block.get("image_url")?)?, low(block.get("detail")))),
        Some("image") => {
            let source = block.get("source")?;
            match source.get("type").and_then(Value::as_str) {
                Some("base64") => Some((source.get("data")?.as_str()?, false)),
                _ => None,
            }
        }
        _ => {
            let inline = block
                .get("inlineData")
                .or_else(|| block.get("inline_data"))?;
            let mime = inline
                .get("mimeType")
                .or_else(|| inline.get("mime_type"))
                .and_then(Value::as_str)?;
            match mime.starts_with("image/") {
                true => Some((inline.get("data")?.as_str()?, false)),
                false => None,
            }
        }
    }
}

/// The base64 after `data:...;base64,` in a URL string or an `{url}` object.
fn data_url(v: &Value) -> Option<&str> {
    let url = v.as_str().or_else(|| v.get("url")?.as_str())?;
    let rest = url.strip_prefix("data:")?;
    Some(&rest[rest.find("base64,")? + 7..])
}

/// Whether `block` is an image part of any kind (sized or not).
pub fn is_image(block: &Value) -> bool {
    matches!(
        block.get("type").and_then(Value::as_str),
        Some("image_url" | "image" | "input_image")
    ) || payload(block).is_some()
}

/// The first bytes of base64 `text` (standard or URL-safe alphabet; whitespace skipped), at
/// most `max` of them; decoding stops at the first character outside the alphabet.
pub fn decode_prefix(text: &str, max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(max.min(text.len() * 3 / 4 + 3));
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

/// Width and height from a PNG, JPEG, GIF or WebP header.
pub fn dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le24 = |i: usize| {
        let s = b.get(i..i + 3)?;
        Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16)? == b"IHDR" {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"RIFF") && b.get(8..12)? == b"WEBP" {
        return match b.get(12..16)? {
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let v = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some(((v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        loop {
            while *b.get(i)? != 0xff {
                i += 1;
            }
            while *b.get(i)? == 0xff {
                i += 1;
            }
            let marker = *b.get(i)?;
            i += 1;
            match marker {
                // Start of frame (not DHT, JPG or DAC): height, then width.
                0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                    return Some((be16(i + 5)?, be16(i + 3)?));
                }
                0x01 | 0xd0..=0xd8 => {}
                _ => i += be16(i)? as usize,
            }
        }
    }
    None
}

/// Tokens an image of `w`×`h` costs at `provider` (published rules: OpenAI's 512-pixel tiles
/// after fitting 2048 and then 768 on the short side, 85 at low detail; Anthropic's
/// `w·h/750` after fitting 1568 pixels and 1.2 megapixels, about 1,600 at most; Gemini's 258 per 768-pixel tile).
/// Other providers are charged by OpenAI's rule.
pub fn tokens(provider: &str, w: u32, h: u32, low_detail: bool) -> u64 {
    let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
    let fit = |w: f64, h: f64, scale: f64| match scale < 1.0 {
        true => ((w * scale).floor().max(1.0), (h * scale).floor().max(1.0)),
        false => (w, h),
    };
    match provider {
        "anthropic" => {
            let (w, h) = fit(w, h, 1568.0 / w.max(h));
            let (w, h) = fit(w, h, (1_200_000.0 / (w * h)).sqrt());
            (w * h / 750.0).ceil() as u64
        }
        "gemini" if w <= 384.0 && h <= 384.0 => 258,
        "gemini" => ((w / 768.0).ceil() * (h / 768.0).ceil()) as u64 * 258,
        _ if low_detail => 85,
        _ => {
            let (w, h) = fit(w, h, 2048.0 / w.max(h));
            let (w, h) = fit(w, h, 768.0 / w.min(h));
            let tiles = (w / 512.0).ceil() * (h / 512.0).ceil();
            85 + 170 * tiles as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG header for `w`×`h` (enough bytes for the size).
    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn sizes_from_headers() {
        assert_eq!(dimensions(&png(640, 480)), Some((640, 480)));
        assert_eq!(dimensions(b"GIF89a\x20\x03\x58\x02"), Some((800, 600)));
        // A JPEG: SOI, an APP0 segment, then SOF0 with height 300 and width 400.
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01,
            0x2c, 0x01, 0x90,
        ];
        assert_eq!(dimensions(&jpeg), Some((400, 300)));
        assert_eq!(dimensions(b"not an image"), None);
        assert_eq!(dimensions(&png(640, 480)[..20]), None);
    }

    #[test]
    fn base64_prefixes() {
        assert_eq!(decode_prefix("aGVsbG8gd29ybGQ=", 100), b"hello world");
        assert_eq!(decode_prefix("aGVsbG8gd29ybGQ=", 5), b"hello");
        assert_eq!(decode_prefix("aGVs\nbG8=", 100), b"hello");
    }

    #[test]
    fn provider_prices() {
        // OpenAI's documented examples: 1024×1024 → 765, 2048×4096 → 1105, low → 85.
        assert_eq!(tokens("openai", 1024, 1024, false), 765);
        assert_eq!(tokens("openai", 2048, 4096, false), 1105);
        assert_eq!(tokens("openai", 4096, 4096, true), 85);
        // Anthropic: 1092×1092 ≈ 1590; bigger images are scaled down first.
        assert_eq!(tokens("anthropic", 1092, 1092, false), 1590);
        assert!((1590..=1600).contains(&tokens("anthropic", 8000, 8000, false)));
        assert_eq!(tokens("gemini", 300, 300, false), 258);
        assert_eq!(tokens("gemini", 1000, 1000, false), 4 * 258);
    }
}
