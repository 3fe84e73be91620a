//! Reading caller option objects and building plain result objects.
//!
//! Results are plain camelCase objects; a key the server did not send is
//! absent rather than `undefined`. Option readers name the offending key in
//! every type error.

use js_sys::{Array, Object, Reflect, Uint8Array};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use wasm_bindgen::{JsCast, JsValue};

use crate::errors::type_error;

/// Reads typed keys from a caller's options object (`undefined` and `null`
/// read as an empty object).
pub(crate) struct Opts<'a> {
    obj: JsValue,
    what: &'a str,
}

impl<'a> Opts<'a> {
    /// Wraps `value`, described as `what` in errors (`ExecRequest`).
    pub(crate) fn new(value: &JsValue, what: &'a str) -> Result<Self, JsValue> {
        if value.is_undefined() || value.is_null() {
            return Ok(Opts {
                obj: Object::new().into(),
                what,
            });
        }
        if !value.is_object() {
            return Err(type_error(format!("{what} must be an object")));
        }
        Ok(Opts {
            obj: value.clone(),
            what,
        })
    }

    /// The raw value of `key`, `None` when undefined or null.
    pub(crate) fn raw(&self, key: &str) -> Option<JsValue> {
        Reflect::get(&self.obj, &key.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn bad(&self, key: &str, expected: &str) -> JsValue {
        type_error(format!("{}.{key} must be {expected}", self.what))
    }

    /// A string option.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, JsValue> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a string")),
        }
    }

    /// A boolean option.
    pub(crate) fn boolean(&self, key: &str) -> Result<Option<bool>, JsValue> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a boolean")),
        }
    }

    /// A finite number option.
    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>, JsValue> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or_else(|| self.bad(key, "a finite number")),
        }
    }

    /// A non-negative integer option no larger than `max`.
    pub(crate) fn uint(&self, key: &str, max: f64) -> Result<Option<u64>, JsValue> {
        match self.number(key)? {
            None => Ok(None),
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= max => Ok(Some(n as u64)),
            // `max` is a whole number: printed as an integer, so float
            // formatting stays out of the module.
            Some(_) => Err(self.bad(key, &format!("an integer from 0 to {}", max as u64))),
        }
    }

    /// A `uid`/`gid` style option (0 to 2³²−1).
    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, JsValue> {
        Ok(self.uint(key, u32::MAX as f64)?.map(|n| n as u32))
    }

    /// An array-of-strings option.
    pub(crate) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, JsValue> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        if !Array::is_array(&v) {
            return Err(self.bad(key, "an array of strings"));
        }
        Array::from(&v)
            .iter()
            .map(|item| {
                item.as_string()
                    .ok_or_else(|| self.bad(key, "an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A bytes option: a `Uint8Array` (a Node `Buffer` is one), an
    /// `ArrayBuffer`, or a string taken as UTF-8.
    pub(crate) fn bytes(&self, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => bytes_of(&v)
                .map(Some)
                .ok_or_else(|| self.bad(key, "a Uint8Array, an ArrayBuffer or a string")),
        }
    }

    /// The `signal` option as given (`undefined` when unset); `AbortWatch`
    /// checks that it is an `AbortSignal`.
    pub(crate) fn signal(&self) -> JsValue {
        self.raw("signal").unwrap_or(JsValue::UNDEFINED)
    }

    /// A function option.
    pub(crate) fn function(&self, key: &str) -> Result<Option<js_sys::Function>, JsValue> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .dyn_into::<js_sys::Function>()
                .map(Some)
                .map_err(|_| self.bad(key, "a function")),
        }
    }
}

/// Bytes from a `Uint8Array`, an `ArrayBuffer`, any typed-array view, or a
/// string (UTF-8).
pub(crate) fn bytes_of(v: &JsValue) -> Option<Vec<u8>> {
    if let Some(s) = v.as_string() {
        return Some(s.into_bytes());
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Some(a.to_vec());
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Some(Uint8Array::new(b).to_vec());
    }
    if js_sys::ArrayBuffer::is_view(v) {
        let buffer = Reflect::get(v, &"buffer".into()).ok()?;
        let offset = Reflect::get(v, &"byteOffset".into()).ok()?.as_f64()?;
        let length = Reflect::get(v, &"byteLength".into()).ok()?.as_f64()?;
        let view =
            Uint8Array::new_with_byte_offset_and_length(&buffer, offset as u32, length as u32);
        return Some(view.to_vec());
    }
    None
}

/// Output bytes: a `Uint8Array`, wrapped zero-copy as a `Buffer` where the
/// runtime has one (so Node-style `.toString('utf8')` keeps working).
pub(crate) fn js_bytes(bytes: &[u8]) -> JsValue {
    crate::js::wrap_bytes(&Uint8Array::from(bytes))
}

/// RFC 3339 text of a timestamp, empty when unknown.
pub(crate) fn timestamp(t: &Option<OffsetDateTime>) -> Option<String> {
    t.as_ref().and_then(|t| t.format(&Rfc3339).ok())
}

/// A plain object under construction.
pub(crate) struct Obj(Object);

impl Obj {
    pub(crate) fn new() -> Self {
        Obj(Object::new())
    }

    /// Sets `key` to `value`.
    pub(crate) fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        let _ = Reflect::set(&self.0, &key.into(), &value.into());
        self
    }

    /// Sets `key` when `value` is `Some`.
    pub(crate) fn opt<V: Into<JsValue>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Sets `key` to a string when it is not empty.
    pub(crate) fn non_empty(self, key: &str, value: &str) -> Self {
        if value.is_empty() {
            self
        } else {
            self.set(key, value)
        }
    }

    /// Sets `key` to an array of strings.
    pub(crate) fn strings(self, key: &str, values: &[String]) -> Self {
        let arr: Array = values.iter().map(|s| JsValue::from_str(s)).collect();
        self.set(key, arr)
    }

    pub(crate) fn build(self) -> JsValue {
        self.0.into()
    }
}

/// A JSON value as a plain JavaScript value (through `JSON.parse`, which is
/// smaller than a serializer in wasm).
pub(crate) fn json_value<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| crate::errors::plain(format!("cannot encode a result: {e}")))?;
    js_sys::JSON::parse(&text)
}

/// An array of converted items.
pub(crate) fn array<T>(items: &[T], f: impl Fn(&T) -> JsValue) -> JsValue {
    items.iter().map(f).collect::<Array>().into()
}
