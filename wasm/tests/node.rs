//! The WebAssembly API against the emulator, node suite; see
//! wasm/run-wasm-tests.sh for how the emulator URL is compiled in.
// Runs under Node: `wasm-pack test --node . --test node`.
#![cfg(target_arch = "wasm32")]

mod common;

use wasm_bindgen_test::*;

#[wasm_bindgen_test]
async fn control_plane() {
    common::control_plane().await;
}

#[wasm_bindgen_test]
async fn secrets_and_errors() {
    common::secrets_and_errors().await;
}

#[wasm_bindgen_test]
async fn exec_streams_before_exit() {
    common::exec_streams_before_exit().await;
}

#[wasm_bindgen_test]
async fn binary_round_trips() {
    common::binary_round_trips().await;
}

#[wasm_bindgen_test]
async fn folders_with_progress() {
    common::folders_with_progress().await;
}

#[wasm_bindgen_test]
async fn abort_and_drop() {
    common::abort_and_drop().await;
}

#[wasm_bindgen_test]
async fn background_and_fs() {
    common::background_and_fs().await;
}
