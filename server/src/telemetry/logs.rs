//! Log output on stderr: text for people by default, or one JSON object per line for a log
//! stack. `RUST_LOG` chooses what is logged either way.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second call (a test that starts the CLI twice in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // Flattened: `message` and the event's fields are top-level keys; the request's fields
        // (`request_id`, `method`, `route`) are under `span`.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
}
