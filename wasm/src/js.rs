//! Imports from the package's JavaScript half (`js/runtime.js`).

use js_sys::Promise;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/runtime.js")]
extern "C" {
    /// The JavaScript class of API errors.
    #[wasm_bindgen(js_name = SlicerAPIError)]
    pub type SlicerApiErrorClass;

    #[wasm_bindgen(constructor, js_class = "SlicerAPIError")]
    pub fn new_api_error(status: u16, method: &str, path: &str, body: &str) -> SlicerApiErrorClass;

    /// The JavaScript class of "secret already exists" errors.
    #[wasm_bindgen(js_name = SecretExistsError)]
    pub type SecretExistsErrorClass;

    #[wasm_bindgen(constructor, js_class = "SecretExistsError")]
    pub fn new_secret_exists(name: &str) -> SecretExistsErrorClass;

    /// `{ promise, dispose }` for up to two signals, or null.
    #[wasm_bindgen(js_name = watchAbort, catch)]
    pub fn watch_abort(first: &JsValue, second: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = abortError)]
    pub fn abort_error(message: &str) -> JsValue;

    pub fn sleep(ms: f64) -> Promise;

    #[wasm_bindgen(js_name = cancelQuietly)]
    pub fn cancel_quietly(reader: &JsValue);

    #[wasm_bindgen(js_name = isServerRuntime)]
    pub fn is_server_runtime() -> bool;

    #[wasm_bindgen(js_name = wrapBytes)]
    pub fn wrap_bytes(bytes: &js_sys::Uint8Array) -> JsValue;
}
