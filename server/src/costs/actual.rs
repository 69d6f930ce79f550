//! Actual spend from Cost Explorer: this month so far, its forecast at that rate, and last month,
//! per environment (by its region or by a cost allocation tag). Cost Explorer bills every
//! request, so answers are shared by all viewers and kept `costs.actual_cache_minutes`.

use crate::config::{ActualSpendScope, Config};
use app::model::cost::ActualSpend;
use app::model::Environment;
use aws_sdk_costexplorer::types::{DateInterval, Dimension, DimensionValues, Expression, Granularity, TagValues};
use chrono::{Datelike, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Cost Explorer's one endpoint.
const COST_EXPLORER_REGION: &str = "us-east-1";
const METRIC: &str = "UnblendedCost";
/// A failed read is tried again after this, not at every page view.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

pub type Answers = Arc<HashMap<String, Result<ActualSpend, String>>>;

#[derive(Clone)]
pub struct ActualSpendReader {
    scope: ActualSpendScope,
    tag_key: String,
    ttl: Duration,
    /// One client per environment: environments may live in different accounts.
    clients: Arc<Vec<(Environment, aws_sdk_costexplorer::Client)>>,
    cache: Arc<Mutex<Option<(Instant, Duration, Answers)>>>,
}

impl ActualSpendReader {
    pub async fn new(config: &Config) -> ActualSpendReader {
        let enabled = config.aws.enabled && config.costs.actual_spend != ActualSpendScope::Off;
        let clients = match enabled {
            true => crate::aws::per_environment(config, |sdk| {
                crate::aws_client!(aws_sdk_costexplorer, sdk, region(aws_config::Region::new(COST_EXPLORER_REGION)))
            })
            .await
            .into_iter()
            .filter_map(|(env, client)| Some((env, client?)))
            .collect(),
            false => Vec::new(),
        };
        ActualSpendReader {
            scope: config.costs.actual_spend,
            tag_key: config.costs.tag_key.clone(),
            ttl: Duration::from_secs(config.costs.actual_cache_minutes * 60),
            clients: Arc::new(clients),
            cache: Arc::new(Mutex::new(None)),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// Every environment's spend, from the cache while it is fresh. Readers wait for one fetch
    /// rather than each paying for their own.
    pub async fn read(&self) -> Answers {
        let mut cache = self.cache.lock().await;
        if let Some((at, ttl, answers)) = cache.as_ref() {
            if at.elapsed() < *ttl {
                return answers.clone();
            }
        }
        let today = Utc::now().date_naive();
        let mut answers = HashMap::new();
        for (env, client) in self.clients.iter() {
            let spend = self.read_one(client, env, today).await;
            if let Err(e) = &spend {
                tracing::warn!(environment = %env.name, "Cost Explorer: {e}");
            }
            answers.insert(env.name.clone(), spend.map_err(|_| "Cost Explorer could not be read; see the server log.".to_string()));
        }
        let ttl = if answers.values().any(Result::is_err) { RETRY_AFTER_FAILURE.min(self.ttl) } else { self.ttl };
        let answers = Arc::new(answers);
        *cache = Some((Instant::now(), ttl, answers.clone()));
        answers
    }

    async fn read_one(&self, client: &aws_sdk_costexplorer::Client, env: &Environment, today: NaiveDate) -> anyhow::Result<ActualSpend> {
        let periods = Periods::of(today);
        let (filter, scope) = match self.scope {
            ActualSpendScope::Tag => {
                let value = env.cost_tag_value.clone().unwrap_or_else(|| env.name.clone());
                let tags = TagValues::builder().key(&self.tag_key).values(&value).build();
                (Expression::builder().tags(tags).build(), format!("tag {}={value}", self.tag_key))
            }
            _ => {
                let region = DimensionValues::builder().key(Dimension::Region).values(&env.region).build();
                (Expression::builder().dimensions(region).build(), format!("region {}", env.region))
            }
        };
        let cost = |start: NaiveDate, end: NaiveDate| {
            let filter = filter.clone();
            async move {
                let period = DateInterval::builder().start(start.to_string()).end(end.to_string()).build()?;
                let answer = client
                    .get_cost_and_usage()
                    .time_period(period)
                    .granularity(Granularity::Monthly)
                    .metrics(METRIC)
                    .filter(filter)
                    .send()
                    .await?;
                let mut total = 0.0;
                for result in answer.results_by_time() {
                    if let Some(amount) = result.total().and_then(|t| t.get(METRIC)).and_then(|m| m.amount()) {
                        total += amount.parse::<f64>().map_err(|_| anyhow::anyhow!("amount {amount:?} is not a number"))?;
                    }
                }
                anyhow::Ok(total)
            }
        };
        // Cost Explorer's end date is exclusive; on the first of a month nothing has been billed.
        let month_to_date = match periods.days_elapsed {
            0 => 0.0,
            _ => cost(periods.month_start, today).await?,
        };
        let last_month = cost(periods.last_month_start, periods.month_start).await?;
        Ok(ActualSpend {
            scope,
            month_to_date,
            forecast: periods.forecast(month_to_date, last_month),
            last_month,
            currency: "USD".into(),
            period_start: periods.month_start.to_string(),
            period_end: today.to_string(),
            fetched_at: Utc::now(),
        })
    }
}

/// The calendar arithmetic of a monthly review.
#[derive(Debug, PartialEq)]
pub struct Periods {
    pub month_start: NaiveDate,
    pub last_month_start: NaiveDate,
    /// Whole days billed this month (today is still running).
    pub days_elapsed: u32,
    pub days_in_month: u32,
}

impl Periods {
    pub fn of(today: NaiveDate) -> Periods {
        let month_start = today.with_day(1).expect("day 1 exists");
        let last_month_start = (month_start - chrono::Days::new(1)).with_day(1).expect("day 1 exists");
        let next_month_start = (month_start + chrono::Days::new(32)).with_day(1).expect("day 1 exists");
        Periods {
            month_start,
            last_month_start,
            days_elapsed: today.day() - 1,
            days_in_month: (next_month_start - month_start).num_days() as u32,
        }
    }

    /// The month at the month-to-date daily rate; on its first day, last month's total.
    pub fn forecast(&self, month_to_date: f64, last_month: f64) -> f64 {
        match self.days_elapsed {
            0 => last_month,
            days => month_to_date / days as f64 * self.days_in_month as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_follow_the_calendar() {
        let p = Periods::of(day("2026-11-24"));
        assert_eq!((p.month_start, p.last_month_start), (day("2026-11-01"), day("2026-10-01")));
        assert_eq!((p.days_elapsed, p.days_in_month), (23, 30));
        let january = Periods::of(day("2027-01-01"));
        assert_eq!(january.last_month_start, day("2026-12-01"));
        assert_eq!(Periods::of(day("2028-02-10")).days_in_month, 29);
    }

    #[test]
    fn the_forecast_is_the_month_at_its_daily_rate_so_far() {
        let p = Periods::of(day("2026-11-11"));
        assert_eq!(p.forecast(100.0, 500.0), 300.0);
        assert_eq!(Periods::of(day("2026-11-01")).forecast(0.0, 450.0), 450.0);
    }
}
