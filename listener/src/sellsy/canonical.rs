//! The canonical form of an event's JSON text, which its id is hashed over: whitespace
//! outside strings dropped, and every string written with the fewest escapes (`\"`, `\\`,
//! `\b` `\f` `\n` `\r` `\t`, other control characters as `\u00xx`, everything else as
//! UTF-8, as serde_json writes it). Keys keep their order and numbers their spelling.
//!
//! No JSON tree is built: one pass over text serde_json has already validated, feeding
//! unchanged runs to the hash as they are. A string without a backslash is already
//! canonical (valid JSON has no raw control characters in strings), so only strings with
//! escapes are rewritten. The same pass tells whether the text is compact (no whitespace
//! outside strings), which decides whether it can be stored as received.

use memchr::memchr2;
use sha2::{Digest, Sha256};

/// What one pass over an event's JSON text learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Canonical {
    /// SHA-256 of the canonical form.
    pub(super) sha256: [u8; 32],
    /// No space, tab or line break outside strings: the text is already compact.
    pub(super) compact: bool,
}

/// Hashes the canonical form of `text`, which must be valid JSON. (Invalid text does not
/// panic; it only gets a digest no valid text shares.)
pub(super) fn hash(text: &[u8]) -> Canonical {
    let mut hasher = Sha256::new();
    let mut rewritten = Vec::new();
    let mut compact = true;
    let mut run = 0; // start of the bytes fed unchanged
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {
                compact = false;
                hasher.update(&text[run..at]);
                at += 1;
                run = at;
            }
            b'"' => {
                // Strings are most of an event: jump to their end (or first escape)
                // rather than stepping through them byte by byte.
                let Some(offset) = memchr2(b'"', b'\\', &text[at + 1..]) else {
                    break; // unterminated: the rest is fed as it is
                };
                at += 1 + offset;
                if text[at] == b'\\' {
                    hasher.update(&text[run..at]);
                    rewritten.clear();
                    at = rewrite_string_rest(text, at, &mut rewritten);
                    hasher.update(&rewritten);
                    run = at; // the closing quote goes with the next run
                }
                at += 1;
            }
            _ => at += 1,
        }
    }
    hasher.update(&text[run.min(text.len())..]);
    Canonical {
        sha256: hasher.finalize().into(),
        compact,
    }
}

/// Writes the canonical form of a string's content from `at` (a backslash) up to its
/// closing quote, and returns the index of that quote.
fn rewrite_string_rest(text: &[u8], mut at: usize, out: &mut Vec<u8>) -> usize {
    while let Some(&byte) = text.get(at) {
        match byte {
            b'"' => return at,
            b'\\' => {
                let (unit, next) = unescape(text, at);
                write_canonical(out, unit);
                at = next;
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    at
}

/// The code point of the escape at `at` and the index after it. A surrogate pair is
/// joined; a lone surrogate stays a surrogate value, written back as `\uXXXX`.
fn unescape(text: &[u8], at: usize) -> (u32, usize) {
    let simple = match text.get(at + 1) {
        Some(b'b') => 0x08,
        Some(b'f') => 0x0C,
        Some(b'n') => 0x0A,
        Some(b'r') => 0x0D,
        Some(b't') => 0x09,
        Some(b'u') => return unescape_unicode(text, at),
        Some(&other) => u32::from(other), // `\"`, `\\`, `\/`
        None => return (u32::from(b'\\'), at + 1),
    };
    (simple, at + 2)
}

fn unescape_unicode(text: &[u8], at: usize) -> (u32, usize) {
    let Some(high) = hex4(text, at + 2) else {
        return (u32::from(b'\\'), at + 1);
    };
    if (0xD800..0xDC00).contains(&high)
        && text.get(at + 6..at + 8) == Some(b"\\u")
        && let Some(low) = hex4(text, at + 8).filter(|low| (0xDC00..0xE000).contains(low))
    {
        return (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), at + 12);
    }
    (high, at + 6)
}

fn hex4(text: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(text.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// Appends one code point the way serde_json writes it in a string.
fn write_canonical(out: &mut Vec<u8>, unit: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match unit {
        0x22 => Some(b'"'),
        0x5C => Some(b'\\'),
        0x08 => Some(b'b'),
        0x0C => Some(b'f'),
        0x0A => Some(b'n'),
        0x0D => Some(b'r'),
        0x09 => Some(b't'),
        _ => None,
    };
    if let Some(letter) = short {
        out.extend_from_slice(&[b'\\', letter]);
    } else if let Some(c) = char::from_u32(unit).filter(|&c| c >= ' ') {
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    } else {
        // Other control characters, and lone surrogates (which no UTF-8 can carry).
        out.extend_from_slice(b"\\u");
        out.extend(
            (0..4)
                .rev()
                .map(|nibble| HEX[((unit >> (nibble * 4)) & 0xF) as usize]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &[u8]) -> [u8; 32] {
        hash(text).sha256
    }

    fn same(a: &str, b: &str) -> bool {
        digest(a.as_bytes()) == digest(b.as_bytes())
    }

    #[test]
    fn whitespace_and_escapes_do_not_count() {
        let pairs = [
            (r#"{"a":"caf\u00e9"}"#, r#"{"a":"café"}"#),
            (r#"{"a":"caf\u00E9"}"#, r#"{"a":"café"}"#),
            (r#"{"u":"https:\/\/x\/y"}"#, r#"{"u":"https://x/y"}"#),
            (r#"{"q":"\u0022\\\/"}"#, r#"{"q":"\"\\/"}"#),
            (r#"{"n":"a\u000ab\nc\u0001"}"#, r#"{"n":"a\nb\nc\u0001"}"#),
            (r#"{"e":"\ud83d\ude00"}"#, r#"{"e":"😀"}"#),
            (r#"{"\u0061":1}"#, r#"{"a":1}"#),
            (
                "{\n  \"a\" : [ 1 , { \"b\" : null } ],\r\n\t\"c\": \"x y\"\n}\n",
                r#"{"a":[1,{"b":null}],"c":"x y"}"#,
            ),
        ];
        for (a, b) in pairs {
            assert!(same(a, b), "{a} vs {b}");
        }
        let digest_of_compact = Sha256::digest(br#"{"a":"x y"}"#);
        assert_eq!(digest(br#"{ "a" : "x y" }"#)[..], digest_of_compact[..]);
    }

    #[test]
    fn only_whitespace_outside_strings_makes_text_not_compact() {
        for (text, compact) in [
            (r#"{"a":"x y\" z","b":[1,{"c":null}]}"#, true),
            (r#"{"a":"\u0020\n"}"#, true),
            ("{\"a\": 1}", false),
            ("{\"a\":\"x\\\"\",\n\"b\":1}", false),
            ("[1,\t2]", false),
        ] {
            assert_eq!(hash(text.as_bytes()).compact, compact, "{text}");
        }
    }

    #[test]
    fn key_order_number_spelling_and_content_count() {
        let pairs = [
            (r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#),
            (r#"{"n":1.50}"#, r#"{"n":1.5}"#),
            (r#"{"n":1e2}"#, r#"{"n":100}"#),
            (r#"{"s":"x y"}"#, r#"{"s":"xy"}"#),
            // A quote inside a string is not structure.
            (r#"{"a":"x\",\"b\":\"y"}"#, r#"{"a":"x","b":"y"}"#),
            (r#"{"a":"\\"}"#, r#"{"a":"\/"}"#),
            (r#"{"e":"\ud83d"}"#, r#"{"e":"\ud83e"}"#),
        ];
        for (a, b) in pairs {
            assert!(!same(a, b), "{a} vs {b}");
        }
    }

    #[test]
    fn lone_surrogates_and_truncated_text_do_not_panic() {
        for text in [
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\u12"#,
            "\"\\",
            "\"abc",
            "{",
        ] {
            let _ = digest(text.as_bytes());
        }
        assert!(same(r#""\uD800""#, r#""\ud800""#));
    }
}
