//! [`ApiRoutes`]: the one way a route joins `/api/v1`. Each route is added with its method and
//! path template, which are kept in a table beside the axum router, so the served routes can be
//! compared with the OpenAPI document (`openapi.rs`): axum itself cannot list its routes.

use axum::handler::Handler;
use axum::routing::{on, MethodFilter};
use axum::Router;

/// An HTTP method the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Verb {
    /// The lower-case name, as an OpenAPI path item keys its operations.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }

    const fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
        }
    }
}

/// A router being built, and the `(method, path template)` of every route added to it.
pub(crate) struct ApiRoutes<S> {
    router: Router<S>,
    table: Vec<(Verb, &'static str)>,
}

impl<S: Clone + Send + Sync + 'static> ApiRoutes<S> {
    /// No routes yet.
    pub(crate) fn new() -> Self {
        ApiRoutes { router: Router::new(), table: Vec::new() }
    }

    /// Adds `handler` for `verb` on `path` (an axum template, `{id}` for a parameter).
    pub(crate) fn add<H, T>(mut self, verb: Verb, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.route(path, on(verb.filter(), handler));
        self.table.push((verb, path));
        self
    }

    /// The router.
    pub(crate) fn into_router(self) -> Router<S> {
        self.router
    }

    /// Every route added, sorted.
    pub(crate) fn table(&self) -> Vec<(Verb, &'static str)> {
        let mut t = self.table.clone();
        t.sort_unstable();
        t
    }
}
