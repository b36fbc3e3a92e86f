//! Who is calling: the [`Principal`] extractor and the scope checks.
//!
//! A handler that takes a `Principal` argument is authenticated: the request
//! must carry `Authorization: Bearer cdk_...` with a current key (else 401).
//! Scope rules (docs/API.md has the full table):
//! - admin: everything; on org-scoped routes it names the org with `?org=`;
//! - marketer of org X: org X's campaigns and matches, creator profiles and
//!   search; another org's campaign answers 404, never revealing it exists;
//! - creator Y: their own profile (and, with issue 5, their own feed).
//!
//! Invariant: the checks live here, one function per rule, so every route
//! states its rule in one call.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::errors::ApiError;
use super::AppState;
use crate::keys::Role;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub Role);

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(h) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthenticated());
        };
        let h = h.to_str().map_err(|_| ApiError::invalid_key())?.trim();
        let key = match h.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Err(ApiError::unauthenticated()),
        };
        state
            .keys()
            .authenticate(key)
            .map(Principal)
            .ok_or_else(ApiError::invalid_key)
    }
}

impl Principal {
    pub fn role(&self) -> &Role {
        &self.0
    }

    pub fn is_admin(&self) -> bool {
        self.0 == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this endpoint is for admin keys only"))
        }
    }

    /// Admins and marketers (matching, creator search).
    pub fn require_marketer_or_admin(&self) -> Result<(), ApiError> {
        match &self.0 {
            Role::Admin | Role::Marketer { .. } => Ok(()),
            Role::Creator { .. } => Err(ApiError::forbidden(
                "creator keys may read their own profile and feed only",
            )),
        }
    }

    /// The org an org-scoped request acts for: a marketer's own org (an
    /// `?org=` naming another org is refused), or the `?org=` an admin gives.
    pub fn org_scope(&self, requested: Option<&str>) -> Result<String, ApiError> {
        match (&self.0, requested) {
            (Role::Marketer { org }, None) => Ok(org.clone()),
            (Role::Marketer { org }, Some(r)) if r == org => Ok(org.clone()),
            (Role::Marketer { .. }, Some(_)) => Err(ApiError::forbidden(
                "a marketer key acts for its own org only",
            )),
            (Role::Admin, Some(r)) => Ok(r.to_string()),
            (Role::Admin, None) => Err(ApiError::bad_param(
                "org",
                "admin keys name the org of an org-scoped request with ?org=ORG_ID",
            )),
            (Role::Creator { .. }, _) => Err(ApiError::forbidden(
                "creator keys have no access to campaigns",
            )),
        }
    }

    /// May the caller act for `org` (the `org_id` of a brief in a body)?
    pub fn require_org(&self, org: &str) -> Result<(), ApiError> {
        match &self.0 {
            Role::Admin => Ok(()),
            Role::Marketer { org: mine } if mine == org => Ok(()),
            Role::Marketer { org: mine } => Err(ApiError::forbidden(format!(
                "org_id {org:?} is not this key's org ({mine})"
            ))),
            Role::Creator { .. } => Err(ApiError::forbidden(
                "creator keys have no access to campaigns or matching",
            )),
        }
    }

    /// May the caller read creator `id`'s profile?
    pub fn require_creator_visible(&self, id: &str) -> Result<(), ApiError> {
        match &self.0 {
            Role::Admin | Role::Marketer { .. } => Ok(()),
            Role::Creator { creator } if creator == id => Ok(()),
            Role::Creator { .. } => Err(ApiError::forbidden(
                "a creator key may read its own profile only",
            )),
        }
    }

    /// The creator a creator key belongs to.
    pub fn creator(&self) -> Option<&str> {
        match &self.0 {
            Role::Creator { creator } => Some(creator),
            _ => None,
        }
    }
}
