//! Every AWS call counted and timed for `/metrics`, by service, operation, region and outcome:
//! an SDK interceptor, attached to each client by `crate::aws_client!`.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct AwsCalls;

/// When the call began: retries and backoff count towards its duration, as a caller waits them.
#[derive(Debug, Clone)]
struct Began(Instant);

impl Storable for Began {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "ZellyAwsCalls"
    }

    fn read_before_execution(&self, _: &BeforeSerializationInterceptorContextRef<'_>, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Began(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(m) => (m.service().to_string(), m.name().to_string()),
            None => ("unknown".to_string(), "unknown".to_string()),
        };
        let region = cfg.load::<aws_types::region::Region>().map(|r| r.to_string()).unwrap_or_default();
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok",
            Some(Err(e)) => outcome_of(e),
            None => "error",
        };
        let labels = [("service", service), ("operation", operation), ("region", region), ("outcome", outcome.to_string())];
        metrics::counter!("zelly_aws_requests_total", &labels).increment(1);
        if let Some(Began(at)) = cfg.load::<Began>() {
            metrics::histogram!("zelly_aws_request_duration_seconds", &labels).record(at.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

fn outcome_of<E>(error: &OrchestratorError<E>) -> &'static str {
    if error.is_operation_error() {
        // AWS answered, with an error of the operation (AccessDenied, ResourceNotFound, throttling).
        "service_error"
    } else if error.is_timeout_error() {
        "timeout"
    } else if error.is_connector_error() {
        "unreachable"
    } else {
        "error"
    }
}
