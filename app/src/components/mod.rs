pub mod charts;
pub mod cost_chart;
pub mod cost_diff;
pub mod layout;
pub mod live_status;
pub mod log_view;
pub mod plan_diff;
pub mod run_bits;
