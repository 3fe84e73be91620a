//! The JavaScript errors callers catch: mapping `slicer_core::Error` to
//! them, and telling them apart.

use slicer_core::{Error, TransportErrorKind};
use wasm_bindgen::{JsCast, JsValue};

use crate::js;

/// A JavaScript `Error` with `message`.
pub(crate) fn plain(message: impl AsRef<str>) -> JsValue {
    js_sys::Error::new(message.as_ref()).into()
}

/// A JavaScript `TypeError` with `message`, for arguments of the wrong type.
pub(crate) fn type_error(message: impl AsRef<str>) -> JsValue {
    js_sys::TypeError::new(message.as_ref()).into()
}

/// Maps a core error to what the official SDK throws: `SlicerAPIError` for
/// any non-2xx answer, `SecretExistsError` for a taken secret name, an
/// `AbortError` for a cancelled request, and a plain `Error` otherwise.
///
/// `context` is the method and path of the call, used where the core error
/// no longer carries them (a reaped background exec).
pub(crate) fn to_js(err: Error, context: Option<(&str, &str)>) -> JsValue {
    match err {
        Error::Api(api) => js::SlicerApiErrorClass::new_api_error(
            api.status.as_u16(),
            api.method.as_str(),
            &api.path,
            &api.body,
        )
        .into(),
        Error::SecretExists { name } => js::SecretExistsErrorClass::new_secret_exists(&name).into(),
        Error::ExecReaped { exec_id } => {
            let (method, path) = context.unwrap_or(("GET", ""));
            let body = format!("background exec {exec_id:?} was reaped");
            js::SlicerApiErrorClass::new_api_error(410, method, path, &body).into()
        }
        Error::Transport(t) if t.kind() == TransportErrorKind::Aborted => {
            js::abort_error(&t.to_string())
        }
        other => plain(other.to_string()),
    }
}

/// Whether `value` is an instance of the package's `SlicerAPIError` class.
pub fn is_api_error(value: &JsValue) -> bool {
    value.dyn_ref::<js::SlicerApiErrorClass>().is_some()
}

/// Whether `value` is an instance of the package's `SecretExistsError` class.
pub fn is_secret_exists_error(value: &JsValue) -> bool {
    value.dyn_ref::<js::SecretExistsErrorClass>().is_some()
}
