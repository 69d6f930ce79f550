//! Cost through the API: the estimate per environment with its assumptions, the CSV export,
//! actual spend from Cost Explorer (the AWS emulator), and the cost diff of every plan.

use crate::common;

use app::model::cost::{ActualSpend, CostOverview, EnvironmentCost, UnpricedResource};
use app::model::run::RunStatus;
use app::model::Role;
use chrono::NaiveDate;
use common::{use_emulator, Clock, Emulator, TestApp};
use serde_json::json;
use zelly_control::config::ActualSpendScope;
use zelly_control::costs::actual::Periods;

/// The estimate as the API answers it; reading it as a `CostOverview` checks that every line
/// item has each of its fields (category, resource, description, quantity, unit, unit price,
/// monthly figure and price key).
async fn overview(app: &TestApp, token: &str) -> CostOverview {
    app.get_as("/api/v1/costs", token).await
}

fn environment<'a>(costs: &'a CostOverview, name: &str) -> &'a EnvironmentCost {
    costs.environments.iter().find(|e| e.name == name).unwrap()
}

#[tokio::test]
async fn every_environment_has_line_items_a_total_and_the_assumptions_behind_it() {
    let app = TestApp::start(common::Backend::Sqlite).await;
    let vikram = app.token("vikram", Role::Viewer).await;
    assert_eq!(app.get("/api/v1/costs", None).await.status(), 401);
    let costs = overview(&app, &vikram).await;

    let names: Vec<&str> = costs.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["production", "staging"], "in display order");
    for (name, figure) in [("production", 460.0), ("staging", 320.0)] {
        let env = environment(&costs, name);
        let total = env.monthly_total;
        let sum: f64 = env.items.iter().map(|i| i.monthly).sum();
        assert!((total - sum).abs() < 1e-3, "the total is the sum of the items");
        assert!((total - figure).abs() <= 0.15 * figure, "{name}: {total}");
        assert_eq!(env.currency, "USD");
        assert_eq!(env.actual, None, "AWS is off in this test");
        assert!(env.assumptions.iter().any(|a| a.key == "aurora_utilisation" && a.unit == "% of range"));
        assert!(env.assumptions.iter().any(|a| a.key == "nat_processed_gb"));
    }
    // Staging's tasks are assumed on Spot; production's on-demand.
    let keys = |env: &str| -> Vec<&str> { environment(&costs, env).items.iter().map(|i| i.price_key.as_str()).collect() };
    assert!(keys("production").contains(&"fargate.vcpu") && !keys("production").contains(&"fargate_spot.vcpu"));
    assert!(keys("staging").contains(&"fargate_spot.vcpu") && !keys("staging").contains(&"fargate.vcpu"));
    assert_eq!(costs.prices_as_of, "2025-06-01");
    app.stop().await;
}

#[tokio::test]
async fn assumptions_are_configuration_and_change_the_estimate_as_they_say() {
    let base = TestApp::start(common::Backend::Sqlite).await;
    let token = base.token("vikram", Role::Viewer).await;
    let before = environment(&overview(&base, &token).await, "production").monthly_total;
    base.stop().await;

    let app = TestApp::start_with(common::Backend::Sqlite, |c| {
        let prod = c.environments.get_mut("production").unwrap();
        prod.cost_assumptions.nat_processed_gb += 1000.0;
    })
    .await;
    let token = app.token("vikram", Role::Viewer).await;
    let costs = overview(&app, &token).await;
    let prod = environment(&costs, "production");
    // 1,000 GB more through NAT at Mumbai's $0.056/GB.
    assert!((prod.monthly_total - before - 56.0).abs() < 1e-6);
    let shown = prod.assumptions.iter().find(|a| a.key == "nat_processed_gb").unwrap();
    assert_eq!(shown.value, 1100.0);
    app.stop().await;
}

#[tokio::test]
async fn the_csv_export_has_a_row_per_line_item() {
    let app = TestApp::start(common::Backend::Sqlite).await;
    let token = app.token("vikram", Role::Viewer).await;
    let costs = overview(&app, &token).await;
    let res = app.get("/api/v1/costs.csv", Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"zelly-costs-"));
    let text = res.text().await.unwrap();
    let rows: Vec<&str> = text.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows[0], "environment,region,category,resource,description,quantity,unit,unit_price_usd,monthly_usd,price_key");
    let items: usize = costs.environments.iter().map(|e| e.items.len()).sum();
    assert_eq!(rows.len() - 1, items);
    let nat = rows.iter().find(|r| r.starts_with("production,") && r.ends_with(",nat.hour")).unwrap();
    assert_eq!(*nat, "production,ap-south-1,\"Network (NAT, public IPv4)\",NAT gateway,Gateway hours,730,hour,0.056,40.88,nat.hour");
    app.stop().await;
}

/// Seeds Cost Explorer's answers in the order the server asks: per environment (display order),
/// this month so far (unless `today` is the 1st) and last month.
async fn seed_cost_explorer(aws: &Emulator, today: NaiveDate, amounts: &[(f64, f64)]) {
    let result = |amount: f64| json!({ "ResultsByTime": [{
        "TimePeriod": { "Start": "2026-01-01", "End": "2026-01-31" },
        "Total": { "UnblendedCost": { "Amount": format!("{amount}"), "Unit": "USD" } },
        "Groups": [], "Estimated": false }] });
    let mut results = Vec::new();
    for (month_to_date, last_month) in amounts {
        if Periods::of(today).month_to_date.is_some() {
            results.push(result(*month_to_date));
        }
        results.push(result(*last_month));
    }
    let res = reqwest::Client::new()
        .post(format!("{}/moto-api/static/ce/cost-and-usage-results", aws.url))
        .json(&json!({ "results": results }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn actual<'a>(costs: &'a CostOverview, name: &str) -> &'a ActualSpend {
    costs.environments.iter().find(|e| e.name == name).and_then(|e| e.actual.as_ref()).unwrap()
}

/// The periods the server asked Cost Explorer for, in order.
async fn periods_asked(aws: &Emulator) -> Vec<(String, String)> {
    let calls = aws.calls("GetCostAndUsage").await;
    calls.iter().map(|c| (c["time_period"]["Start"].as_str().unwrap().to_string(), c["time_period"]["End"].as_str().unwrap().to_string())).collect()
}

#[tokio::test]
async fn actual_spend_comes_from_cost_explorer_beside_the_estimate_and_is_asked_once() {
    let aws = Emulator::start();
    let today = day("2026-11-24");
    seed_cost_explorer(&aws, today, &[(230.0, 471.25), (160.5, 298.0)]).await;
    let app = TestApp::start_on(common::Backend::Sqlite, Clock::Fixed(today), |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    let costs = overview(&app, &token).await;

    let prod = actual(&costs, "production");
    assert_eq!(prod.scope, "region ap-south-1");
    assert_eq!((prod.month_to_date, prod.last_month), (Some(230.0), 471.25));
    assert!((prod.forecast.unwrap() - 230.0 / 23.0 * 30.0).abs() < 1e-9, "23 days billed of 30");
    assert_eq!((prod.period_start.as_deref(), prod.period_end.as_deref()), (Some("2026-11-01"), Some("2026-11-23")));
    assert_eq!(prod.last_month_period, "2026-10");
    let staging = actual(&costs, "staging");
    assert_eq!(staging.scope, "region ap-southeast-1");
    assert_eq!((staging.month_to_date, staging.last_month), (Some(160.5), 298.0));

    // Cost Explorer's end dates are exclusive: this month up to today, last month up to the 1st.
    let month = ("2026-11-01".to_string(), "2026-11-24".to_string());
    let last = ("2026-10-01".to_string(), "2026-11-01".to_string());
    assert_eq!(periods_asked(&aws).await, [month.clone(), last.clone(), month, last]);

    // Every request to Cost Explorer is billed: a second viewer reads the kept answer.
    let again = overview(&app, &token).await;
    assert_eq!(actual(&again, "production"), prod);
    assert_eq!(aws.calls("GetCostAndUsage").await.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn on_the_first_of_a_month_last_month_shows_and_nothing_is_forecast() {
    let aws = Emulator::start();
    let today = day("2026-12-01");
    seed_cost_explorer(&aws, today, &[(0.0, 471.25), (0.0, 298.0)]).await;
    let app = TestApp::start_on(common::Backend::Sqlite, Clock::Fixed(today), |c| use_emulator(c, &aws)).await;
    let token = app.token("vikram", Role::Viewer).await;
    let costs = overview(&app, &token).await;

    let prod = actual(&costs, "production");
    assert_eq!((prod.month_to_date, prod.forecast, prod.last_month), (None, None, 471.25));
    assert_eq!((prod.period_start.as_deref(), prod.period_end.as_deref()), (None, None));
    assert_eq!(prod.last_month_period, "2026-11");
    assert_eq!(actual(&costs, "staging").last_month, 298.0);
    // Only last month is asked for: an empty period would be refused (as the emulator does).
    let november = ("2026-11-01".to_string(), "2026-12-01".to_string());
    assert_eq!(periods_asked(&aws).await, [november.clone(), november]);

    let cookie = app.dev_sign_in("vikram").await;
    let page = app.client.get(app.url("/costs")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let summary = page.split(r#"data-environment="production""#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(summary.contains("No spend yet this month"), "{summary}");
    assert!(summary.contains("nothing billed yet this month · last month 2026-11"), "{summary}");
    assert!(!summary.contains("Forecast"), "no forecast from no data: {summary}");
    assert!(summary.contains("Last month"), "{summary}");
    app.stop().await;
}

#[tokio::test]
async fn actual_spend_by_cost_allocation_tag_names_the_tag_and_a_failure_leaves_the_estimate() {
    let aws = Emulator::start();
    let today = day("2026-11-24");
    seed_cost_explorer(&aws, today, &[(10.0, 20.0), (1.0, 2.0)]).await;
    let app = TestApp::start_on(common::Backend::Sqlite, Clock::Fixed(today), |c| {
        use_emulator(c, &aws);
        c.costs.actual_spend = ActualSpendScope::Tag;
        c.costs.tag_key = "team-env".into();
        c.environments.get_mut("staging").unwrap().cost_tag_value = Some("stage".into());
    })
    .await;
    let token = app.token("vikram", Role::Viewer).await;
    let costs = overview(&app, &token).await;
    assert_eq!(actual(&costs, "production").scope, "tag team-env=production");
    assert_eq!(actual(&costs, "staging").scope, "tag team-env=stage");
    app.stop().await;

    let failing = Emulator::start();
    failing.fault(json!({ "operation": "GetCostAndUsage", "error": "500" })).await;
    let app = TestApp::start_with(common::Backend::Sqlite, |c| use_emulator(c, &failing)).await;
    let token = app.token("vikram", Role::Viewer).await;
    let costs = overview(&app, &token).await;
    let prod = environment(&costs, "production");
    assert_eq!(prod.actual, None);
    assert_eq!(prod.actual_error.as_deref(), Some("Cost Explorer could not be read; see the server log."));
    assert!(prod.monthly_total > 0.0, "the estimate stands without actual spend");
    app.stop().await;
}

on_both_backends! {
    async fn every_plan_carries_its_cost_diff_with_unpriced_resources_listed(app) {
        let meera = app.token("meera", Role::Operator).await;
        let scaling = |max: f64| json!({ "cluster_identifier": "zelly-production-aurora",
            "serverlessv2_scaling_configuration": [{ "min_capacity": 0.5, "max_capacity": max }] });
        app.scenario("production", json!({ "plan_seconds": 0.3, "changes": [
            { "address": "aws_rds_cluster.aurora", "type": "aws_rds_cluster",
              "change": { "actions": ["update"], "before": scaling(8.0), "after": scaling(16.0) } },
            { "address": "aws_cloudfront_distribution.cdn", "type": "aws_cloudfront_distribution",
              "change": { "actions": ["create"], "before": null, "after": { "enabled": true } } },
            { "address": "aws_security_group.x", "type": "aws_security_group",
              "change": { "actions": ["create"], "before": null, "after": {} } }
        ] }));
        let id = app.start_run("production", &meera, "apply").await;
        assert_eq!(app.run(id).await.cost_diff, None, "no plan yet, no cost");

        let run = app.wait_for(id, RunStatus::Planned).await;
        let diff = run.cost_diff.expect("a planned run's cost diff");
        // Max ACU 8 → 16: 5% of the 8 ACU added, every hour, at $0.14 an ACU-hour.
        let expected = 0.05 * 8.0 * 730.0 * 0.14;
        assert!((diff.monthly_delta - expected).abs() < 1e-6, "{diff:#?}");
        assert!((diff.monthly_after - diff.monthly_before - expected).abs() < 1e-6);
        assert_eq!(diff.currency, "USD");
        assert_eq!(diff.items.len(), 1);
        assert_eq!(diff.items[0].address, "aws_rds_cluster.aurora");
        assert_eq!(diff.unpriced, [UnpricedResource { address: "aws_cloudfront_distribution.cdn".into(),
            resource_type: "aws_cloudfront_distribution".into(), reason: "this resource type is not in the price catalog".into() }]);
        let log = app.log(id).await;
        assert!(log.contains("Cost: +$40.88/month (1 changed resource not priced)."), "{log}");
    }
}
