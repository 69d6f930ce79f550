//! Which role a single sign-on user gets: the highest of the configured rules they match (by
//! e-mail address, e-mail domain or group), else the default role, else none (refused).

use crate::config::OidcConfig;
use app::model::Role;

pub fn role_for(config: &OidcConfig, email: &str, groups: &[String]) -> Option<Role> {
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    config
        .roles
        .iter()
        .filter(|rule| {
            rule.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
                || rule.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
                || rule.groups.iter().any(|g| groups.contains(g))
        })
        .map(|rule| rule.role)
        .max()
        .or(config.default_role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleRule;

    fn rule(role: Role) -> RoleRule {
        RoleRule { role, emails: vec![], domains: vec![], groups: vec![] }
    }

    fn config(default_role: Option<Role>) -> OidcConfig {
        OidcConfig {
            issuer_url: "https://idp.example.com".into(),
            client_id: "zelly".into(),
            client_secret: "s".into(),
            provider_name: "Example".into(),
            scopes: vec!["openid".into()],
            groups_claim: "groups".into(),
            roles: vec![
                RoleRule { emails: vec!["Asha@Zelly.example".into()], ..rule(Role::Admin) },
                RoleRule { domains: vec!["zelly.example".into()], ..rule(Role::Operator) },
                RoleRule { groups: vec!["release-managers".into()], ..rule(Role::Approver) },
            ],
            default_role,
            trust_unverified_email: false,
        }
    }

    #[test]
    fn the_highest_matching_rule_wins() {
        let c = config(None);
        assert_eq!(role_for(&c, "asha@zelly.example", &[]), Some(Role::Admin), "e-mail, case-insensitive");
        assert_eq!(role_for(&c, "meera@zelly.example", &[]), Some(Role::Operator), "domain");
        assert_eq!(role_for(&c, "meera@zelly.example", &["release-managers".into()]), Some(Role::Approver), "group above domain");
        assert_eq!(role_for(&c, "ravi@partner.example", &["release-managers".into()]), Some(Role::Approver));
    }

    #[test]
    fn others_get_the_default_role_or_are_refused() {
        assert_eq!(role_for(&config(None), "guest@elsewhere.example", &["staff".into()]), None);
        assert_eq!(role_for(&config(None), "eve@zelly.example.evil.com", &[]), None, "a domain is matched whole");
        assert_eq!(role_for(&config(Some(Role::Viewer)), "guest@elsewhere.example", &[]), Some(Role::Viewer));
    }
}
