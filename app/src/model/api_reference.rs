//! The API reference page's content: the server's OpenAPI document, arranged to be read.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiReference {
    pub version: String,
    pub description: String,
    /// Operations by tag (environments, runs, secrets, …), in the order the product is used.
    pub groups: Vec<ApiGroup>,
    /// The named types bodies and answers refer to, by name.
    pub types: Vec<ApiType>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiType {
    pub name: String,
    pub description: String,
    /// An object's fields.
    pub fields: Vec<ApiField>,
    /// An enumeration's values.
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiField {
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiGroup {
    pub tag: String,
    pub operations: Vec<ApiOperation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiOperation {
    /// The anchor of the operation on the page.
    pub id: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub parameters: Vec<ApiParameter>,
    /// The request body's type and whether it is required.
    pub body: Option<(String, bool)>,
    pub responses: Vec<ApiResponse>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiParameter {
    pub name: String,
    /// `path` or `query`.
    pub location: String,
    pub required: bool,
    pub kind: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse {
    pub status: String,
    pub description: String,
    /// The body's content type and type, when there is one.
    pub body: Option<(String, String)>,
}
