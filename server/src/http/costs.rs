//! `/api/v1/costs`: the estimate per environment with its line items, assumptions and actual
//! spend; `/api/v1/costs.csv`: the line items for a spreadsheet.

use super::error::ApiError;
use super::openapi::ReadErrors;
use crate::app_state::AppState;
use app::model::cost::CostOverview;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview)).routes(routes!(csv))
}

/// Every environment's monthly estimate with line items, assumptions and actual spend.
#[utoipa::path(get, path = "/costs", tag = "costs", responses((status = 200, body = CostOverview), ReadErrors))]
async fn overview(State(state): State<AppState>) -> Result<Json<CostOverview>, ApiError> {
    Ok(Json(state.costs.overview().await))
}

/// The line items of every environment as CSV.
#[utoipa::path(get, path = "/costs.csv", tag = "costs",
    responses((status = 200, description = "The line items as CSV", content_type = "text/csv", body = String), ReadErrors))]
async fn csv(State(state): State<AppState>) -> Result<Response, ApiError> {
    let overview = state.costs.overview().await;
    Ok(super::csv_download("zelly-costs", "%Y-%m", crate::costs::export::to_csv(&overview)))
}
