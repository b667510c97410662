//! String functions: `indexOf`, `lastIndexOf`, `substring`, `startsWith`, `endsWith`,
//! `contains`, `upper`, `lower`, `replace`, `matches`, `matchesFull`, `replaceMatches`,
//! `length`, `toChars`, `trim`, `split`, `join`, `encode`, `decode`, `escape`, `unescape`.

use super::{Call, Func};
use crate::error::{EvalError, EvalErrorKind, EvalResult};
use crate::value::{Collection, Item, Text};
use base64::Engine as _;

fn s<'a>(v: String) -> Item<'a> {
    Item::String(Text::from(v))
}

pub(super) fn call<'a>(
    cx: &Call<'_, 'a, '_>,
    func: Func,
    input: Collection<'a>,
) -> EvalResult<Collection<'a>> {
    if func == Func::Join {
        let sep = cx.arg_str(0)?.map(|t| t.to_string()).unwrap_or_default();
        let mut parts = Vec::with_capacity(input.len());
        for i in &input {
            match i.system() {
                Some(Item::String(t)) => parts.push(t.to_string()),
                Some(other) => {
                    return Err(cx.ev.type_error(cx.node.pos, "strings to join", &other));
                }
                None => {}
            }
        }
        return Ok(vec![s(parts.join(&sep))]);
    }
    let text = match cx.ev.singleton(input, cx.node.pos)? {
        None => return Ok(Vec::new()),
        Some(Item::String(t)) => t,
        Some(other) => return Err(cx.ev.type_error(cx.node.pos, "a string", &other)),
    };
    let b = |v: bool| Ok(vec![Item::Boolean(v)]);
    let int = |v: i64| Ok(vec![Item::Integer(v)]);
    match func {
        Func::IndexOf | Func::LastIndexOf => {
            let Some(sub) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            let found = if func == Func::IndexOf {
                text.find(&*sub)
            } else {
                text.rfind(&*sub)
            };
            int(found.map_or(-1, |byte| text[..byte].chars().count() as i64))
        }
        Func::Substring => {
            let Some(start) = cx.arg_int(0)? else {
                return Ok(Vec::new());
            };
            let len = cx.arg_int(1)?;
            let n = text.chars().count() as i64;
            if start < 0 || start >= n {
                return Ok(Vec::new());
            }
            let take = len.map_or(n, |l| l.max(0));
            Ok(vec![s(text
                .chars()
                .skip(start as usize)
                .take(take as usize)
                .collect())])
        }
        Func::StartsWith => match cx.arg_str(0)? {
            Some(p) => b(text.starts_with(&*p)),
            None => Ok(Vec::new()),
        },
        Func::EndsWith => match cx.arg_str(0)? {
            Some(p) => b(text.ends_with(&*p)),
            None => Ok(Vec::new()),
        },
        Func::Contains => match cx.arg_str(0)? {
            Some(p) => b(text.contains(&*p)),
            None => Ok(Vec::new()),
        },
        Func::Upper => Ok(vec![s(text.to_uppercase())]),
        Func::Lower => Ok(vec![s(text.to_lowercase())]),
        Func::Replace => {
            let (Some(p), Some(r)) = (cx.arg_str(0)?, cx.arg_str(1)?) else {
                return Ok(Vec::new());
            };
            Ok(vec![s(text.replace(&*p, &r))])
        }
        Func::Matches | Func::MatchesFull => {
            let Some(p) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            let full = func == Func::MatchesFull;
            let re = cx.ev.regex(&p, full, cx.node.pos)?;
            b(re.is_match(&text))
        }
        Func::ReplaceMatches => {
            let (Some(p), Some(r)) = (cx.arg_str(0)?, cx.arg_str(1)?) else {
                return Ok(Vec::new());
            };
            if p.is_empty() {
                return Ok(vec![Item::String(text)]);
            }
            let re = cx.ev.regex(&p, false, cx.node.pos)?;
            Ok(vec![s(re.replace_all(&text, &*r).into_owned())])
        }
        Func::Length => int(text.chars().count() as i64),
        Func::ToChars => Ok(text.chars().map(|c| s(c.to_string())).collect()),
        Func::Trim => Ok(vec![s(text.trim().to_owned())]),
        Func::Split => {
            let Some(sep) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            if sep.is_empty() {
                return Ok(text.chars().map(|c| s(c.to_string())).collect());
            }
            Ok(text.split(&*sep).map(|p| s(p.to_owned())).collect())
        }
        Func::Encode | Func::Decode | Func::Escape | Func::Unescape => {
            let Some(format) = cx.arg_str(0)? else {
                return Ok(Vec::new());
            };
            let r = match func {
                Func::Encode => encode(&text, &format),
                Func::Decode => decode(&text, &format),
                Func::Escape => escape(&text, &format),
                _ => unescape(&text, &format),
            };
            match r {
                Some(v) => Ok(vec![s(v)]),
                None if matches!(&*format, "hex" | "base64" | "urlbase64" | "html" | "json") => {
                    Ok(Vec::new())
                }
                None => Err(EvalError::new(
                    EvalErrorKind::InvalidArgument,
                    cx.node.pos,
                    format!("unknown format '{}'", &*format),
                )),
            }
        }
        _ => Ok(Vec::new()),
    }
}

/// The base64 engines of `encode`/`decode`: standard and URL-safe alphabets, writing padding
/// and accepting input with or without it.
fn base64_engine(url: bool) -> base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let alphabet = if url {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    GeneralPurpose::new(alphabet, config)
}

fn encode(text: &str, format: &str) -> Option<String> {
    match format {
        "base64" => Some(base64_engine(false).encode(text)),
        "urlbase64" => Some(base64_engine(true).encode(text)),
        "hex" => Some(text.bytes().map(|b| format!("{b:02x}")).collect()),
        _ => None,
    }
}

fn decode(text: &str, format: &str) -> Option<String> {
    let bytes = match format {
        "base64" => base64_engine(false).decode(text).ok()?,
        "urlbase64" => base64_engine(true).decode(text).ok()?,
        "hex" => {
            if !text.len().is_multiple_of(2) {
                return None;
            }
            (0..text.len())
                .step_by(2)
                .map(|i| {
                    text.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()?
        }
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}

fn escape(text: &str, format: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    match format {
        "html" => {
            for c in text.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '&' => out.push_str("&amp;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    c => out.push(c),
                }
            }
        }
        "json" => {
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
        }
        _ => return None,
    }
    Some(out)
}

fn unescape(text: &str, format: &str) -> Option<String> {
    match format {
        "html" => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(k) = rest.find('&') {
                out.push_str(&rest[..k]);
                let tail = &rest[k..];
                let Some(end) = tail.find(';') else {
                    out.push_str(tail);
                    return Some(out);
                };
                let entity = &tail[1..end];
                let c = match entity {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                        .ok()
                        .and_then(char::from_u32),
                    e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                    _ => None,
                };
                match c {
                    Some(c) => {
                        out.push(c);
                        rest = &tail[end + 1..];
                    }
                    None => {
                        out.push('&');
                        rest = &tail[1..];
                    }
                }
            }
            out.push_str(rest);
            Some(out)
        }
        "json" => {
            let mut out = String::with_capacity(text.len());
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next()? {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)?,
                        );
                    }
                    other => out.push(other),
                }
            }
            Some(out)
        }
        _ => None,
    }
}
