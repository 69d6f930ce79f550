//! Server functions: the operations the UI needs. On the server they run in-process against the
//! `Backend` the server provides as context; in the browser they are HTTP calls to `/app/…`
//! (outside `/api/v1`, which is the public JSON API), authenticated by the session cookie.

use crate::model::{Environment, Identity};
use leptos::prelude::*;

#[server(prefix = "/app")]
pub async fn whoami() -> Result<Option<Identity>, ServerFnError> {
    Ok(backend::identity())
}

#[server(prefix = "/app")]
pub async fn list_environments() -> Result<Vec<Environment>, ServerFnError> {
    backend::require(crate::model::Role::Viewer)?;
    Ok(backend::get()?.environments().await)
}

#[cfg(feature = "ssr")]
pub mod backend {
    //! What the server must provide for the UI to work.
    use crate::model::{Environment, Identity, Role};
    use leptos::prelude::*;
    use std::sync::Arc;

    #[async_trait::async_trait]
    pub trait Backend: Send + Sync + 'static {
        async fn environments(&self) -> Vec<Environment>;
    }

    pub type SharedBackend = Arc<dyn Backend>;

    pub fn get() -> Result<SharedBackend, ServerFnError> {
        use_context::<SharedBackend>().ok_or_else(|| ServerFnError::new("backend missing from context"))
    }

    /// The caller, as the server's authentication middleware put it into the request.
    pub fn identity() -> Option<Identity> {
        use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<Identity>().cloned())
    }

    /// Fails unless the caller has at least `role`. The middleware already turned away anonymous
    /// callers; this guards each operation on its own, so no page forgets.
    pub fn require(role: Role) -> Result<Identity, ServerFnError> {
        match identity() {
            Some(who) if who.can(role) => Ok(who),
            Some(_) => Err(ServerFnError::new(format!("this needs the {role} role"))),
            None => Err(ServerFnError::new("sign in first")),
        }
    }
}
