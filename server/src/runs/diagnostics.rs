//! What terraform's own messages say, read from its output as it streams: the error titles, who
//! holds the state lock when it cannot be acquired, and a saved plan gone stale. The run's error
//! then says what happened instead of only an exit code.
//!
//! Terraform draws diagnostics in a box (`╷ │ ╵`) with colours; both are taken off first.

/// The state lock's holder, from terraform's "Lock Info" block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockHolder {
    pub id: String,
    pub path: String,
    pub operation: String,
    pub who: String,
    pub version: String,
    pub created: String,
}

#[derive(Debug, Default)]
pub struct Diagnostics {
    errors: Vec<String>,
    lock: Option<LockHolder>,
    in_lock_info: bool,
    stale_plan: bool,
}

/// The text of a line without colours, the diagnostic box and surrounding space.
fn plain(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out.trim().trim_start_matches(['│', '╷', '╵']).trim().to_string()
}

/// Whether a line may be part of a diagnostic worth reading: a SIMD search, as every line of
/// output passes here.
fn worth_reading(line: &[u8]) -> bool {
    static ERROR: std::sync::LazyLock<memchr::memmem::Finder<'static>> = std::sync::LazyLock::new(|| memchr::memmem::Finder::new("Error"));
    static LOCK: std::sync::LazyLock<memchr::memmem::Finder<'static>> = std::sync::LazyLock::new(|| memchr::memmem::Finder::new("Lock Info"));
    ERROR.find(line).is_some() || LOCK.find(line).is_some()
}

impl Diagnostics {
    /// Reads one line of output. Most lines say nothing of interest: they are let go without
    /// being decoded (a plan can print hundreds of thousands).
    pub fn observe(&mut self, line: &[u8]) {
        if !self.in_lock_info && !worth_reading(line) {
            return;
        }
        let text = plain(line);
        if let Some(title) = text.strip_prefix("Error: ") {
            if self.errors.len() < 5 && !self.errors.iter().any(|e| e == title) {
                self.errors.push(title.trim().to_string());
            }
            if title.contains("Saved plan is stale") {
                self.stale_plan = true;
            }
        }
        if text == "Lock Info:" {
            self.in_lock_info = true;
            self.lock = Some(LockHolder::default());
            return;
        }
        if self.in_lock_info {
            let Some((key, value)) = text.split_once(':') else {
                self.in_lock_info = false;
                return;
            };
            let holder = self.lock.get_or_insert_with(LockHolder::default);
            let value = value.trim().to_string();
            match key.trim() {
                "ID" => holder.id = value,
                "Path" => holder.path = value,
                "Operation" => holder.operation = value,
                "Who" => holder.who = value,
                "Version" => holder.version = value,
                "Created" => holder.created = value,
                "Info" => {}
                _ => self.in_lock_info = false,
            }
        }
    }

    pub fn lock_holder(&self) -> Option<&LockHolder> {
        self.lock.as_ref().filter(|l| !l.id.is_empty())
    }

    /// Why `terraform <command>` failed, for the run's error.
    pub fn explain(&self, command: &str, code: i32) -> String {
        if let Some(lock) = self.lock_holder() {
            let operation = lock.operation.strip_prefix("OperationType").unwrap_or(&lock.operation);
            return format!(
                "{LOCKED_PREFIX} {who} holds the lock ({operation}, since {created}, terraform {version}, lock ID {id}). \
                 Wait for that operation to finish; if it is no longer running, an admin can release the lock on \
                 the environment's state page (or with `terraform force-unlock {id}` in its root directory).",
                who = if lock.who.is_empty() { "someone" } else { &lock.who },
                created = lock.created,
                version = lock.version,
                id = lock.id,
            );
        }
        if self.stale_plan {
            return "The saved plan is stale: the state changed after the plan was made (an apply outside this run). \
                    Nothing was applied; start a new run to plan against the current state."
                .to_string();
        }
        match self.errors.as_slice() {
            [] => format!("terraform {command} failed (exit code {code})."),
            errors => format!("terraform {command} failed (exit code {code}): {}.", errors.join("; ")),
        }
    }
}

/// The error of an apply whose worker was lost: the sweeper records it (`engine::sweeper`).
pub const APPLY_INTERRUPTED: &str = "The control plane lost this run while terraform apply was running (its worker \
stopped or crashed). The apply may have partly completed, and it will not be retried automatically. Check the \
environment before starting a new run. If terraform left the state lock held, an admin can release it on the \
environment's state page once no apply is running.";

/// Whether a run's error is about the state lock (held by someone, or perhaps left held by a
/// lost apply): the run page then links to the environment's state page.
pub fn points_to_state_page(error: &str) -> bool {
    error.starts_with(LOCKED_PREFIX) || error == APPLY_INTERRUPTED
}

const LOCKED_PREFIX: &str = "The state is locked:";

#[cfg(test)]
mod tests {
    use super::*;

    /// As terraform 1.11 prints it, colours and box included.
    const LOCKED: &str = "\x1b[31m╷\x1b[0m\x1b[0m
\x1b[31m│\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1mError acquiring the state lock\x1b[0m
\x1b[31m│\x1b[0m \x1b[0m
\x1b[31m│\x1b[0m \x1b[0m\x1b[0mError message: operation error DynamoDB: PutItem, https response error
\x1b[31m│\x1b[0m \x1b[0mConditionalCheckFailedException: The conditional request failed
\x1b[31m│\x1b[0m \x1b[0mLock Info:
\x1b[31m│\x1b[0m \x1b[0m  ID:        b68b9a81-5d6a-9e31-bbb8-34e3ef89f5a5
\x1b[31m│\x1b[0m \x1b[0m  Path:      zelly-terraform-state/production/terraform.tfstate
\x1b[31m│\x1b[0m \x1b[0m  Operation: OperationTypeApply
\x1b[31m│\x1b[0m \x1b[0m  Who:       priya@laptop
\x1b[31m│\x1b[0m \x1b[0m  Version:   1.11.4
\x1b[31m│\x1b[0m \x1b[0m  Created:   2026-12-01 07:37:17.120338787 +0000 UTC
\x1b[31m│\x1b[0m \x1b[0m  Info:      
\x1b[31m│\x1b[0m \x1b[0m
\x1b[31m│\x1b[0m \x1b[0mTerraform acquires a state lock to protect the state from being written
\x1b[31m╵\x1b[0m\x1b[0m";

    fn read(output: &str) -> Diagnostics {
        let mut d = Diagnostics::default();
        for line in output.lines() {
            d.observe(line.as_bytes());
        }
        d
    }

    #[test]
    fn a_held_lock_names_its_holder() {
        let d = read(LOCKED);
        let lock = d.lock_holder().unwrap();
        assert_eq!(lock.id, "b68b9a81-5d6a-9e31-bbb8-34e3ef89f5a5");
        assert_eq!(lock.who, "priya@laptop");
        assert_eq!(lock.path, "zelly-terraform-state/production/terraform.tfstate");
        let why = d.explain("plan", 1);
        assert!(why.contains("priya@laptop holds the lock (Apply, since 2026-12-01 07:37:17"), "{why}");
        assert!(why.contains("force-unlock b68b9a81-5d6a-9e31-bbb8-34e3ef89f5a5"), "{why}");
        assert!(points_to_state_page(&why) && !points_to_state_page("terraform plan failed (exit code 1)."));
    }

    #[test]
    fn errors_and_stale_plans_are_named() {
        let d = read("\x1b[31m│\x1b[0m \x1b[1mError: \x1b[0mSaved plan is stale\n│ The given plan file can no longer be applied");
        assert!(d.explain("apply", 1).starts_with("The saved plan is stale"));
        let d = read("│ Error: Invalid provider configuration\n│ Error: Unsupported argument\n");
        assert_eq!(d.explain("plan", 1), "terraform plan failed (exit code 1): Invalid provider configuration; Unsupported argument.");
        assert_eq!(read("no errors\n").explain("init", 1), "terraform init failed (exit code 1).");
    }
}
