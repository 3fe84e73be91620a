//! The Slicer web demo: a browser console built on the Slicer npm package,
//! and the small server that hosts it.
//!
//! The server does three things on one origin, so the page needs no CORS:
//!
//! - serves the page itself (`/`, `/app.js`, `/app.css`, embedded in the
//!   binary);
//! - serves the built npm package from a directory at `/pkg/`;
//! - relays `/api/*` to a Slicer daemon, streaming request and response
//!   bodies both ways and adding `Authorization: Bearer <token>` on the
//!   server side. Whatever `Authorization` the browser sends is dropped, so
//!   the token never reaches the page and the page cannot pick another.
//!
//! With no Slicer URL configured, the binary starts the emulator in-process
//! and relays to it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use web_demo::{router, DemoConfig, Upstream};
//!
//! let upstream = Upstream::new("http://127.0.0.1:8080", Some("s3cret".to_owned()))?;
//! let app = router(DemoConfig::new(upstream, "wasm/pkg"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod assets;
mod config;
mod relay;
mod upstream;

pub use config::{settings_from_env, ConfigError, SlicerSettings, TokenSource};
pub use upstream::Upstream;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;

/// Everything the demo server needs: where `/api` goes and where the built
/// npm package lives.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    upstream: Arc<Upstream>,
    pkg_dir: PathBuf,
    emulated: bool,
}

impl DemoConfig {
    /// Relays to `upstream` and serves the npm package from `pkg_dir`.
    pub fn new(upstream: Upstream, pkg_dir: impl Into<PathBuf>) -> Self {
        DemoConfig {
            upstream: Arc::new(upstream),
            pkg_dir: pkg_dir.into(),
            emulated: false,
        }
    }

    /// Marks the upstream as the in-process emulator, which the page shows
    /// so a visitor knows the VMs are simulated.
    pub fn with_emulator(mut self, emulated: bool) -> Self {
        self.emulated = emulated;
        self
    }

    /// The upstream `/api` requests go to.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The directory served at `/pkg/`.
    pub fn pkg_dir(&self) -> &Path {
        &self.pkg_dir
    }
}

/// The demo's HTTP application: the page, `/pkg/`, `/demo-info` and the
/// `/api` relay.
///
/// `GET /demo-info` tells the page what it is connected to:
/// `{"slicer": "<label>", "emulator": bool, "auth": bool, "package": bool}`
/// (never the token).
pub fn router(config: DemoConfig) -> Router {
    let relay_state = config.upstream.clone();
    let api = Router::new().fallback(relay::relay).with_state(relay_state);
    Router::new()
        .route("/", get(assets::index))
        .route("/index.html", get(assets::index))
        .route("/app.js", get(assets::script))
        .route("/app.css", get(assets::styles))
        .route("/demo-info", get(assets::demo_info))
        .with_state(Arc::new(config.clone()))
        .nest_service("/pkg", assets::package_service(&config.pkg_dir))
        .nest_service("/api", api)
        .fallback(assets::not_found)
}
