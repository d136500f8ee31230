//! The webhook signature check: which algorithm, which active secrets, and a comparison
//! that takes the same time whatever the presented digest holds.
//!
//! Sellsy signs with lowercase hex SHA-1 of (key ‖ raw body), a plain digest and not an
//! HMAC (fact sheet §2.1). The HMAC schemes exist because the fact sheet (§6 item 1) asks
//! for the algorithm to be configurable.

use std::convert::Infallible;
use std::fmt;
use std::hint::black_box;
use std::str::FromStr;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// The request header carrying the signature (HTTP header names match in any case).
pub(crate) const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// How a body is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// Hex SHA-1 of the secret immediately followed by the raw body (what Sellsy sends).
    #[default]
    SellsySha1,
    /// Hex HMAC-SHA256 of the raw body keyed by the secret, optionally prefixed `sha256=`.
    HmacSha256,
    /// Hex HMAC-SHA1 of the raw body keyed by the secret, optionally prefixed `sha1=`.
    HmacSha1,
}

/// A signing key, used byte for byte as given. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a key exactly as given: not trimmed, not decoded.
    pub fn new(key: String) -> Self {
        Self(key)
    }

    /// The key's bytes, as they enter the digest.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = Infallible;

    /// Takes the text as is: Sellsy's key is used as its exact UTF-8 text (fact sheet §2.1).
    /// The configuration trims keys before they get here (see `config.rs`).
    fn from_str(key: &str) -> Result<Self, Self::Err> {
        Ok(Self(key.to_owned()))
    }
}

/// Why a signature was refused; [`Rejection::as_str`] is the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Rejection {
    /// No signature header, or an empty one.
    Missing,
    /// Not a hex digest of the scheme's length.
    Malformed,
    /// A well-formed digest that no active secret produces.
    Mismatch,
}

impl Rejection {
    /// A short lower-case label: `missing`, `malformed` or `mismatch`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Mismatch => "mismatch",
        }
    }
}

/// Checks webhook signatures against every active secret (several during a rotation).
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    scheme: SignatureScheme,
    secrets: Vec<Secret>,
}

impl Verifier {
    /// A verifier for `scheme` accepting any of `secrets`. Empty secrets are dropped: they
    /// would let anyone sign. With no secret left, every body is accepted unchecked.
    pub(crate) fn new(scheme: SignatureScheme, secrets: Vec<Secret>) -> Self {
        let secrets = secrets.into_iter().filter(|s| !s.0.is_empty()).collect();
        Self { scheme, secrets }
    }

    /// Whether signatures are checked at all (false when no secret is configured).
    pub(crate) fn is_enabled(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The configured algorithm.
    pub(crate) fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    /// How many secrets are active.
    pub(crate) fn secret_count(&self) -> usize {
        self.secrets.len()
    }

    /// Checks `header`, the raw value of [`SIGNATURE_HEADER`] if present, against the raw
    /// `body` bytes exactly as received. Always `Ok` when [`Verifier::is_enabled`] is false.
    ///
    /// # Errors
    /// [`Rejection::Missing`] when the header is absent or blank, [`Rejection::Malformed`]
    /// when it is not a hex digest of the right length, [`Rejection::Mismatch`] when no
    /// active secret produces it.
    pub(crate) fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), Rejection> {
        if !self.is_enabled() {
            return Ok(());
        }
        let presented = header
            .map(<[u8]>::trim_ascii)
            .filter(|h| !h.is_empty())
            .ok_or(Rejection::Missing)?;
        let matched = match self.scheme {
            SignatureScheme::SellsySha1 => {
                let tag = decode_hex::<20>(presented)?;
                self.any_secret(|key| sha1_concat_matches(key, body, &tag))
            }
            SignatureScheme::HmacSha256 => {
                let tag = decode_hex::<32>(strip_prefix(presented, b"sha256="))?;
                self.any_secret(|key| hmac_matches::<Hmac<Sha256>>(key, body, &tag))
            }
            SignatureScheme::HmacSha1 => {
                let tag = decode_hex::<20>(strip_prefix(presented, b"sha1="))?;
                self.any_secret(|key| hmac_matches::<Hmac<Sha1>>(key, body, &tag))
            }
        };
        if matched {
            Ok(())
        } else {
            Err(Rejection::Mismatch)
        }
    }

    /// Tries every secret, without stopping at the first match, so the timing does not
    /// tell which secret of a rotation signed the body.
    fn any_secret(&self, matches: impl Fn(&[u8]) -> bool) -> bool {
        self.secrets
            .iter()
            .fold(false, |found, secret| matches(secret.as_bytes()) | found)
    }
}

fn sha1_concat_matches(key: &[u8], body: &[u8], tag: &[u8; 20]) -> bool {
    let digest = Sha1::new().chain_update(key).chain_update(body).finalize();
    constant_time_eq(&digest, tag)
}

fn hmac_matches<M: Mac + KeyInit>(key: &[u8], body: &[u8], tag: &[u8]) -> bool {
    // HMAC takes keys of any length, so this never fails; a refusal would only mean "no".
    let Ok(mac) = <M as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.chain_update(body).verify_slice(tag).is_ok()
}

/// GitHub-style `sha256=` prefixes are optional, in any case.
fn strip_prefix<'a>(header: &'a [u8], prefix: &[u8]) -> &'a [u8] {
    match header.split_at_checked(prefix.len()) {
        Some((head, rest)) if head.eq_ignore_ascii_case(prefix) => rest,
        _ => header,
    }
}

/// Equal lengths and equal bytes, reading every byte whatever the differences.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    black_box(diff) == 0
}

/// Decodes exactly `N` bytes of hex (either case). The length is public; the content is
/// decoded without branching on it, so a bad character does not end the loop early.
fn decode_hex<const N: usize>(hex: &[u8]) -> Result<[u8; N], Rejection> {
    if hex.len() != 2 * N {
        return Err(Rejection::Malformed);
    }
    let mut out = [0u8; N];
    let mut valid = 0xFF_u8;
    for (byte, &[high, low]) in out.iter_mut().zip(hex.as_chunks::<2>().0) {
        let (high, high_ok) = nibble(high);
        let (low, low_ok) = nibble(low);
        *byte = (high << 4) | low;
        valid &= high_ok & low_ok;
    }
    if black_box(valid) == 0xFF {
        Ok(out)
    } else {
        Err(Rejection::Malformed)
    }
}

/// The value of one hex digit and a mask: 0xFF when `c` is a hex digit, else 0.
fn nibble(c: u8) -> (u8, u8) {
    let digit = in_range(c, b'0', b'9');
    let folded = c | 0x20; // 'A'..='F' onto 'a'..='f'; digits already have the bit
    let letter = in_range(folded, b'a', b'f');
    let value = (digit & c.wrapping_sub(b'0')) | (letter & folded.wrapping_sub(b'a' - 10));
    (value, digit | letter)
}

/// 0xFF when `lo <= x <= hi`, else 0, from the sign bits rather than a comparison branch.
fn in_range(x: u8, lo: u8, hi: u8) -> u8 {
    let x = i16::from(x);
    let outside = ((x - i16::from(lo)) | (i16::from(hi) - x)) >> 15;
    !(outside as u8)
}

#[cfg(test)]
mod tests {
    use super::Rejection::{Malformed, Mismatch, Missing};
    use super::SignatureScheme::{HmacSha1, HmacSha256, SellsySha1};
    use super::*;

    const KEY: &str = "3f6c1d2e-8a4b-4c7d-9e10-5b2a7f9c0d11";
    const BODY_A: &str = r#"{"eventType":"docslog","timestamp":"1732400123","event":"step","relatedid":"48213377","relatedtype":"estimate","ownerid":"204551","ownertype":"staff","corpid":"90812","relatedobject":{"id":48213377,"number":"DEV-2024-01137","status":"accepted","date":"2024-11-23","currency":"EUR","subject":"Refonte site e-commerce","related":[{"id":7311820,"type":"company"}]}}"#;
    const BODY_B: &str = "notif=%7B%22eventType%22%3A%22docslog%22%2C%22timestamp%22%3A%221732400123%22%2C%22event%22%3A%22step%22%2C%22relatedid%22%3A%2248213377%22%2C%22relatedtype%22%3A%22estimate%22%2C%22ownerid%22%3A%22204551%22%2C%22ownertype%22%3A%22staff%22%2C%22corpid%22%3A%2290812%22%7D";
    const SIG_A: &str = "df49797d7be49105f791a2998e901933c2ccf30d";
    const SIG_B: &str = "1c697d31621f2a1794793589d60c99b9d8cb7d8c";
    // Computed independently with Python's hmac module over BODY_A and KEY (§2.4 agrees).
    const HMAC_SHA1_A: &str = "f54aa8a0a632aa01e0dc92dafa674db5480bb913";
    const HMAC_SHA256_A: &str = "83b58f6dd4035a6a0efdd470040bf896ff88dc45c8d5ce3233c9171695a07af6";

    fn verifier(scheme: SignatureScheme, keys: &[&str]) -> Verifier {
        let secrets = keys.iter().map(|k| Secret::new((*k).to_owned())).collect();
        Verifier::new(scheme, secrets)
    }

    fn check(scheme: SignatureScheme, header: &str, body: &str) -> Result<(), Rejection> {
        verifier(scheme, &[KEY]).verify(Some(header.as_bytes()), body.as_bytes())
    }

    #[test]
    fn fact_sheet_vectors_verify() {
        assert_eq!((BODY_A.len(), BODY_B.len()), (362, 271));
        assert_eq!(check(SellsySha1, SIG_A, BODY_A), Ok(()));
        assert_eq!(check(SellsySha1, SIG_B, BODY_B), Ok(()));
    }

    #[test]
    fn sellsy_headers_are_judged_by_form_then_digest() {
        let upper = SIG_A.to_ascii_uppercase();
        let cases = [
            (upper.clone(), Ok(())),
            (format!(" \t{SIG_A}\r\n"), Ok(())),
            (format!("{}{}", &upper[..20], &SIG_A[20..]), Ok(())),
            (String::new(), Err(Missing)),
            (" \t ".to_owned(), Err(Missing)),
            (SIG_A[..39].to_owned(), Err(Malformed)),
            (SIG_A[..38].to_owned(), Err(Malformed)),
            (format!("{SIG_A}0"), Err(Malformed)),
            (format!("{}g", &SIG_A[..39]), Err(Malformed)),
            (format!("{} {}", &SIG_A[..20], &SIG_A[21..]), Err(Malformed)),
            (format!("sha1={SIG_A}"), Err(Malformed)),
            (HMAC_SHA256_A.to_owned(), Err(Malformed)),
            (SIG_B.to_owned(), Err(Mismatch)),
            // HMAC-SHA1 has the right shape but is another algorithm (§2.2).
            (HMAC_SHA1_A.to_owned(), Err(Mismatch)),
        ];
        for (header, want) in cases {
            assert_eq!(check(SellsySha1, &header, BODY_A), want, "{header:?}");
        }
        let v = verifier(SellsySha1, &[KEY]);
        assert_eq!(v.verify(None, BODY_A.as_bytes()), Err(Missing));
        assert_eq!(v.verify(Some(&[0xFF; 40]), b"{}"), Err(Malformed));
    }

    #[test]
    fn right_digest_with_wrong_key_or_extended_body_is_a_mismatch() {
        let other_key = verifier(SellsySha1, &["another-key"]);
        assert_eq!(
            other_key.verify(Some(SIG_A.as_bytes()), BODY_A.as_bytes()),
            Err(Mismatch)
        );
        assert_eq!(
            check(SellsySha1, SIG_A, &format!("{BODY_A} ")),
            Err(Mismatch)
        );
    }

    #[test]
    fn any_active_secret_may_sign_during_rotation() {
        for (scheme, digest) in [(SellsySha1, SIG_A), (HmacSha256, HMAC_SHA256_A)] {
            let v = verifier(scheme, &["old-key", KEY]);
            assert_eq!(v.secret_count(), 2);
            assert_eq!(v.verify(Some(digest.as_bytes()), BODY_A.as_bytes()), Ok(()));
        }
    }

    #[test]
    fn hmac_digests_verify_bare_or_prefixed() {
        let sha256_upper = format!("SHA256={}", HMAC_SHA256_A.to_ascii_uppercase());
        let cases = [
            (HmacSha256, HMAC_SHA256_A.to_owned(), Ok(())),
            (HmacSha256, format!("sha256={HMAC_SHA256_A}"), Ok(())),
            (HmacSha256, sha256_upper, Ok(())),
            (HmacSha256, "sha256=".to_owned(), Err(Malformed)),
            (HmacSha256, SIG_A.to_owned(), Err(Malformed)),
            (HmacSha256, format!("sha1={HMAC_SHA256_A}"), Err(Malformed)),
            (HmacSha256, "0".repeat(64), Err(Mismatch)),
            (HmacSha1, HMAC_SHA1_A.to_owned(), Ok(())),
            (HmacSha1, format!(" sha1={HMAC_SHA1_A} "), Ok(())),
            (HmacSha1, SIG_A.to_owned(), Err(Mismatch)),
            (HmacSha1, HMAC_SHA256_A.to_owned(), Err(Malformed)),
        ];
        for (scheme, header, want) in cases {
            assert_eq!(check(scheme, &header, BODY_A), want, "{scheme:?} {header}");
        }
    }

    #[test]
    fn without_secrets_every_body_passes() {
        for keys in [&[][..], &[""]] {
            let v = verifier(HmacSha1, keys);
            assert!(!v.is_enabled());
            assert_eq!((v.secret_count(), v.scheme()), (0, HmacSha1));
            assert_eq!(v.verify(None, b"anything"), Ok(()));
        }
        assert!(verifier(SellsySha1, &[KEY]).is_enabled());
    }

    #[test]
    fn secrets_are_never_shown_and_kept_byte_for_byte() {
        let Ok(secret) = format!(" {KEY} ").parse::<Secret>();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.as_bytes(), format!(" {KEY} ").as_bytes());
        assert!(!format!("{:?}", verifier(SellsySha1, &[KEY])).contains(KEY));
    }

    #[test]
    fn rejection_labels_and_cli_names_are_stable() {
        use clap::ValueEnum;
        let labels = [Missing, Malformed, Mismatch].map(Rejection::as_str);
        assert_eq!(labels, ["missing", "malformed", "mismatch"]);
        let names: Vec<String> = SignatureScheme::value_variants()
            .iter()
            .filter_map(|s| s.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect();
        assert_eq!(names, ["sellsy-sha1", "hmac-sha256", "hmac-sha1"]);
        assert_eq!(SignatureScheme::default(), SellsySha1);
    }

    #[test]
    fn hex_digits_decode_for_every_byte() {
        for c in 0..=255u8 {
            let expected = char::from(c)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok());
            let (value, ok) = nibble(c);
            assert!(ok == 0 || ok == 0xFF);
            assert_eq!((ok == 0xFF).then_some(value), expected, "{c}");
        }
        assert_eq!(decode_hex::<2>(b"0aFf"), Ok([0x0A, 0xFF]));
    }
}
