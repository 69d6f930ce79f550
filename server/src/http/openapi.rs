//! The API's OpenAPI 3.1 document, generated from the handlers' own `#[utoipa::path]`
//! declarations and types (the routers are built from the same declarations, so the two cannot
//! drift apart), served at `GET /api/v1/openapi.json`.

use crate::app_state::AppState;
use app::model::api_reference::{ApiField, ApiGroup, ApiOperation, ApiParameter, ApiReference, ApiResponse, ApiType};
use app::model::run::Drift;
use app::model::status::EnvironmentStatus;
use app::model::Environment;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::sync::OnceLock;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::{Modify, PartialSchema, ToSchema};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Zelly control plane API", description = "Environments, Terraform runs, secrets, state, costs, audit and notifications. Every operation needs `Authorization: Bearer <token>` (`zelly-control token create`)."),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
    components(schemas(ErrorBody))
)]
struct Document;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();

/// `/api/v1`: the API's routes (with its JSON fallbacks) and `openapi.json`, their document.
pub fn api() -> axum::Router<AppState> {
    let (routes, described) = super::api_routes().split_for_parts();
    DOCUMENT.get_or_init(|| complete(described));
    let routes = routes.route("/openapi.json", axum::routing::get(serve));
    axum::Router::new().nest("/api/v1", with_fallbacks(routes))
}

/// JSON answers for paths and methods the API does not have.
fn with_fallbacks(router: axum::Router<AppState>) -> axum::Router<AppState> {
    router.fallback(|| async { super::error::ApiError::NotFound("no such API endpoint".into()) }).method_not_allowed_fallback(|| async {
        (
            http::StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(serde_json::json!({ "error": "method_not_allowed", "message": "this endpoint does not take that method" })),
        )
    })
}

/// The document of `/api/v1`, as `GET /api/v1/openapi.json` serves it.
pub fn document() -> &'static OpenApi {
    DOCUMENT.get_or_init(|| complete(super::api_routes().split_for_parts().1))
}

fn complete(described: OpenApi) -> OpenApi {
    let mut document = <Document as utoipa::OpenApi>::openapi().nest("/api/v1", described);
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    name_operations_and_answers(&mut document);
    document
}

/// Operation ids are the handlers' names, which repeat across domains (`list`, `show`): each
/// becomes `<tag>_<name>` (`runs_list`). A response declared without a description gets its
/// status's reason phrase (the format requires one).
fn name_operations_and_answers(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            if let (Some(id), Some(tag)) = (operation.operation_id.as_mut(), operation.tags.as_ref().and_then(|t| t.first())) {
                *id = format!("{tag}_{id}");
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    if response.description.is_empty() {
                        let reason = status.parse::<u16>().ok().and_then(|s| http::StatusCode::from_u16(s).ok()).and_then(|s| s.canonical_reason());
                        response.description = reason.unwrap_or("Answer").to_string();
                    }
                }
            }
        }
    }
}

/// Any signed-in caller may read it (the authentication layer has let the request in).
async fn serve() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| document().to_json().expect("the OpenAPI document serializes"));
    ([(http::header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

/// The document arranged for the API reference page: operations by tag, each with its
/// parameters, body and answers, types named as the document names them.
pub fn reference() -> ApiReference {
    static REFERENCE: OnceLock<ApiReference> = OnceLock::new();
    REFERENCE.get_or_init(arrange).clone()
}

fn arrange() -> ApiReference {
    let json = serde_json::to_value(document()).expect("the OpenAPI document serializes");
    let mut groups: Vec<ApiGroup> = Vec::new();
    for (path, item) in json["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
            let operation = ApiOperation {
                id: op["operationId"].as_str().unwrap_or_default().to_string(),
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                parameters: op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| ApiParameter {
                        name: text(&p["name"]),
                        location: text(&p["in"]),
                        required: p["required"].as_bool().unwrap_or(false),
                        kind: type_name(&p["schema"]),
                        description: text(&p["description"]),
                    })
                    .collect(),
                body: op["requestBody"]["content"].as_object().and_then(|c| c.values().next()).map(|media| {
                    (type_name(&media["schema"]), op["requestBody"]["required"].as_bool().unwrap_or(false))
                }),
                responses: op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| ApiResponse {
                        status: status.clone(),
                        description: text(&r["description"]),
                        body: r["content"].as_object().and_then(|c| c.iter().next()).map(|(kind, media)| (kind.clone(), type_name(&media["schema"]))),
                    })
                    .collect(),
            };
            match groups.iter_mut().find(|g| g.tag == tag) {
                Some(group) => group.operations.push(operation),
                None => groups.push(ApiGroup { tag, operations: vec![operation] }),
            }
        }
    }
    // In the order the product is used, not the alphabet's.
    const ORDER: [&str; 9] = ["environments", "runs", "state", "secrets", "services", "costs", "audit", "notifications", "users"];
    groups.sort_by_key(|g| ORDER.iter().position(|t| *t == g.tag).unwrap_or(ORDER.len()));
    let types = json["components"]["schemas"].as_object().into_iter().flatten().map(|(name, schema)| described(name, schema)).collect();
    ApiReference { version: json["info"]["version"].as_str().unwrap_or_default().to_string(), description: text(&json["info"]["description"]), groups, types }
}

/// A named schema: its fields (an object) or values (an enumeration).
fn described(name: &str, schema: &serde_json::Value) -> ApiType {
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
    let fields = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(field, s)| ApiField { name: field.clone(), kind: type_name(s), required: required.contains(&field.as_str()), description: text(&s["description"]) })
        .collect();
    let values = schema["enum"].as_array().into_iter().flatten().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect();
    ApiType { name: name.to_string(), description: text(&schema["description"]), fields, values }
}

fn text(value: &serde_json::Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// A schema as a reader names it: `Run`, `Run[]`, `string`, `integer (int64)`, `ErrorBody`.
fn type_name(schema: &serde_json::Value) -> String {
    // The error sets inline `ErrorBody` (utoipa's `#[to_schema]`): recognised by being it.
    static ERROR_BODY: OnceLock<serde_json::Value> = OnceLock::new();
    if schema == ERROR_BODY.get_or_init(|| serde_json::to_value(ErrorBody::schema()).expect("a schema serializes")) {
        return ErrorBody::name().into_owned();
    }
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_string();
    }
    if let Some(one_of) = schema["oneOf"].as_array() {
        let names: Vec<String> = one_of.iter().map(type_name).filter(|n| n != "null").collect();
        return format!("{} or null", names.join(" or "));
    }
    match &schema["type"] {
        serde_json::Value::String(t) if t == "array" => format!("{}[]", type_name(&schema["items"])),
        serde_json::Value::String(t) => match schema["format"].as_str() {
            Some(format) => format!("{t} ({format})"),
            None => t.clone(),
        },
        serde_json::Value::Array(types) => types.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(" or "),
        _ => "any".into(),
    }
}

/// Every error's body: `error` is a stable code, `message` says what to do. Some conflicts add
/// fields (a stale secret: `current_version_id`, `changed_keys`).
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "not_found")]
    pub error: ErrorCode,
    pub message: String,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Unprocessable,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
    Internal,
}

/// The refusals every read can give.
#[derive(utoipa::IntoResponses)]
pub enum ReadErrors {
    /// A query or path parameter that does not parse.
    #[response(status = 400)]
    BadRequest(#[to_schema] ErrorBody),
    /// No credentials, or a token that is unknown or revoked.
    #[response(status = 401)]
    Unauthorized(#[to_schema] ErrorBody),
    /// The caller's role does not allow it.
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody),
    /// No such environment, run, secret or other resource.
    #[response(status = 404)]
    NotFound(#[to_schema] ErrorBody),
}

/// The refusals every write can give, besides those of a read.
#[derive(utoipa::IntoResponses)]
pub enum WriteErrors {
    /// The change conflicts with the resource's current state.
    #[response(status = 409)]
    Conflict(#[to_schema] ErrorBody),
    /// The body is over 1 MiB.
    #[response(status = 413)]
    PayloadTooLarge(#[to_schema] ErrorBody),
    /// The body is JSON but not a valid request.
    #[response(status = 422)]
    Unprocessable(#[to_schema] ErrorBody),
}

/// AWS (or the infra repository) could not be reached: try again.
#[derive(utoipa::IntoResponses)]
pub enum Unavailable {
    #[response(status = 503)]
    Unavailable(#[to_schema] ErrorBody),
}

/// `Environment`'s schema with more properties: the API's views splice fields into the
/// configuration's own JSON.
fn environment_with(fields: &[(&str, RefOr<Schema>)]) -> RefOr<Schema> {
    let mut object = match Environment::schema() {
        RefOr::T(Schema::Object(object)) => object,
        other => return other,
    };
    for (name, schema) in fields {
        object.properties.insert((*name).to_string(), schema.clone());
        object.required.push((*name).to_string());
    }
    RefOr::T(Schema::Object(object))
}

fn nullable_ref<T: ToSchema>() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name())))
            .item(Object::builder().schema_type(utoipa::openapi::schema::Type::Null))
            .build(),
    ))
}

/// An environment's configuration with `status`: its live ECS services (`null` without AWS).
pub struct EnvironmentView;

impl PartialSchema for EnvironmentView {
    fn schema() -> RefOr<Schema> {
        environment_with(&[("status", nullable_ref::<EnvironmentStatus>())])
    }
}

impl ToSchema for EnvironmentView {
    fn name() -> Cow<'static, str> {
        "EnvironmentView".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        Environment::schemas(schemas);
        schemas.push((EnvironmentStatus::name().into(), EnvironmentStatus::schema()));
        EnvironmentStatus::schemas(schemas);
    }
}

/// One environment: its view, and where it stands against its code (`drift`).
pub struct EnvironmentDetail;

impl PartialSchema for EnvironmentDetail {
    fn schema() -> RefOr<Schema> {
        let drift = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(Drift::name()));
        environment_with(&[("status", nullable_ref::<EnvironmentStatus>()), ("drift", drift)])
    }
}

impl ToSchema for EnvironmentDetail {
    fn name() -> Cow<'static, str> {
        "EnvironmentDetail".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        EnvironmentView::schemas(schemas);
        schemas.push((Drift::name().into(), Drift::schema()));
        Drift::schemas(schemas);
    }
}
