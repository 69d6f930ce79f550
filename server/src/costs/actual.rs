//! Actual spend from Cost Explorer: this month so far, its forecast at that rate, and last month,
//! per environment (by its region or by a cost allocation tag). Cost Explorer bills every
//! request, so answers are shared by all viewers and kept `costs.actual_cache_minutes`.
//! On the first of a month nothing of it is billed yet: only last month is asked for, and no
//! forecast is made.

use crate::clock::Clock;
use crate::config::{ActualSpendScope, Config};
use app::model::cost::ActualSpend;
use app::model::Environment;
use aws_sdk_costexplorer::types::{DateInterval, Dimension, DimensionValues, Expression, Granularity, TagValues};
use chrono::{Datelike, Days, NaiveDate, Utc};
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
    clock: Clock,
    cache: Arc<Mutex<Option<(Instant, Duration, Answers)>>>,
}

impl ActualSpendReader {
    pub async fn new(config: &Config, clock: Clock) -> ActualSpendReader {
        let enabled = config.aws.enabled && config.costs.actual_spend != ActualSpendScope::Off;
        let clients = match enabled {
            true => crate::live::clients::per_environment(config, |sdk| {
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
            clock,
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
        let today = self.clock.today();
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
        let month_to_date = match periods.month_to_date {
            Some((start, end)) => Some(cost(start, end).await?),
            None => None,
        };
        let last_month = cost(periods.last_month.0, periods.last_month.1).await?;
        Ok(ActualSpend {
            scope,
            month_to_date,
            forecast: month_to_date.map(|so_far| periods.forecast(so_far)),
            last_month,
            currency: "USD".into(),
            period_start: periods.month_to_date.map(|(start, _)| start.to_string()),
            period_end: periods.month_to_date.map(|(_, end)| (end - Days::new(1)).to_string()),
            last_month_period: periods.last_month.0.format("%Y-%m").to_string(),
            fetched_at: Utc::now(),
        })
    }
}

/// The calendar arithmetic of a monthly review. Periods are Cost Explorer's: start included, end
/// excluded, and the end must come after the start.
#[derive(Debug, PartialEq)]
pub struct Periods {
    /// This month's whole days so far (today is still running); `None` on the first.
    pub month_to_date: Option<(NaiveDate, NaiveDate)>,
    pub last_month: (NaiveDate, NaiveDate),
    pub days_in_month: u32,
}

impl Periods {
    pub fn of(today: NaiveDate) -> Periods {
        let month_start = today.with_day(1).expect("day 1 exists");
        let last_month_start = (month_start - Days::new(1)).with_day(1).expect("day 1 exists");
        let next_month_start = (month_start + Days::new(32)).with_day(1).expect("day 1 exists");
        Periods {
            month_to_date: (today > month_start).then_some((month_start, today)),
            last_month: (last_month_start, month_start),
            days_in_month: (next_month_start - month_start).num_days() as u32,
        }
    }

    /// Whole days billed this month.
    pub fn days_elapsed(&self) -> u32 {
        self.month_to_date.map_or(0, |(start, end)| (end - start).num_days() as u32)
    }

    /// The month at the month-to-date daily rate.
    pub fn forecast(&self, month_to_date: f64) -> f64 {
        match self.days_elapsed() {
            0 => month_to_date,
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
        assert_eq!(p.month_to_date, Some((day("2026-11-01"), day("2026-11-24"))));
        assert_eq!(p.last_month, (day("2026-10-01"), day("2026-11-01")));
        assert_eq!((p.days_elapsed(), p.days_in_month), (23, 30));
        let january = Periods::of(day("2027-01-02"));
        assert_eq!(january.last_month, (day("2026-12-01"), day("2027-01-01")));
        assert_eq!(Periods::of(day("2028-02-10")).days_in_month, 29);
    }

    #[test]
    fn on_the_first_of_a_month_there_is_no_month_to_date_to_ask_for() {
        let first = Periods::of(day("2026-12-01"));
        assert_eq!(first.month_to_date, None, "Cost Explorer refuses an empty period");
        assert_eq!(first.last_month, (day("2026-11-01"), day("2026-12-01")));
        assert_eq!(first.days_elapsed(), 0);
        let second = Periods::of(day("2026-12-02"));
        assert_eq!(second.month_to_date, Some((day("2026-12-01"), day("2026-12-02"))));
    }

    #[test]
    fn the_forecast_is_the_month_at_its_daily_rate_so_far() {
        assert_eq!(Periods::of(day("2026-11-11")).forecast(100.0), 300.0);
        assert_eq!(Periods::of(day("2026-12-02")).forecast(10.0), 310.0);
    }
}
