//! A large value the server answers with many times between changes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// A read-only value shared by the server's cache and every answer made from it. On the server
/// it also carries its JSON, made once when the value is, and written out verbatim wherever the
/// value is serialized (the JSON API, a server function's answer, a page's hydration data): an
/// open dashboard asks every few seconds for thousands of points that change once per refresh.
/// In the browser it is the value alone.
#[derive(Clone)]
pub struct Shared<T> {
    value: Arc<T>,
    #[cfg(feature = "ssr")]
    json: Arc<serde_json::value::RawValue>,
}

impl<T: Serialize> Shared<T> {
    pub fn new(value: T) -> Self {
        Shared {
            #[cfg(feature = "ssr")]
            json: serde_json::value::to_raw_value(&value).expect("plain data serializes").into(),
            value: Arc::new(value),
        }
    }
}

#[cfg(feature = "ssr")]
impl<T> Shared<T> {
    /// The value as JSON, shared rather than copied.
    pub fn json(&self) -> Arc<serde_json::value::RawValue> {
        self.json.clone()
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[cfg(feature = "ssr")]
        return self.json.serialize(serializer);
        #[cfg(not(feature = "ssr"))]
        return self.value.serialize(serializer);
    }
}

impl<'de, T: Serialize + Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Shared::new)
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
    struct Point {
        at: i64,
        value: f64,
    }

    #[test]
    fn serializes_as_the_value_itself_and_reads_back() {
        let shared = Shared::new(vec![Point { at: 60, value: 1.5 }, Point { at: 120, value: 2.0 }]);
        let wrapped = serde_json::json!({ "points": shared });
        assert_eq!(wrapped, serde_json::json!({ "points": [{ "at": 60, "value": 1.5 }, { "at": 120, "value": 2.0 }] }));
        let text = serde_json::to_string(&shared).unwrap();
        assert_eq!(text, r#"[{"at":60,"value":1.5},{"at":120,"value":2.0}]"#);
        let back: Shared<Vec<Point>> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, shared);
        assert_eq!(back.json().get(), text, "a value read back carries its JSON too");
    }
}
