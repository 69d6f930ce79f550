//! `zelly-control user disable|enable|role|list`: taking access away from the server's own
//! machine, with the database's credentials. It needs no admin token, so it also works when the
//! admins themselves are the problem. Replicas refuse the user's tokens within
//! `auth.token_cache_seconds`; sessions end at once.

use crate::config::Config;
use crate::db::Db;
use crate::users::{Actor, Users};
use app::model::Role;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Disable a user: their sessions end, their tokens are refused, they cannot sign in.
    Disable {
        name: String,
        /// Why (kept in the audit log and shown on the users page).
        #[arg(long)]
        reason: String,
    },
    /// Let a disabled user in again.
    Enable { name: String },
    /// Give a user a role.
    Role {
        name: String,
        #[arg(value_parser = super::parse_role)]
        role: Role,
    },
    /// List users, their roles and whether they are disabled.
    List,
}

pub async fn run(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 1).await?;
    let users = Users { db: &db, tokens: None };
    let result = match command {
        UserCommand::Disable { name, reason } => users.disable(Actor::Console, &name, &reason).await.map(|u| {
            eprintln!("Disabled {}: their sessions ended; their tokens are refused (other replicas within {} s).", u.name, config.auth.token_cache_seconds);
        }),
        UserCommand::Enable { name } => users.enable(Actor::Console, &name).await.map(|u| eprintln!("Enabled {}.", u.name)),
        UserCommand::Role { name, role } => users.set_role(Actor::Console, &name, role).await.map(|u| eprintln!("{} is now {}.", u.name, u.role)),
        UserCommand::List => {
            for u in db.list_users().await? {
                let state = match u.disabled_at {
                    Some(at) => format!("disabled {} ({})", at.format("%Y-%m-%d %H:%M"), u.disabled_reason),
                    None => "active".into(),
                };
                println!("{:<32} {:<9} {state}", u.name, u.role.as_str());
            }
            Ok(())
        }
    };
    db.close().await;
    Ok(result?)
}
