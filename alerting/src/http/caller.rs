//! [`Caller`]: the one way a request is authenticated. Every `/api/v1` handler takes it, so no
//! route can forget the check: `Authorization: Bearer <token>` is looked up among the tokens in
//! force (401 without a known one) and the handler gets the token's [`Principal`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::HttpParts;
use crate::access::{Principal, SharedTokens};

/// The authenticated caller of a request.
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<HttpParts> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpParts) -> Result<Caller, ApiError> {
        authenticate(&parts.headers, &state.tokens).map(Caller)
    }
}

/// The principal of a request's `Authorization: Bearer <token>` header (401 without one).
fn authenticate(headers: &HeaderMap, tokens: &SharedTokens) -> Result<Principal, ApiError> {
    let value =
        headers.get(header::AUTHORIZATION).ok_or(ApiError::Unauthorized("missing Authorization: Bearer <token>"))?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("Authorization must be a Bearer token"))?;
    tokens.authenticate(token.trim()).ok_or(ApiError::Unauthorized("unknown token"))
}
