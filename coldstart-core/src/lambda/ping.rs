//! Recognizing warm-up pings on the raw payload, before any typed deserialization.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Payloads longer than this are never warm-up pings (the known shapes are a few dozen bytes);
/// they are not even scanned.
pub const MAX_PING_BYTES: usize = 4096;

/// The tool that sent a warm-up ping: the `source` label of `coldstart.warmups`.
///
/// ```
/// use coldstart::lambda::PingSource;
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
    /// assert_eq!(coldstart::lambda::PingSource::Custom.as_str(), "custom");
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
/// use coldstart::lambda::{detect_ping, Ping, PingSource};
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
    /// use coldstart::lambda::{Ping, PingSource};
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
/// the bytes. (A payload whose keys spell `warm` with JSON escapes is not recognized; strings in
/// fields other than the ones above are skipped without checking their text.)
///
/// ```
/// use coldstart::lambda::{detect_ping, PingSource};
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
    let fields: Fields = serde_json::from_slice(body).ok()?;
    if fields.source == Some(Scalar::PluginName) {
        return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
    }
    if fields.warmer == Some(Scalar::True) {
        let concurrency = number(fields.warmer_concurrency).or(number(fields.concurrency));
        return Some(Ping::new(PingSource::LambdaWarmer, concurrency));
    }
    if fields.warmup == Some(Scalar::True) {
        return Some(Ping::new(PingSource::Warmup, number(fields.concurrency)));
    }
    None
}

/// A non-negative integer (or a string holding one), saturated to `u32`.
fn number(value: Option<Scalar>) -> Option<u32> {
    match value? {
        Scalar::Number(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        _ => None,
    }
}

// The payload is read into the few top-level fields the shapes above look at, every other value
// skipped (a `serde_json::Value` would cost every function binary its map and value code, about
// 15 KiB). Duplicate keys: the last one counts, as in a `serde_json::Map`.

/// The top-level fields of a JSON object that ping detection looks at.
#[derive(Default)]
struct Fields {
    source: Option<Scalar>,
    warmer: Option<Scalar>,
    warmup: Option<Scalar>,
    warmer_concurrency: Option<Scalar>,
    concurrency: Option<Scalar>,
}

/// What a field's value is, as far as ping detection cares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scalar {
    /// `true`.
    True,
    /// The string `serverless-plugin-warmup`.
    PluginName,
    /// A non-negative integer that fits a `u64`, or a string holding one (whitespace around it
    /// allowed).
    Number(u64),
    /// Anything else: another string or number, `false`, `null`, an array, an object.
    Other,
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields, M::Error> {
                let mut fields = Fields::default();
                while let Some(key) = map.next_key::<FieldName>()? {
                    let slot = match key {
                        FieldName::Source => &mut fields.source,
                        FieldName::Warmer => &mut fields.warmer,
                        FieldName::Warmup => &mut fields.warmup,
                        FieldName::WarmerConcurrency => &mut fields.warmer_concurrency,
                        FieldName::Concurrency => &mut fields.concurrency,
                        FieldName::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// A top-level key.
enum FieldName {
    Source,
    Warmer,
    Warmup,
    WarmerConcurrency,
    Concurrency,
    Other,
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<FieldName, E> {
                Ok(match key {
                    "source" => FieldName::Source,
                    "warmer" => FieldName::Warmer,
                    "warmup" => FieldName::Warmup,
                    "__WARMER_CONCURRENCY__" => FieldName::WarmerConcurrency,
                    "concurrency" => FieldName::Concurrency,
                    _ => FieldName::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
                Ok(if value { Scalar::True } else { Scalar::Other })
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
                Ok(u64::try_from(value).map_or(Scalar::Other, Scalar::Number))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
                Ok(if value == "serverless-plugin-warmup" {
                    Scalar::PluginName
                } else {
                    value.trim().parse().map_or(Scalar::Other, Scalar::Number)
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Scalar, S::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Scalar, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
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

    /// The detector as first written, on a whole `serde_json::Value`: the field-by-field
    /// reader must decide exactly as it does.
    fn reference(body: &[u8]) -> Option<Ping> {
        use serde_json::{Map, Value};
        if body.len() > MAX_PING_BYTES {
            return None;
        }
        let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' || !body.windows(4).any(|w| w == b"warm") {
            return None;
        }
        let object: Map<String, Value> = serde_json::from_slice(body).ok()?;
        let number = |key: &str| {
            let value = object.get(key)?;
            let n = value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
            Some(u32::try_from(n).unwrap_or(u32::MAX))
        };
        if object.get("source").and_then(Value::as_str) == Some("serverless-plugin-warmup") {
            return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
        }
        if object.get("warmer") == Some(&Value::Bool(true)) {
            let concurrency = number("__WARMER_CONCURRENCY__").or(number("concurrency"));
            return Some(Ping::new(PingSource::LambdaWarmer, concurrency));
        }
        if object.get("warmup") == Some(&Value::Bool(true)) {
            return Some(Ping::new(PingSource::Warmup, number("concurrency")));
        }
        None
    }

    #[test]
    fn duplicate_keys_and_odd_values_decide_as_a_json_map_would() {
        for body in [
            &br#"{"warmup":false,"warmup":true}"#[..],
            br#"{"warmup":true,"warmup":false}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":"x","concurrency":" 4 "}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":-3,"concurrency":2.0}"#,
            br#"{"warmup":true,"concurrency":18446744073709551616}"#,
            br#"{"source":["serverless-plugin-warmup"],"warmup":true,"concurrency":{"a":[1]}}"#,
            br#"{"source":"serverless-plugin-warmup","source":null,"warmer":true}"#,
            br#"{"w\u0061rmup":true,"warmup":null}"#,
        ] {
            assert_eq!(
                detect_ping(body),
                reference(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// The one documented difference: text in fields the detector skips is not checked, so a
    /// lone surrogate escape or a byte that is not UTF-8 in an unrelated string does not stop a
    /// ping from being recognized (a whole `Value` would have rejected the payload).
    #[test]
    fn skipped_strings_are_not_validated() {
        for body in [
            &br#"{"warmup":true,"x":"\ud800"}"#[..],
            b"{\"warmup\":true,\"x\":\"\xff\"}",
        ] {
            assert_eq!(
                detect_ping(body).map(|ping| ping.source),
                Some(PingSource::Warmup)
            );
            assert_eq!(reference(body), None);
        }
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
            assert_eq!(
                first,
                reference(&body),
                "{}",
                String::from_utf8_lossy(&body)
            );
            recognized += usize::from(first.is_some());
        }
        assert!(
            recognized > 100,
            "the mutations keep some pings intact: {recognized}"
        );
    }
}
