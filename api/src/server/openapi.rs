//! The OpenAPI document's frame: info, tags and the API-key security scheme.
//! Paths and schemas come from the handlers' `#[utoipa::path]` attributes,
//! collected by the router itself (`utoipa_axum::routes!`), so a route
//! cannot be served without being described; `api/tests/api_openapi.rs`
//! checks the other direction and the responses.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloutdesk matching engine API",
        description = "Campaign briefs in, creator portfolios out. Errors are `{\"error\": {\"code\", \"message\", \"fields\"}}`. See docs/API.md for roles and a curl session.",
        license(name = "Apache-2.0")
    ),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "campaigns", description = "The caller's org's stored briefs"),
        (name = "matching", description = "Budget-feasible creator portfolios"),
        (name = "creators", description = "Profiles, search and lookalikes"),
        (name = "admin", description = "Loading data and the served snapshot"),
        (name = "ops", description = "Health, readiness, metrics")
    )
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cdk_<id>_<secret>")
                    .description(Some(
                        "An API key minted with `cloutdesk keys create` (roles: admin, marketer of an org, creator)",
                    ))
                    .build(),
            ),
        );
    }
}
