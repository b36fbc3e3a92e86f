//! The API's one error type and its one mapping to HTTP.
//!
//! Every error answers `{"error": {"code", "message", "fields": [{"path",
//! "problem"}]}}`; `code` is a stable machine-readable word (listed in
//! docs/API.md), `fields` names each bad field of a request body (empty
//! otherwise). User errors (4xx) say what to fix; 5xx are ours.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cloutdesk_engine::brief::FieldProblem;
use serde::Serialize;
use utoipa::ToSchema;

/// An error response. Build it with the constructors below; handlers return
/// `Result<_, ApiError>`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldProblem>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

/// One bad field of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorField {
    /// JSON path of the field (`target.audience_countries.XX`), or the
    /// name of a query parameter or multipart part.
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable error code, e.g. `invalid_brief`, `not_found`, `overloaded`.
    pub code: String,
    pub message: String,
    pub fields: Vec<ErrorField>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_fields(mut self, fields: Vec<FieldProblem>) -> ApiError {
        self.fields = fields;
        self
    }

    pub fn field(path: impl Into<String>, problem: impl Into<String>) -> FieldProblem {
        FieldProblem {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "send an API key: `Authorization: Bearer cdk_...`",
        )
    }

    pub fn invalid_key() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_key",
            "the API key is not valid (unknown or revoked)",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 for a bad parameter (query, path segment or request-body field),
    /// naming it in `fields`.
    pub fn bad_param(param: &str, problem: impl Into<String>) -> ApiError {
        let problem = problem.into();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("parameter `{param}`: {problem}"),
        )
        .with_fields(vec![ApiError::field(param, problem)])
    }

    pub fn unprocessable(
        code: &'static str,
        message: impl Into<String>,
        fields: Vec<FieldProblem>,
    ) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_fields(fields)
    }

    pub fn payload_too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than this endpoint's limit of {limit} bytes"),
        )
    }

    pub fn overloaded(retry_after: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            "too many matches in flight; retry after the Retry-After delay",
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn not_ready() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_snapshot",
            "no snapshot is loaded yet: POST contract files to /v1/ingest (admin) or run `cloutdesk ingest`",
        );
        e.retry_after = Some(5);
        e
    }

    pub fn timeout(ms: u64) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than the server's limit of {ms} ms"),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                fields: self
                    .fields
                    .iter()
                    .map(|f| ErrorField {
                        path: f.path.clone(),
                        problem: f.problem.clone(),
                    })
                    .collect(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).expect("error body serializes");
        let mut r = (self.status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cloutdesk\""),
            );
        }
        r
    }
}

impl From<crate::campaigns::StoreError> for ApiError {
    fn from(e: crate::campaigns::StoreError) -> ApiError {
        ApiError::internal(format!("campaign store: {e}"))
    }
}
