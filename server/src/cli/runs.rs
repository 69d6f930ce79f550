//! `zelly-control runs …`: a client of a running server's API, for pipelines. It prints what a
//! person reads (or the run as JSON with `--json`), follows a run's log with `--wait`, and tells
//! a script how things went in its exit code.

use app::model::run::{Run, RunStatus};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use url::Url;

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Queue a plan or an apply of an environment.
    Start {
        #[command(flatten)]
        to: Server,
        #[arg(long = "env", value_name = "ENV")]
        environment: String,
        #[arg(long, value_parser = ["plan", "apply"])]
        kind: String,
        /// A branch, tag or commit of the infra repository [default: the server's terraform.branch].
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        #[arg(long, default_value = "")]
        message: String,
        /// Follow the log until the run ends or stops for approval.
        #[arg(long)]
        wait: bool,
    },
    /// A run's status, plan, cost and approvals.
    Show {
        #[command(flatten)]
        to: Server,
        id: u64,
    },
    /// Approve a planned run (production: someone other than its requester).
    Approve {
        #[command(flatten)]
        to: Server,
        id: u64,
        #[arg(long, default_value = "")]
        comment: String,
        /// The environment's name, when the plan destroys resources under deletion protection.
        #[arg(long, value_name = "ENV")]
        confirm: Option<String>,
        /// Follow the apply's log until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// Cancel a run (a running terraform is stopped gracefully; `--force` kills it).
    Cancel {
        #[command(flatten)]
        to: Server,
        id: u64,
        #[arg(long)]
        force: bool,
    },
    /// An environment's recent runs, newest first.
    List {
        #[command(flatten)]
        to: Server,
        #[arg(long = "env", value_name = "ENV")]
        environment: String,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=500))]
        limit: u16,
    },
}

/// Which server, as whom, and how to print.
#[derive(Args, Debug)]
pub struct Server {
    /// The server's address, e.g. https://zelly.example.com.
    #[arg(long = "server", env = "ZELLY_SERVER_URL", value_name = "URL")]
    url: Url,
    /// An API token (`zelly-control token create`, or the users page).
    #[arg(long, env = "ZELLY_TOKEN", hide_env_values = true)]
    token: String,
    /// Print the run (or the list) as JSON on stdout; the log then goes to stderr.
    #[arg(long)]
    json: bool,
}

/// How a command ended, as a script sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The run ended as asked (or the command did what it said).
    Done = 0,
    /// The run did not succeed: errored, canceled, discarded or expired.
    Failed = 1,
    /// The server refused (401/403/404/409/4xx), failed, or could not be reached.
    Refused = 2,
    /// The run waits for an approval.
    Waiting = 3,
}

impl Outcome {
    fn of(status: RunStatus) -> Outcome {
        match status {
            RunStatus::Applied | RunStatus::PlannedAndFinished | RunStatus::NoChanges => Outcome::Done,
            RunStatus::Planned => Outcome::Waiting,
            RunStatus::Errored | RunStatus::Canceled | RunStatus::Discarded | RunStatus::Expired => Outcome::Failed,
            // Still going: only `--wait` can say how it ends.
            RunStatus::Queued | RunStatus::Planning | RunStatus::Applying => Outcome::Done,
        }
    }
}

/// Why a request gave no answer to use; printed on stderr.
#[derive(Debug)]
enum Refusal {
    Unreachable(String),
    Refused { status: u16, message: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unreachable(why) => f.write_str(why),
            Refusal::Refused { status, message } => write!(f, "{message} (HTTP {status})"),
        }
    }
}

pub async fn run(command: RunsCommand) -> ExitCode {
    let outcome = match execute(command).await {
        Ok(outcome) => outcome,
        Err(refusal) => {
            eprintln!("error: {refusal}");
            Outcome::Refused
        }
    };
    ExitCode::from(outcome as u8)
}

async fn execute(command: RunsCommand) -> Result<Outcome, Refusal> {
    match command {
        RunsCommand::Start { to, environment, kind, git_ref, message, wait } => {
            let api = Api::new(&to)?;
            let body = json!({ "kind": kind, "ref": git_ref, "message": message });
            let run = api.send(api.post(&format!("environments/{}/runs", segment(&environment)), &body)).await?;
            conclude(&api, &to, run, wait).await
        }
        RunsCommand::Show { to, id } => {
            let api = Api::new(&to)?;
            let run = api.send(api.get(&format!("runs/{id}"))).await?;
            print_run(&api, &to, &run);
            Ok(Outcome::Done)
        }
        RunsCommand::Approve { to, id, comment, confirm, wait } => {
            let api = Api::new(&to)?;
            let run = api.send(api.post(&format!("runs/{id}/approve"), &json!({ "comment": comment, "confirm": confirm }))).await?;
            conclude(&api, &to, run, wait).await
        }
        RunsCommand::Cancel { to, id, force } => {
            let api = Api::new(&to)?;
            let run = api.send(api.post(&format!("runs/{id}/cancel"), &json!({ "force": force }))).await?;
            print_run(&api, &to, &run);
            Ok(Outcome::Done)
        }
        RunsCommand::List { to, environment, limit } => {
            let api = Api::new(&to)?;
            let path = format!("environments/{}/runs?limit={limit}", segment(&environment));
            let page = api.send(api.get(&path)).await?;
            if to.json {
                println!("{page:#}");
            } else {
                print_list(&page);
            }
            Ok(Outcome::Done)
        }
    }
}

/// After a start or an approval: follow the run when asked to, then print it and say how it went.
async fn conclude(api: &Api, to: &Server, run: Value, wait: bool) -> Result<Outcome, Refusal> {
    let run = match (wait, typed(&run)) {
        // A run that waits for more approvals has no new log to follow.
        (true, Some(r)) if !r.status.is_terminal() && r.status != RunStatus::Planned => follow(api, to, r.id, r.log_bytes).await?,
        _ => run,
    };
    print_run(api, to, &run);
    Ok(if wait { typed(&run).map_or(Outcome::Refused, |r| Outcome::of(r.status)) } else { Outcome::Done })
}

/// Streams the run's log from byte `from` (stdout, or stderr with `--json`) until the run ends or
/// stops for an approval; a dropped stream is resumed where it stopped. Returns the run as it is then.
async fn follow(api: &Api, to: &Server, id: i64, from: i64) -> Result<Value, Refusal> {
    let mut offset = from;
    let mut failures = 0;
    loop {
        match stream_log(api, to.json, id, &mut offset).await {
            Ok(()) => return api.send(api.get(&format!("runs/{id}"))).await,
            Err(refusal @ Refusal::Refused { .. }) => return Err(refusal),
            Err(Refusal::Unreachable(why)) if failures >= 5 => return Err(Refusal::Unreachable(why)),
            Err(Refusal::Unreachable(_)) => {
                failures += 1;
                tokio::time::sleep(Duration::from_secs(failures)).await;
            }
        }
    }
}

/// One connection to the live log (server-sent events: `log` with the byte offset after it as
/// its id, `status`, `end`). Ok when the run ended or stopped for approval.
async fn stream_log(api: &Api, log_to_stderr: bool, id: i64, offset: &mut i64) -> Result<(), Refusal> {
    let request = api.get(&format!("runs/{id}/log/stream?offset={offset}")).header(http::header::ACCEPT, "text/event-stream");
    let response = api.answer(request).await?;
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    let mut event = SseEvent::default();
    let mut out: Box<dyn Write> = if log_to_stderr { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Refusal::Unreachable(format!("the log stream broke off: {}", e.without_url())))?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if !line.is_empty() {
                event.add(line);
                continue;
            }
            match std::mem::take(&mut event).finish() {
                SseEvent { name, data, id: Some(next) } if name == "log" => {
                    let _ = out.write_all(data.as_bytes());
                    let _ = out.flush();
                    *offset = next.parse().unwrap_or(*offset);
                }
                SseEvent { name, data, .. } if name == "status" && data == RunStatus::Planned.as_str() => return Ok(()),
                SseEvent { name, .. } if name == "end" => return Ok(()),
                _ => {}
            }
        }
    }
    Err(Refusal::Unreachable("the log stream ended before the run did".into()))
}

/// A server-sent event being read: its lines until the blank one.
#[derive(Default)]
struct SseEvent {
    name: String,
    data: String,
    id: Option<String>,
}

impl SseEvent {
    fn add(&mut self, line: &str) {
        let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "event" => self.name = value.to_string(),
            "id" => self.id = Some(value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // Comments (keep-alives) and unknown fields.
            _ => {}
        }
    }

    /// The event as sent: each data line ends in a line break but the last.
    fn finish(mut self) -> SseEvent {
        self.data.pop();
        self
    }
}

struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Api {
    fn new(to: &Server) -> Result<Api, Refusal> {
        if !matches!(to.url.scheme(), "http" | "https") {
            return Err(Refusal::Unreachable(format!("--server must be an http:// or https:// address, not {}", to.url)));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("zelly-control/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Refusal::Unreachable(format!("cannot make an HTTP client: {e}")))?;
        Ok(Api { http, base: to.url.clone(), token: to.token.clone() })
    }

    fn address(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.address(&format!("api/v1/{path}"))).bearer_auth(&self.token)
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(self.address(&format!("api/v1/{path}"))).bearer_auth(&self.token).json(body)
    }

    /// The response when it is a success; the server's own message when it is not.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Refusal> {
        let response = request
            .send()
            .await
            .map_err(|e| Refusal::Unreachable(format!("cannot reach {}: {}", self.base, root_cause(&e.without_url()))))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("the server refused").to_string());
        Err(Refusal::Refused { status: status.as_u16(), message })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Refusal> {
        self.answer(request)
            .await?
            .json()
            .await
            .map_err(|e| Refusal::Unreachable(format!("the server's answer is not JSON: {}", e.without_url())))
    }
}

/// The innermost error: "connection refused" rather than "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A path segment, percent-encoded (form encoding writes a space as `+`, a literal in a path).
fn segment(s: &str) -> String {
    crate::http::redirect::urlencode(s).replace('+', "%20")
}

fn typed(run: &Value) -> Option<Run> {
    serde_json::from_value(run.clone()).ok()
}

fn print_run(api: &Api, to: &Server, run: &Value) {
    if to.json {
        println!("{run:#}");
        return;
    }
    let Some(r) = typed(run) else {
        println!("{run:#}");
        return;
    };
    println!("Run #{}: {} of {} — {}", r.id, r.kind.as_str(), r.environment, r.status.label());
    let message = if r.message.is_empty() { String::new() } else { format!(": {}", r.message) };
    println!("  requested by {} at {}{message}", r.requested_by, r.created_at.format("%Y-%m-%d %H:%M:%S UTC"));
    if let Some(commit) = &r.commit {
        println!("  commit {} {}", &commit[..commit.len().min(12)], r.commit_subject.as_deref().unwrap_or_default());
    }
    if let Some(plan) = &r.plan {
        println!("  plan: {} to add, {} to change, {} to destroy", plan.add, plan.change, plan.destroy);
    }
    if let Some(cost) = &r.cost_diff {
        println!("  monthly cost: {:+.2} {}", cost.monthly_delta, cost.currency);
    }
    for a in &r.approvals {
        println!("  {} by {} at {}{}", a.decision, a.user, a.at.format("%Y-%m-%d %H:%M UTC"), if a.comment.is_empty() { String::new() } else { format!(": {}", a.comment) });
    }
    if let Some(error) = &r.error {
        println!("  error: {}", error.lines().next().unwrap_or_default());
    }
    println!("  {}", api.address(&format!("runs/{}", r.id)));
}

fn print_list(page: &Value) {
    let runs: Vec<Run> = page.get("runs").and_then(|r| serde_json::from_value(r.clone()).ok()).unwrap_or_default();
    if runs.is_empty() {
        eprintln!("No runs.");
        return;
    }
    println!("{:<7} {:<6} {:<15} {:<16} {:<17} MESSAGE", "ID", "KIND", "STATUS", "REQUESTED BY", "CREATED");
    for r in runs {
        println!(
            "{:<7} {:<6} {:<15} {:<16} {:<17} {}",
            r.id,
            r.kind.as_str(),
            r.status.as_str(),
            r.requested_by,
            r.created_at.format("%Y-%m-%d %H:%M"),
            r.message.lines().next().unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> SseEvent {
        let mut event = SseEvent::default();
        for line in lines {
            event.add(line);
        }
        event.finish()
    }

    #[test]
    fn a_log_event_keeps_its_line_breaks() {
        let e = parse(&["event: log", "id: 42", "data: first line", "data: second", "data: "]);
        assert_eq!((e.name.as_str(), e.data.as_str(), e.id.as_deref()), ("log", "first line\nsecond\n", Some("42")));
        assert_eq!(parse(&[": keep-alive"]).name, "");
    }

    #[test]
    fn the_exit_code_says_how_the_run_went() {
        assert_eq!(Outcome::of(RunStatus::Applied) as u8, 0);
        assert_eq!(Outcome::of(RunStatus::NoChanges) as u8, 0);
        assert_eq!(Outcome::of(RunStatus::Planned) as u8, 3);
        for failed in [RunStatus::Errored, RunStatus::Canceled, RunStatus::Discarded, RunStatus::Expired] {
            assert_eq!(Outcome::of(failed) as u8, 1, "{failed}");
        }
    }
}
