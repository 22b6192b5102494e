//! Recognizing warm-up pings on the raw payload, before any typed deserialization.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

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
    /// [lambda-warmer](https://github.com/jeremydaly/lambda-warmer): `{"warmer":true, ...}` with
    /// only lambda-warmer's keys, the fan-out in `__WARMER_CONCURRENCY__` (or `concurrency`).
    LambdaWarmer,
    /// The generic `{"warmup":true}` (optionally with a `concurrency` number, nothing else).
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

/// Recognizes the built-in warm-up ping shapes in a raw payload.
///
/// A payload is a ping only when it has the shape its warming tool sends: a JSON object whose
/// every key is one of that tool's keys, each at most once, with the tool's type of value.
/// Anything else — real data next to a ping's keys, keys of two tools, a repeated key, a value
/// of another type, text that is not UTF-8 — is an event, handled exactly as by
/// `lambda_runtime::run`. The shapes (a "count" is a non-negative integer, or a string holding
/// one):
///
/// - serverless-plugin-warmup: `source`, the string `"serverless-plugin-warmup"`, alone. (The
///   plugin's payload can be customized; a customized one is recognized by the `source` the
///   plugin also puts in the client context, see
///   [`Coldstart::builtin_pings`](super::Coldstart::builtin_pings).)
/// - lambda-warmer: `warmer`, `true`; optionally `__WARMER_INVOCATION__`,
///   `__WARMER_CONCURRENCY__` and `concurrency`, counts, and `__WARMER_CORRELATIONID__`, a
///   string.
/// - generic: `warmup`, `true`; optionally `concurrency`, a count.
///
/// Cheap on every other payload: anything longer than [`MAX_PING_BYTES`], not starting with
/// `{`, or not containing the bytes `warm` is rejected without parsing, and parsing stops at the
/// first key or value outside the shapes. Never panics, whatever the bytes. Keys are compared
/// after decoding JSON escapes, but a payload that spells `warm` only with escapes never gets
/// past the byte check.
///
/// ```
/// use coldstart::lambda::{detect_ping, PingSource};
///
/// let ping = detect_ping(br#"{"source":"serverless-plugin-warmup"}"#).unwrap();
/// assert_eq!(ping.source, PingSource::ServerlessPluginWarmup);
/// assert_eq!(detect_ping(br#"{"warmup":true}"#).unwrap().source, PingSource::Warmup);
/// assert!(detect_ping(br#"{"warmup":false}"#).is_none());
/// assert!(detect_ping(br#"{"orderId":7}"#).is_none());
/// // Real data next to a ping's key, or a repeated key: an event for the handler.
/// assert!(detect_ping(br#"{"id":5,"warmup":true}"#).is_none());
/// assert!(detect_ping(br#"{"warmup":false,"warmup":true}"#).is_none());
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
    let has = |key: Key| fields.keys & key as u8 != 0;
    let within = |shape: u8| fields.keys & !shape == 0;
    if has(Key::Source) && within(Key::SERVERLESS_PLUGIN_WARMUP) {
        return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
    }
    if has(Key::Warmer) && within(Key::LAMBDA_WARMER) {
        let concurrency = fields.warmer_concurrency.or(fields.concurrency);
        return Some(Ping::new(PingSource::LambdaWarmer, concurrency));
    }
    if has(Key::Warmup) && within(Key::WARMUP) {
        return Some(Ping::new(PingSource::Warmup, fields.concurrency));
    }
    None
}

// The payload is read key by key into the little the shapes above need (a `serde_json::Value`
// would cost every function binary its map and value code, about 15 KiB). Reading stops with an
// error, which means "not a ping", at the first key that is no tool's, a key seen before, or a
// value of another type than its key takes: nothing is skipped unread, so every string of a
// ping has been checked to be UTF-8.

/// What ping detection keeps of a JSON object made only of known keys with values of their type.
#[derive(Default)]
struct Fields {
    /// Which [`Key`]s are present, as bits.
    keys: u8,
    /// `__WARMER_CONCURRENCY__`, saturated to `u32`.
    warmer_concurrency: Option<u32>,
    /// `concurrency`, saturated to `u32`.
    concurrency: Option<u32>,
}

/// A top-level key some tool sends (as a bit of [`Fields::keys`]).
#[derive(Clone, Copy)]
#[repr(u8)]
enum Key {
    /// serverless-plugin-warmup: `"serverless-plugin-warmup"`.
    Source = 1,
    /// lambda-warmer: `true`.
    Warmer = 1 << 1,
    /// lambda-warmer: a count.
    WarmerInvocation = 1 << 2,
    /// lambda-warmer: a count.
    WarmerConcurrency = 1 << 3,
    /// lambda-warmer: a string.
    WarmerCorrelationId = 1 << 4,
    /// generic: `true`.
    Warmup = 1 << 5,
    /// lambda-warmer's trigger and generic: a count.
    Concurrency = 1 << 6,
}

impl Key {
    /// serverless-plugin-warmup's one key: `{"source":"serverless-plugin-warmup"}`.
    const SERVERLESS_PLUGIN_WARMUP: u8 = Key::Source as u8;
    /// lambda-warmer's keys: its scheduled trigger (`{"warmer":true,"concurrency":3}`) and the
    /// fan-out payload it sends itself (`warmer` and the three `__WARMER_…__` keys).
    const LAMBDA_WARMER: u8 = Key::Warmer as u8
        | Key::WarmerInvocation as u8
        | Key::WarmerConcurrency as u8
        | Key::WarmerCorrelationId as u8
        | Key::Concurrency as u8;
    /// The generic shape's keys.
    const WARMUP: u8 = Key::Warmup as u8 | Key::Concurrency as u8;
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
                while let Some(key) = map.next_key::<Key>()? {
                    if fields.keys & key as u8 != 0 {
                        return Err(de::Error::custom("a repeated key"));
                    }
                    fields.keys |= key as u8;
                    let value: Scalar = map.next_value()?;
                    let fits = match key {
                        Key::Source => value == Scalar::PluginName,
                        Key::Warmer | Key::Warmup => value == Scalar::True,
                        Key::WarmerCorrelationId => {
                            matches!(value, Scalar::Text(_) | Scalar::PluginName)
                        }
                        Key::WarmerInvocation => value.count().is_some(),
                        Key::WarmerConcurrency => {
                            fields.warmer_concurrency = value.count();
                            fields.warmer_concurrency.is_some()
                        }
                        Key::Concurrency => {
                            fields.concurrency = value.count();
                            fields.concurrency.is_some()
                        }
                    };
                    if !fits {
                        return Err(de::Error::custom("a value of another type"));
                    }
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a warming tool's key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "source" => Key::Source,
                    "warmer" => Key::Warmer,
                    "__WARMER_INVOCATION__" => Key::WarmerInvocation,
                    "__WARMER_CONCURRENCY__" => Key::WarmerConcurrency,
                    "__WARMER_CORRELATIONID__" => Key::WarmerCorrelationId,
                    "warmup" => Key::Warmup,
                    "concurrency" => Key::Concurrency,
                    _ => return Err(E::custom("no warming tool's key")),
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value of a known key, as far as ping detection cares. Every other JSON value (`false`,
/// `null`, a negative or fractional number, an array, an object) fails to deserialize, which
/// ends the reading: no tool sends one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scalar {
    /// `true`.
    True,
    /// A non-negative integer that fits a `u64`.
    Number(u64),
    /// The string `serverless-plugin-warmup`.
    PluginName,
    /// Any other string, with the non-negative integer it holds (whitespace around it allowed).
    Text(Option<u64>),
}

impl Scalar {
    /// A count: a non-negative integer or a string holding one, saturated to `u32`.
    fn count(self) -> Option<u32> {
        match self {
            Scalar::Number(n) | Scalar::Text(Some(n)) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, a non-negative integer or a string")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Scalar, E> {
                match value {
                    true => Ok(Scalar::True),
                    false => Err(E::custom("false")),
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
                Ok(if value == "serverless-plugin-warmup" {
                    Scalar::PluginName
                } else {
                    Scalar::Text(value.trim().parse().ok())
                })
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(body: &[u8]) -> String {
        String::from_utf8_lossy(body).into_owned()
    }

    #[test]
    fn every_documented_shape_is_recognized() {
        let cases: &[(&[u8], PingSource, Option<u32>)] = &[
            (
                br#"{"source":"serverless-plugin-warmup"}"#,
                PingSource::ServerlessPluginWarmup,
                None,
            ),
            (
                b"  \n{ \"source\" : \"serverless-plugin-warmup\" }\t\r\n",
                PingSource::ServerlessPluginWarmup,
                None,
            ),
            (br#"{"warmer":true}"#, PingSource::LambdaWarmer, None),
            // lambda-warmer's scheduled trigger, as its README writes it.
            (br#"{ "warmer":true,"concurrency":3 }"#, PingSource::LambdaWarmer, Some(3)),
            // The fan-out payload lambda-warmer 2.3 sends itself.
            (
                br#"{"warmer":true,"__WARMER_INVOCATION__":2,"__WARMER_CONCURRENCY__":5,"__WARMER_CORRELATIONID__":"a"}"#,
                PingSource::LambdaWarmer,
                Some(5),
            ),
            (
                br#"{"warmer":true,"__WARMER_INVOCATION__":"2","__WARMER_CONCURRENCY__":" 4 ","concurrency":9}"#,
                PingSource::LambdaWarmer,
                Some(4),
            ),
            (br#"{"warmer":true,"concurrency":"3"}"#, PingSource::LambdaWarmer, Some(3)),
            (br#"{"warmup":true}"#, PingSource::Warmup, None),
            (b"\t{ \"warmup\" : true ,\n \"concurrency\" : 2 }", PingSource::Warmup, Some(2)),
            (br#"{"warmup":true,"concurrency":99999999999}"#, PingSource::Warmup, Some(u32::MAX)),
            // A key counts as its decoded text, as for any JSON reader.
            (br#"{"warmup":true,"concurr\u0065ncy":2}"#, PingSource::Warmup, Some(2)),
        ];
        for (body, source, concurrency) in cases {
            let ping = detect_ping(body).unwrap_or_else(|| panic!("{}", show(body)));
            assert_eq!(
                (ping.source, ping.concurrency),
                (*source, *concurrency),
                "{}",
                show(body)
            );
            assert_eq!(reference(body), Some(ping), "{}", show(body));
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
            assert_eq!(detect_ping(body), None, "{}", show(body));
        }
        let mut huge = br#"{"warmup":true,"pad":""#.to_vec();
        huge.resize(MAX_PING_BYTES, b' ');
        huge.extend_from_slice(br#""}"#);
        assert_eq!(detect_ping(&huge), None, "over the size cap");
    }

    /// Asserts that neither the detector nor the reference takes any of `bodies` for a ping.
    fn assert_no_ping(bodies: &[&[u8]]) {
        for body in bodies {
            assert_eq!(detect_ping(body), None, "{}", show(body));
            assert_eq!(reference(body), None, "reference: {}", show(body));
        }
    }

    /// Real data next to a ping's keys goes to the handler: the tools never add a key.
    #[test]
    fn a_key_the_tool_does_not_send_makes_it_an_event() {
        assert_no_ping(&[
            br#"{"id":5,"warmup":true}"#,
            br#"{"warmup":true,"id":5}"#,
            br#"{"warmup":true,"concurrency":2,"order":{"id":5}}"#,
            br#"{"source":"serverless-plugin-warmup","id":5}"#,
            br#"{"source":"serverless-plugin-warmup","detail":{}}"#,
            br#"{"warmer":true,"__WARMER_INVOCATION__":1,"__WARMER_CONCURRENCY__":3,"orderId":5}"#,
            br#"{"warmer":true,"id":5}"#,
            // lambda-warmer's trigger for warming *another* function, and its test flag: work
            // this function's handler may do, not a ping to it.
            br#"{"warmer":true,"concurrency":2,"target":"other-function"}"#,
            br#"{"warmer":true,"concurrency":2,"test":true}"#,
        ]);
    }

    /// Each tool's keys belong to that tool: mixing two shapes is nobody's ping.
    #[test]
    fn keys_of_two_tools_are_not_a_ping() {
        assert_no_ping(&[
            br#"{"warmup":true,"warmer":true}"#,
            br#"{"warmer":true,"warmup":true}"#,
            br#"{"source":"serverless-plugin-warmup","warmup":true}"#,
            br#"{"source":"serverless-plugin-warmup","warmer":true}"#,
            br#"{"source":"serverless-plugin-warmup","concurrency":2}"#,
            br#"{"warmup":true,"__WARMER_CONCURRENCY__":2}"#,
            br#"{"warmup":true,"__WARMER_CORRELATIONID__":"a"}"#,
            br#"{"warmer":true,"source":"serverless-plugin-warmup"}"#,
            // A fan-out payload without its flag (no tool sends one).
            br#"{"__WARMER_INVOCATION__":2,"__WARMER_CONCURRENCY__":3,"__WARMER_CORRELATIONID__":"warm"}"#,
            br#"{"concurrency":2,"warmth":true}"#,
        ]);
    }

    /// Values of another type than the tool sends: the handler decides what they mean.
    #[test]
    fn a_value_of_another_type_makes_it_an_event() {
        assert_no_ping(&[
            br#"{"warmup":false}"#,
            br#"{"warmup":"true"}"#,
            br#"{"warmup":null}"#,
            br#"{"warmer":1}"#,
            br#"{"source":"serverless-plugin-warmup "}"#,
            br#"{"source":"Serverless-plugin-warmup"}"#,
            br#"{"source":null,"warmup":true}"#,
            br#"{"warmup":true,"concurrency":"x"}"#,
            br#"{"warmup":true,"concurrency":-1}"#,
            br#"{"warmup":true,"concurrency":2.5}"#,
            br#"{"warmup":true,"concurrency":2.0}"#,
            br#"{"warmup":true,"concurrency":1e2}"#,
            br#"{"warmup":true,"concurrency":18446744073709551616}"#,
            br#"{"warmup":true,"concurrency":null}"#,
            br#"{"warmup":true,"concurrency":false}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":"x","concurrency":" 4 "}"#,
            br#"{"warmer":true,"__WARMER_INVOCATION__":true}"#,
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":7}"#,
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":null}"#,
        ]);
    }

    /// Objects and arrays are no tool's value, at any key.
    #[test]
    fn nested_values_make_it_an_event() {
        assert_no_ping(&[
            br#"{"warmup":{"warmup":true}}"#,
            br#"{"warmup":[true]}"#,
            br#"{"warmup":true,"concurrency":{"n":2}}"#,
            br#"{"warmup":true,"concurrency":[2]}"#,
            br#"{"source":{"source":"serverless-plugin-warmup"}}"#,
            br#"{"source":["serverless-plugin-warmup"]}"#,
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":{"id":"a"}}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":[[[[3]]]]}"#,
        ]);
    }

    /// A tool never repeats a key; what a repeated key means is the handler's business (a
    /// `serde_json::Map` keeps the last, a derived struct rejects it).
    #[test]
    fn a_repeated_key_makes_it_an_event() {
        assert_no_ping(&[
            br#"{"warmup":false,"warmup":true}"#,
            br#"{"warmup":true,"warmup":false}"#,
            br#"{"warmup":true,"warmup":true}"#,
            br#"{"source":"serverless-plugin-warmup","source":"serverless-plugin-warmup"}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":2,"__WARMER_CONCURRENCY__":3}"#,
            br#"{"warmer":true,"concurrency":2,"concurrency":2}"#,
            // Repeated once decoded.
            br#"{"warmup":true,"w\u0061rmup":true}"#,
            br#"{"warmup":true,"concurrency":1,"concurr\u0065ncy":2}"#,
        ]);
    }

    /// Text that is not UTF-8 (raw bytes or a lone surrogate escape), in any string of a
    /// ping shape: `lambda_runtime`'s deserializer rejects such a payload, so it must see it.
    #[test]
    fn text_that_is_not_utf8_makes_it_an_event() {
        assert_no_ping(&[
            b"{\"warmer\":true,\"__WARMER_CORRELATIONID__\":\"\xff\"}",
            b"{\"warmer\":true,\"__WARMER_CORRELATIONID__\":\"c0\xc3\x28ffee\"}",
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":"\ud800"}"#,
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":"\udc00\ud800"}"#,
            b"{\"warmup\":true,\"concurrency\":\"2\xff\"}",
            b"{\"source\":\"serverless-plugin-warmup\xed\xa0\x80\"}",
            b"{\"warmup\":true,\"\xff\":1}",
            b"{\"warmup\":true,\"x\":\"\xff\"}",
            br#"{"warmup":true,"x":"\ud800"}"#,
        ]);
    }

    /// Escapes are decoded before keys are compared, but the byte pre-check looks at the raw
    /// payload: `warm` spelled only with escapes is never scanned.
    #[test]
    fn escaped_keys_count_as_their_text() {
        assert_eq!(detect_ping(br#"{"w\u0061rmup":true}"#), None);
        assert_eq!(
            detect_ping(br#"{"\u0077armer":true,"__WARMER_CORRELATIONID__":"warm"}"#),
            Some(Ping::new(PingSource::LambdaWarmer, None))
        );
        assert_no_ping(&[
            br#"{"warmup":true,"\u0069d":5}"#,
            br#"{"warmup\u0000":true}"#,
        ]);
    }

    /// The rule written again on whole `serde_json` values: the entries of the top-level
    /// object in order (repeats kept), each one checked against the tool's keys and types.
    /// The field-by-field reader must decide exactly as this does.
    fn reference(body: &[u8]) -> Option<Ping> {
        use serde_json::Value;
        if body.len() > MAX_PING_BYTES {
            return None;
        }
        let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' || !body.windows(4).any(|w| w == b"warm") {
            return None;
        }
        let Entries(entries) = serde_json::from_slice(body).ok()?;
        let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
        if (1..keys.len()).any(|n| keys[..n].contains(&keys[n])) {
            return None;
        }
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, value)| value)
        };
        let only = |allowed: &[&str]| keys.iter().all(|key| allowed.contains(key));
        // `None`: present but not a count; `Some(None)`: absent.
        let count = |key: &str| -> Option<Option<u32>> {
            let Some(value) = get(key) else {
                return Some(None);
            };
            let n: u64 = value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))?;
            Some(Some(u32::try_from(n).unwrap_or(u32::MAX)))
        };
        if get("source").and_then(Value::as_str) == Some("serverless-plugin-warmup")
            && only(&["source"])
        {
            return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
        }
        if get("warmer") == Some(&Value::Bool(true))
            && only(&[
                "warmer",
                "__WARMER_INVOCATION__",
                "__WARMER_CONCURRENCY__",
                "__WARMER_CORRELATIONID__",
                "concurrency",
            ])
            && get("__WARMER_CORRELATIONID__").is_none_or(Value::is_string)
        {
            count("__WARMER_INVOCATION__")?;
            let concurrency = count("__WARMER_CONCURRENCY__")?.or(count("concurrency")?);
            return Some(Ping::new(PingSource::LambdaWarmer, concurrency));
        }
        if get("warmup") == Some(&Value::Bool(true)) && only(&["warmup", "concurrency"]) {
            return Some(Ping::new(PingSource::Warmup, count("concurrency")?));
        }
        None
    }

    /// A JSON object's entries in order, repeated keys kept.
    struct Entries(Vec<(String, serde_json::Value)>);

    impl<'de> Deserialize<'de> for Entries {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct EntriesVisitor;
            impl<'de> Visitor<'de> for EntriesVisitor {
                type Value = Entries;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entries, M::Error> {
                    let mut entries = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        entries.push(entry);
                    }
                    Ok(Entries(entries))
                }
            }
            deserializer.deserialize_map(EntriesVisitor)
        }
    }

    #[test]
    fn odd_payloads_decide_as_the_reference_does() {
        for body in [
            &br#"{"warmup":false,"warmup":true}"#[..],
            br#"{"warmup":true,"warmup":false}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":"x","concurrency":" 4 "}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":-3,"concurrency":2.0}"#,
            br#"{"warmer":true,"__WARMER_CONCURRENCY__":"0","concurrency":"+7"}"#,
            br#"{"warmup":true,"concurrency":18446744073709551616}"#,
            br#"{"warmup":true,"concurrency":-0}"#,
            br#"{"source":["serverless-plugin-warmup"],"warmup":true,"concurrency":{"a":[1]}}"#,
            br#"{"source":"serverless-plugin-warmup","source":null,"warmer":true}"#,
            br#"{"w\u0061rmup":true,"warmup":null}"#,
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":"serverless-plugin-warmup"}"#,
            br#"{"warmer":true,"__WARMER_CORRELATIONID__":"12"}"#,
            br#"{}"#,
            br#"{"warm":true}"#,
        ] {
            assert_eq!(detect_ping(body), reference(body), "{}", show(body));
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
            br#"{"warmer":true,"__WARMER_INVOCATION__":"2","__WARMER_CONCURRENCY__":3,"__WARMER_CORRELATIONID__":"c0ffee","concurrency":3}"#,
            br#"{"warmup":true,"concurr\u0065ncy":"7","w\u0061rmup":true}"#,
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
