//! `/api/v1/costs`: the estimate per environment with its line items, assumptions and actual
//! spend; `/api/v1/costs.csv`: the line items for a spreadsheet.

use super::api::require;
use super::error::ApiError;
use super::AppState;
use app::model::cost::CostOverview;
use app::model::{Identity, Role};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/costs", get(overview)).route("/costs.csv", get(csv))
}

async fn overview(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Json<CostOverview>, ApiError> {
    require(&who, Role::Viewer)?;
    Ok(Json(state.costs.overview().await))
}

async fn csv(State(state): State<AppState>, Extension(who): Extension<Identity>) -> Result<Response, ApiError> {
    require(&who, Role::Viewer)?;
    let overview = state.costs.overview().await;
    Ok(super::csv_download("zelly-costs", "%Y-%m", crate::costs::export::to_csv(&overview)))
}
