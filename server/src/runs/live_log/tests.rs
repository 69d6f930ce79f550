use super::*;
use crate::db::runs::NewRun;
use crate::db::runs::Pinned;
use app::model::run::RunKind;

async fn next_log(rx: &mut mpsc::Receiver<LiveEvent>) -> (i64, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event").expect("the stream goes on") {
            LiveEvent::Log { end, text } => return (end, text),
            LiveEvent::Status(_) => continue,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn lines_reach_streams_before_they_are_stored_and_joining_streams_get_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite:{}", dir.path().join("db.sqlite").display()), 2).await.unwrap();
    let pinned = Pinned { git_ref: None, commit: None };
    let new = NewRun { environment: "staging", kind: RunKind::Plan, requested_by: "meera", message: "", pinned: &pinned, promotion_override: None };
    let run = db.insert_run(&new).await.unwrap().id;
    let logs = LiveLogs::new(db.clone(), Wakeup::new(db.clone()), 10, 10);

    // "one" is stored; "two" is written, in the writer's batch, not stored yet.
    let tap = logs.tap(run);
    db.append_log(run, 0, b"one\n").await.unwrap();
    tap.written(4, Bytes::from_static(b"one\n"));
    tap.stored(4);
    tap.written(8, Bytes::from_static(b"two\n"));

    let mut first = logs.stream(1, run, 0).unwrap();
    assert_eq!(next_log(&mut first).await, (4, "one\n".into()), "from the database");
    assert_eq!(next_log(&mut first).await, (8, "two\n".into()), "from memory: the database has 4 bytes");
    tap.written(14, Bytes::from_static(b"three\n"));
    assert_eq!(next_log(&mut first).await, (14, "three\n".into()), "handed over as written");

    // A viewer resuming after "one" gets the rest once, though none of it is stored.
    let mut resumed = logs.stream(2, run, 4).unwrap();
    assert_eq!(next_log(&mut resumed).await, (8, "two\n".into()));
    assert_eq!(next_log(&mut resumed).await, (14, "three\n".into()));

    // Stored, the lines leave memory; a later viewer reads them from the database.
    db.append_log(run, 4, b"two\nthree\n").await.unwrap();
    tap.stored(14);
    assert!(logs.feeds.lock().unwrap()[&run].published().unstored.is_empty());
    tap.written(19, Bytes::from_static(b"four\n"));
    let mut late = logs.stream(3, run, 0).unwrap();
    let mut text = String::new();
    let mut end = 0;
    while end < 19 {
        let (e, t) = next_log(&mut late).await;
        assert!(e > end, "no piece twice");
        (end, text) = (e, text + &t);
    }
    assert_eq!(text, "one\ntwo\nthree\nfour\n");
    assert_eq!(next_log(&mut first).await, (19, "four\n".into()));
    assert_eq!(next_log(&mut resumed).await, (19, "four\n".into()));
}
