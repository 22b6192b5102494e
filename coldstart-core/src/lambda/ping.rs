//! Recognizing warm-up pings on the raw payload, before any typed deserialization.

use std::fmt;

use serde_json::{Map, Value};

/// Payloads longer than this are never warm-up pings (the known shapes are a few dozen bytes);
/// they are not even scanned.
pub const MAX_PING_BYTES: usize = 4096;

/// The tool that sent a warm-up ping: the `source` label of `coldstart.warmups`.
///
/// ```
/// use coldstart_core::lambda::PingSource;
/// assert_eq!(PingSource::LambdaWarmer.as_str(), "lambda-warmer");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PingSource {
    /// [serverless-plugin-warmup](https://github.com/juanjoDiaz/serverless-plugin-warmup):
    /// `{"source":"serverless-plugin-warmup"}`, or that `source` in the client context's
    /// `custom` map (the plugin sends both; the payload can be customized, the context cannot).
    ServerlessPluginWarmup,
    /// [lambda-warmer](https://github.com/jeremydaly/lambda-warmer): `{"warmer":true, ...}`,
    /// with the fan-out in `__WARMER_CONCURRENCY__` (or `concurrency`).
    LambdaWarmer,
    /// The generic `{"warmup":true}` (optionally with a `concurrency` number).
    Warmup,
    /// Your own predicate ([`Coldstart::is_ping`](super::Coldstart::is_ping)) said so.
    Custom,
}

impl PingSource {
    /// The label value: `serverless-plugin-warmup`, `lambda-warmer`, `warmup` or `custom`.
    ///
    /// ```
    /// assert_eq!(coldstart_core::lambda::PingSource::Custom.as_str(), "custom");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            PingSource::ServerlessPluginWarmup => "serverless-plugin-warmup",
            PingSource::LambdaWarmer => "lambda-warmer",
            PingSource::Warmup => "warmup",
            PingSource::Custom => "custom",
        }
    }
}

impl fmt::Display for PingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recognized warm-up ping.
///
/// ```
/// use coldstart_core::lambda::{detect_ping, Ping, PingSource};
///
/// let ping = detect_ping(br#"{"warmer":true,"__WARMER_CONCURRENCY__":3}"#).unwrap();
/// assert_eq!(ping, Ping::new(PingSource::LambdaWarmer, Some(3)));
/// assert!(ping.fans_out());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Ping {
    /// Which tool sent it.
    pub source: PingSource,
    /// How many pings the tool sent at once, when the payload says.
    pub concurrency: Option<u32>,
}

impl Ping {
    /// A ping from `source`, part of a fan-out of `concurrency` pings when known.
    pub fn new(source: PingSource, concurrency: Option<u32>) -> Ping {
        Ping {
            source,
            concurrency,
        }
    }

    /// Whether this ping is one of several sent at once, so that answering it should take a
    /// moment ([`Coldstart::warmup_delay`](super::Coldstart::warmup_delay)) for the others to
    /// land on other environments: when the payload says concurrency > 1, and for
    /// serverless-plugin-warmup when it does not say (the plugin never tells; its documentation
    /// recommends waiting in every warm-up).
    ///
    /// ```
    /// use coldstart_core::lambda::{Ping, PingSource};
    /// assert!(Ping::new(PingSource::ServerlessPluginWarmup, None).fans_out());
    /// assert!(!Ping::new(PingSource::Warmup, None).fans_out());
    /// assert!(!Ping::new(PingSource::LambdaWarmer, Some(1)).fans_out());
    /// ```
    pub fn fans_out(&self) -> bool {
        match self.concurrency {
            Some(n) => n > 1,
            None => self.source == PingSource::ServerlessPluginWarmup,
        }
    }
}

/// Recognizes the built-in warm-up ping shapes in a raw payload:
/// `{"source":"serverless-plugin-warmup"}`, `{"warmer":true, ...}` (lambda-warmer) and
/// `{"warmup":true}`.
///
/// Cheap on every other payload: anything longer than [`MAX_PING_BYTES`], not starting with
/// `{`, or not containing the bytes `warm` is rejected without parsing. Never panics, whatever
/// the bytes. (A payload whose keys spell `warm` with JSON escapes is not recognized.)
///
/// ```
/// use coldstart_core::lambda::{detect_ping, PingSource};
///
/// let ping = detect_ping(br#"{"source":"serverless-plugin-warmup"}"#).unwrap();
/// assert_eq!(ping.source, PingSource::ServerlessPluginWarmup);
/// assert_eq!(detect_ping(br#"{"warmup":true}"#).unwrap().source, PingSource::Warmup);
/// assert!(detect_ping(br#"{"warmup":false}"#).is_none());
/// assert!(detect_ping(br#"{"orderId":7}"#).is_none());
/// ```
pub fn detect_ping(body: &[u8]) -> Option<Ping> {
    if body.len() > MAX_PING_BYTES {
        return None;
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || !body.windows(4).any(|w| w == b"warm") {
        return None;
    }
    let object: Map<String, Value> = serde_json::from_slice(body).ok()?;
    if object.get("source").and_then(Value::as_str) == Some("serverless-plugin-warmup") {
        return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
    }
    if object.get("warmer") == Some(&Value::Bool(true)) {
        let concurrency =
            number(&object, "__WARMER_CONCURRENCY__").or(number(&object, "concurrency"));
        return Some(Ping::new(PingSource::LambdaWarmer, concurrency));
    }
    if object.get("warmup") == Some(&Value::Bool(true)) {
        return Some(Ping::new(
            PingSource::Warmup,
            number(&object, "concurrency"),
        ));
    }
    None
}

/// A non-negative integer field, saturated to `u32`.
fn number(object: &Map<String, Value>, key: &str) -> Option<u32> {
    let value = object.get(key)?;
    let n = value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
    Some(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_shape_is_recognized() {
        let cases: &[(&[u8], PingSource, Option<u32>)] = &[
            (
                br#"{"source":"serverless-plugin-warmup"}"#,
                PingSource::ServerlessPluginWarmup,
                None,
            ),
            (
                b"  \n{ \"source\" : \"serverless-plugin-warmup\", \"x\": [1] }",
                PingSource::ServerlessPluginWarmup,
                None,
            ),
            (br#"{"warmer":true}"#, PingSource::LambdaWarmer, None),
            (
                br#"{"warmer":true,"__WARMER_INVOCATION__":2,"__WARMER_CONCURRENCY__":5,"__WARMER_CORRELATIONID__":"a"}"#,
                PingSource::LambdaWarmer,
                Some(5),
            ),
            (br#"{"warmer":true,"concurrency":"3"}"#, PingSource::LambdaWarmer, Some(3)),
            (br#"{"warmup":true}"#, PingSource::Warmup, None),
            (br#"{"warmup":true,"concurrency":99999999999}"#, PingSource::Warmup, Some(u32::MAX)),
        ];
        for (body, source, concurrency) in cases {
            let ping =
                detect_ping(body).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(body)));
            assert_eq!((ping.source, ping.concurrency), (*source, *concurrency));
        }
    }

    #[test]
    fn lookalikes_are_not_pings() {
        for body in [
            &br#"{"source":"aws.events"}"#[..],
            br#"{"warmer":"true"}"#,
            br#"{"warmup":1}"#,
            br#"{"warmup":true"#,
            br#"[{"warmup":true}]"#,
            br#""warmup""#,
            br#"{"nested":{"warmup":true}}"#,
            br#"{"warmup":true} trailing"#,
            b"",
            b"\xff\xfe{warm",
        ] {
            assert_eq!(detect_ping(body), None, "{}", String::from_utf8_lossy(body));
        }
        let mut huge = br#"{"warmup":true,"pad":""#.to_vec();
        huge.resize(MAX_PING_BYTES, b' ');
        huge.extend_from_slice(br#""}"#);
        assert_eq!(detect_ping(&huge), None, "over the size cap");
    }

    /// A deterministic fuzz harness (no extra dependencies, a fraction of a second): random
    /// bytes, and random mutations of every known shape (byte flips, truncations, splices,
    /// duplications, deep nesting). The detector must return, never panic, and agree with
    /// itself.
    #[test]
    fn the_detector_never_panics_on_arbitrary_bytes() {
        let seeds: &[&[u8]] = &[
            br#"{"source":"serverless-plugin-warmup"}"#,
            br#"{"warmer":true,"__WARMER_INVOCATION__":1,"__WARMER_CONCURRENCY__":3}"#,
            br#"{"warmup":true,"concurrency":2}"#,
            br#"{"warmup":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            br#"{"warm":"\ud800\udc00\u0000","n":-1e400,"m":18446744073709551616}"#,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut recognized = 0;
        for round in 0..20_000 {
            let mut body: Vec<u8> = if round % 5 == 0 {
                let len = (next() % 300) as usize;
                let mut body = b"{warm".to_vec();
                body.extend((0..len).map(|_| next() as u8));
                body
            } else {
                seeds[(next() % seeds.len() as u64) as usize].to_vec()
            };
            for _ in 0..(next() % 4) {
                let len = body.len().max(1);
                let at = (next() as usize) % len;
                match next() % 6 {
                    0 if !body.is_empty() => {
                        let at = at.min(body.len() - 1);
                        body[at] = next() as u8;
                    }
                    1 => body.truncate(at),
                    2 => body.insert(
                        at.min(body.len()),
                        b"{}[]\":,\\u0123456789truefalsenull"[(next() % 32) as usize],
                    ),
                    3 => {
                        let copy = body.clone();
                        body.extend_from_slice(&copy);
                    }
                    4 => {
                        let depth = (next() % 200) as usize;
                        let mut nested = b"{\"warmup\":".to_vec();
                        nested.extend(std::iter::repeat_n(b'[', depth));
                        body.splice(at.min(body.len())..at.min(body.len()), nested);
                    }
                    _ => body.reverse(),
                }
            }
            let first = detect_ping(&body);
            assert_eq!(first, detect_ping(&body));
            recognized += usize::from(first.is_some());
        }
        assert!(
            recognized > 100,
            "the mutations keep some pings intact: {recognized}"
        );
    }
}
