use super::*;

#[test]
fn refs_are_names_and_nothing_more() {
    for good in ["main", "release/2026-12", "v1.4.0", "0123abc", "feature/nova+2", "user@fix"] {
        assert!(check_ref(good).is_ok(), "{good}");
    }
    for bad in ["", "-c", "--upload-pack=x", "a..b", "a b", "a:b", "HEAD~1", "x^", "/abs", "end/", "x.lock", "@{-1}", "a\nb", ".hidden"] {
        assert!(check_ref(bad).is_err(), "{bad:?}");
    }
    assert!(check_ref(&"a".repeat(256)).is_err());
}

#[test]
fn passwords_never_appear_in_git_messages() {
    let url = RepoUrl::new("https://ci:s3cr%2Ft@git.example.com/zelly/infra.git");
    let message = "fatal: unable to access 'https://ci:s3cr%2Ft@git.example.com/zelly/infra.git/': s3cr/t rejected";
    let redacted = redact_url(message, &url);
    assert!(!redacted.contains("s3cr"), "{redacted}");
    assert!(redacted.contains("git.example.com/zelly/infra.git"));
    assert_eq!(RepoUrl::new("git@github.com:zelly/infra.git").redacted(), "git@github.com:zelly/infra.git");
    assert_eq!(format!("{url:?}"), "https://ci:redacted@git.example.com/zelly/infra.git");
}
