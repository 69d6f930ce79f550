//! Command line: `serve` (the default), `worker`, `migrate`, `token create|list|revoke`,
//! `user disable|enable|role|list`,
//! `prices refresh`, `config`, and `runs …`, a client of a running server for pipelines.

mod runs;
mod users;

use crate::auth::tokens;
use crate::config::{validate, Config, Overrides};
use crate::db::Db;
use crate::app_state::AppState;
use crate::http;
use app::model::Role;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(name = "zelly-control", version, about = "Web control plane for Terraform-managed AWS environments")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// TOML configuration file (keys: see the README's configuration reference).
    #[arg(long, env = "ZELLY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ZELLY_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// sqlite://… or postgres://… [default: SQLite file in the data directory].
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory for the default SQLite database [default: ./data].
    #[arg(long, env = "ZELLY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    #[command(flatten)]
    Server(ServerCommand),
    /// Start, follow, approve and cancel runs on a running server (for CI pipelines). Exit
    /// codes: 0 done as asked, 3 waiting for approval, 1 the run failed, 2 refused or unreachable.
    #[command(subcommand)]
    Runs(runs::RunsCommand),
}

/// The commands that are the server, or work on its database and configuration.
#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Serve the web UI and the JSON API (the default).
    Serve,
    /// Run Terraform runs only (no web server), beside `serve` replicas sharing a PostgreSQL database.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Disable, enable, or give a role to a user (from the server's machine: no token needed).
    #[command(subcommand)]
    User(users::UserCommand),
    /// Print the effective configuration (defaults, file, environment and flags combined).
    Config,
    /// The price catalog the cost estimates use.
    #[command(subcommand)]
    Prices(PricesCommand),
}

#[derive(Subcommand, Debug)]
pub enum PricesCommand {
    /// Rebuild the catalog from the AWS Price List API (needs pricing:GetProducts). The file is
    /// written only when every price was found; point costs.catalog_file at it to use it.
    Refresh {
        /// Where to write the catalog [default: costs.catalog_file].
        #[arg(long)]
        output: Option<PathBuf>,
        /// Regions to price (repeatable) [default: the regions the current catalog lists].
        #[arg(long = "region")]
        regions: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token (and the user, if missing). The token is printed once, on stdout.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A note to tell tokens apart, e.g. "deploy script".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by id or by the prefix `token list` shows.
    Revoke { id_or_prefix: String },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

impl GlobalArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            listen: self.listen,
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
        }
    }
}

/// Runs the command; the exit code is 0 unless a `runs` command reports a run's outcome.
pub async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let command = match cli.command.unwrap_or(Command::Server(ServerCommand::Serve)) {
        // A client: it needs the server's address and a token, not the server's configuration.
        Command::Runs(command) => return Ok(runs::run(command).await),
        Command::Server(command) => command,
    };
    let config = Config::load(&cli.global.overrides())?;
    crate::telemetry::logs::init(config.log.format);
    operate(config, command).await.map(|()| std::process::ExitCode::SUCCESS)
}

async fn operate(config: Config, command: ServerCommand) -> anyhow::Result<()> {
    match command {
        ServerCommand::Serve => serve(config).await,
        ServerCommand::Worker => worker(config).await,
        ServerCommand::Migrate => {
            let db = Db::connect(&config.database_url(), 1).await?;
            eprintln!("Database migrated ({}).", db.backend_name());
            db.close().await;
            Ok(())
        }
        ServerCommand::Config => {
            print!("{}", toml::to_string_pretty(&config)?);
            Ok(())
        }
        ServerCommand::Token(command) => token(config, command).await,
        ServerCommand::User(command) => users::run(config, command).await,
        ServerCommand::Prices(PricesCommand::Refresh { output, regions }) => refresh_prices(config, output, regions).await,
    }
}

async fn refresh_prices(config: Config, output: Option<PathBuf>, regions: Vec<String>) -> anyhow::Result<()> {
    use crate::costs::pricelist;
    let Some(output) = output.or_else(|| config.costs.catalog_file.clone()) else {
        anyhow::bail!("say where to write the catalog: --output FILE (or set costs.catalog_file)");
    };
    let catalog = config.costs.catalog().map_err(|e| anyhow::anyhow!("costs.catalog_file: {e}"))?;
    // The Price List API answers in us-east-1 for every region's prices.
    let client = crate::aws_client!(aws_sdk_pricing, &crate::live::clients::loader(&config.aws, "us-east-1").load().await);
    let today = chrono::Utc::now().date_naive().to_string();
    eprintln!("Reading {} prices from the AWS Price List API…", catalog.file().prices.len());
    let file = match pricelist::refresh(&client, &catalog, &regions, &today).await {
        Ok(file) => file,
        Err(problems) => {
            anyhow::bail!("prices could not be read, so {} is unchanged:\n  {}", output.display(), problems.join("\n  "))
        }
    };
    // What is written must load: the same checks as at start.
    crate::costs::catalog::Catalog::from_file(file.clone()).map_err(|e| anyhow::anyhow!("the refreshed catalog is not valid, {} is unchanged: {e}", output.display()))?;
    let header = "# Unit prices per region in USD, on-demand, from the AWS Price List API.\n\
                  # Written by `zelly-control prices refresh`; see prices/catalog.toml for the format.\n\n";
    let text = format!("{header}{}", toml::to_string_pretty(&file)?);
    // Written beside the target and renamed over it: readers never see half a catalog.
    let partial = output.with_extension("toml.partial");
    std::fs::write(&partial, &text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &output).map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", output.display()))?;
    eprintln!("Wrote {} ({} prices, as of {today}).", output.display(), file.prices.iter().map(|p| p.regions.len()).sum::<usize>());
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    validate::check_serve(&config).map_err(|m| anyhow::anyhow!("configuration: {m}"))?;
    let listen = config.server.listen;
    let state = AppState::new(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (server.listen): {e}"))?;
    let addr = listener.local_addr()?;
    // On stdout, alone on its line: scripts and tests read the address from here.
    println!("Zelly control plane listening on http://{addr}");
    tracing::info!(database = state.db.backend_name(), "serving on http://{addr}");
    http::launch_with_listener(state, listener, shutdown_signal()).await?;
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    let workers = config.runs.workers.max(1);
    let state = AppState::new(config).await?;
    if !state.db.is_shared() {
        tracing::warn!("a separate worker process is meant for PostgreSQL; with SQLite, `serve` runs the workers itself");
    }
    eprintln!("Zelly worker running {workers} workers ({} database)", state.db.backend_name());
    let running = crate::runs::engine::spawn(state.runs.clone(), workers);
    let sender = crate::notifications::Sender::spawn(state.notifications.clone(), state.runs.wakeup.subscribe());
    shutdown_signal().await;
    crate::runs::engine::stop(&state.runs, running).await;
    sender.stop();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 1).await?;
    match command {
        TokenCommand::Create { user, role, label } => {
            let (token, record) = tokens::create(&db, &user, role, &label, &crate::audit::console_actor()).await?;
            eprintln!(
                "Created token {} for {} ({}). Copy it now: it is not shown again.",
                record.prefix, record.user_name, record.role
            );
            println!("{token}");
        }
        TokenCommand::List { user } => {
            let list = db.list_tokens(user.as_deref()).await?;
            if list.is_empty() {
                eprintln!("No tokens.");
            } else {
                println!("{:<5} {:<12} {:<16} {:<9} {:<17} {:<17} {:<8} LABEL", "ID", "PREFIX", "USER", "ROLE", "CREATED", "LAST USED", "STATE");
            }
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into())
            };
            for t in list {
                println!(
                    "{:<5} {:<12} {:<16} {:<9} {:<17} {:<17} {:<8} {}",
                    t.id,
                    t.prefix,
                    t.user_name,
                    t.role,
                    when(Some(t.created_at)),
                    when(t.last_used_at),
                    if t.revoked_at.is_some() { "revoked" } else { "active" },
                    t.label
                );
            }
        }
        TokenCommand::Revoke { id_or_prefix } => match db.revoke_token(&id_or_prefix, &crate::audit::console_actor()).await? {
            Some(t) => eprintln!("Revoked token {} of {}.", t.prefix, t.user_name),
            None => anyhow::bail!("no single active token has the id or prefix {id_or_prefix:?} (see `token list`)"),
        },
    }
    db.close().await;
    Ok(())
}
