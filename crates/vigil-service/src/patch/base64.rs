//! Decoding `Binary.data` (base64Binary: RFC 4648 standard alphabet, `=` padding, whitespace
//! tolerated as FHIR allows). A dozen lines do not justify a dependency.

/// The bytes `text` encodes, or `None` when it is not base64.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let padding = symbols.iter().rev().take_while(|b| **b == b'=').count();
    if padding > 2 {
        return None;
    }
    let data = symbols.get(..symbols.len() - padding)?;
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for symbol in data {
        buffer = (buffer << 6) | u32::from(sextet(*symbol)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xFF) as u8);
        }
    }
    // Leftover bits must be zero padding bits of the last symbol.
    if buffer & ((1 << bits) - 1) != 0 {
        return None;
    }
    Some(out)
}

fn sextet(symbol: u8) -> Option<u8> {
    match symbol {
        b'A'..=b'Z' => Some(symbol - b'A'),
        b'a'..=b'z' => Some(symbol - b'a' + 26),
        b'0'..=b'9' => Some(symbol - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc4648_vectors_and_rejections() {
        let vectors: &[(&str, &str)] = &[
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9v\n YmFy", "foobar"),
        ];
        for (encoded, plain) in vectors {
            assert_eq!(
                decode(encoded).as_deref(),
                Some(plain.as_bytes()),
                "{encoded}"
            );
        }
        for bad in ["Zg=", "Z===", "Zm9v!mFy", "Zh==", "===="] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
