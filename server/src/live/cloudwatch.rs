//! CloudWatch metrics for the dashboard: every panel of an environment in ONE `GetMetricData`
//! call per refresh (one query per panel and target), shared through the `LiveCache`. Derived
//! panels (error rate) are computed here from the series read, not with metric math.

use crate::config::{Config, MetricPanel, MetricTarget};
use crate::live::cache::{Fetch, Live, LiveCache, Unavailable};
use app::model::metrics::{significant, Metrics, Panel, Range, Series};
use app::model::shared::Shared;
use app::model::{Environment, LoadBalancerKind};
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

impl Live for Metrics {
    fn with_error(self, error: String) -> Self {
        Metrics { error: Some(error), ..self }
    }

    fn has_data(&self) -> bool {
        self.fetched_at.is_some()
    }
}

#[derive(Clone)]
pub struct MetricsService {
    inner: Arc<Inner>,
}

struct Inner {
    environments: Vec<(Environment, Option<aws_sdk_cloudwatch::Client>)>,
    panels: Vec<MetricPanel>,
    /// Each value carries its JSON, made once per refresh: the dashboard's API is read by every
    /// open page every few seconds, and serializing thousands of points each time was most of its cost.
    cache: LiveCache<Shared<Metrics>>,
    timeout: Duration,
}

impl MetricsService {
    pub async fn new(config: &Config) -> MetricsService {
        let environments = crate::live::clients::per_environment(config, |sdk| crate::aws_client!(aws_sdk_cloudwatch, sdk)).await;
        MetricsService {
            inner: Arc::new(Inner {
                environments,
                panels: config.metrics.panels.clone(),
                cache: LiveCache::new("cloudwatch", Duration::from_secs(config.aws.cache_ttl_seconds)),
                timeout: Duration::from_secs(config.aws.timeout_seconds),
            }),
        }
    }

    /// Every environment's metrics for `range`, fetched in parallel.
    pub async fn all(&self, range: Range) -> Vec<Shared<Metrics>> {
        let reads = self.inner.environments.iter().map(|(e, _)| self.get(&e.name, range));
        futures_util::future::join_all(reads).await.into_iter().flatten().collect()
    }

    /// `get`, as the JSON the API answers with (shared, not copied).
    pub async fn get_json(&self, environment: &str, range: Range) -> Option<bytes::Bytes> {
        Some(bytes::Bytes::from_owner(Json(self.get(environment, range).await?.json())))
    }

    pub async fn get(&self, environment: &str, range: Range) -> Option<Shared<Metrics>> {
        let (env, cw) = self.inner.environments.iter().find(|(e, _)| e.name == environment)?;
        let key = format!("{environment}/{}", range.as_str());
        Some(self.inner.cache.get(&key, || self.refresher(env, cw, range)).await)
    }

    fn refresher(
        &self,
        env: &Environment,
        cw: &Option<aws_sdk_cloudwatch::Client>,
        range: Range,
    ) -> (Fetch<Shared<Metrics>>, Unavailable<Shared<Metrics>>) {
        let (env, cw) = (env.clone(), cw.clone());
        let (panels, timeout) = (self.inner.panels.clone(), self.inner.timeout);
        let name = env.name.clone();
        let fetch: Fetch<Shared<Metrics>> = Arc::new(move || {
            let (env, cw, panels) = (env.clone(), cw.clone(), panels.clone());
            Box::pin(async move {
                match cw {
                    Some(cw) => fetch(&cw, &env, &panels, range, timeout).await.map(Shared::new),
                    None => Err("Metrics are turned off (aws.enabled = false).".to_string()),
                }
            })
        });
        let unavailable: Unavailable<Shared<Metrics>> = Arc::new(move |error| {
            Shared::new(Metrics {
                environment: name.clone(),
                range,
                period_seconds: range.period_seconds(),
                panels: Vec::new(),
                fetched_at: None,
                error: Some(error),
            })
        });
        (fetch, unavailable)
    }
}

/// A value's JSON as the bytes of an answer body.
struct Json(Arc<serde_json::value::RawValue>);

impl AsRef<[u8]> for Json {
    fn as_ref(&self) -> &[u8] {
        self.0.get().as_bytes()
    }
}

/// The targets a panel reads for an environment: (series label, placeholder values).
fn targets(per: MetricTarget, env: &Environment) -> Vec<(String, HashMap<&'static str, String>)> {
    let lbs = |kind: LoadBalancerKind| {
        env.load_balancers
            .iter()
            .filter(|lb| lb.kind == kind)
            .filter_map(|lb| lb.cloudwatch_id.clone().map(|id| (lb.name.clone(), HashMap::from([("load_balancer", id)]))))
            .collect::<Vec<_>>()
    };
    match per {
        MetricTarget::Service => env
            .services
            .iter()
            .map(|s| (s.name.clone(), HashMap::from([("cluster", env.ecs_cluster.clone()), ("service", s.name.clone())])))
            .collect(),
        MetricTarget::Alb => lbs(LoadBalancerKind::Alb),
        MetricTarget::Nlb => lbs(LoadBalancerKind::Nlb),
        MetricTarget::Redis => env
            .redis
            .as_ref()
            .and_then(|r| r.cluster_id.clone())
            .map(|id| vec![("redis".to_string(), HashMap::from([("redis", id)]))])
            .unwrap_or_default(),
        MetricTarget::Aurora => env
            .aurora
            .as_ref()
            .and_then(|a| a.cluster_id.clone())
            .map(|id| vec![("aurora".to_string(), HashMap::from([("aurora", id)]))])
            .unwrap_or_default(),
    }
}

fn fill(template: &str, values: &HashMap<&'static str, String>) -> String {
    values.iter().fold(template.to_string(), |acc, (k, v)| acc.replace(&format!("{{{k}}}"), v))
}

fn query(id: &str, panel: &MetricPanel, values: &HashMap<&'static str, String>, period: i32) -> MetricDataQuery {
    let dimensions = panel
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(fill(value, values)).build())
        .collect();
    let metric = Metric::builder().namespace(&panel.namespace).metric_name(&panel.metric).set_dimensions(Some(dimensions)).build();
    let stat = MetricStat::builder().metric(metric).period(period).stat(&panel.stat).build();
    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
}

async fn fetch(
    cw: &aws_sdk_cloudwatch::Client,
    env: &Environment,
    panels: &[MetricPanel],
    range: Range,
    timeout: Duration,
) -> Result<Metrics, String> {
    let period = range.period_seconds();
    let mut queries = Vec::new();
    // Query id -> (panel id, series label).
    let mut index: HashMap<String, (String, String)> = HashMap::new();
    for panel in panels.iter().filter(|p| p.ratio_of.is_none()) {
        for (label, values) in targets(panel.per, env) {
            let id = format!("q{}", queries.len());
            queries.push(query(&id, panel, &values, period));
            index.insert(id, (panel.id.clone(), label));
        }
    }
    let end = Utc::now().timestamp() / i64::from(period) * i64::from(period) + i64::from(period);
    let start = end - range.seconds();

    // series[(panel id, label)] = points
    let mut series: BTreeMap<(String, String), Vec<(i64, f64)>> = BTreeMap::new();
    let mut next_token: Option<String> = None;
    loop {
        let call = cw
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(AwsDateTime::from_secs(start))
            .end_time(AwsDateTime::from_secs(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(next_token.clone())
            .send();
        let out = match tokio::time::timeout(timeout, call).await {
            Err(_) => return Err(format!("CloudWatch did not answer within {} s", timeout.as_secs())),
            Ok(Err(e)) => return Err(format!("CloudWatch GetMetricData failed: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(&e))),
            Ok(Ok(out)) => out,
        };
        for result in out.metric_data_results() {
            let Some(key) = result.id().and_then(|id| index.get(id)) else { continue };
            let points = series.entry(key.clone()).or_default();
            points.extend(result.timestamps().iter().map(|t| t.secs()).zip(result.values().iter().copied()));
        }
        next_token = out.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    for points in series.values_mut() {
        points.sort_by_key(|p| p.0);
    }

    let read = |panel: &MetricPanel| -> Vec<Series> {
        targets(panel.per, env)
            .into_iter()
            .map(|(label, _)| {
                let points = series.get(&(panel.id.clone(), label.clone())).cloned().unwrap_or_default();
                Series { label, points: points.into_iter().map(|(t, v)| (t, significant(v * panel.scale, 4))).collect() }
            })
            .collect()
    };
    let out_panels = panels
        .iter()
        .map(|panel| {
            let lines = match &panel.ratio_of {
                None => read(panel),
                Some(parts) => {
                    let part = |id: &String| panels.iter().find(|p| &p.id == id).map(read).unwrap_or_default();
                    ratio(&part(&parts[0]), &part(&parts[1]))
                }
            };
            Panel { id: panel.id.clone(), title: panel.title.clone(), unit: panel.unit.clone(), series: lines }
        })
        .collect();
    Ok(Metrics {
        environment: env.name.clone(),
        range,
        period_seconds: period,
        panels: out_panels,
        fetched_at: Some(Utc::now()),
        error: None,
    })
}

/// `numerator / denominator × 100` for each label and each timestamp both have (and a
/// denominator above zero).
pub fn ratio(numerators: &[Series], denominators: &[Series]) -> Vec<Series> {
    numerators
        .iter()
        .map(|n| {
            let d = denominators.iter().find(|d| d.label == n.label);
            let points = n
                .points
                .iter()
                .filter_map(|(t, num)| {
                    let den = d?.points.iter().find(|(dt, _)| dt == t)?.1;
                    (den > 0.0).then(|| (*t, significant(num / den * 100.0, 4)))
                })
                .collect();
            Series { label: n.label.clone(), points }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(label: &str, points: &[(i64, f64)]) -> Series {
        Series { label: label.into(), points: points.to_vec() }
    }

    #[test]
    fn error_rate_is_errors_over_requests_where_both_exist() {
        let errors = [s("alb-nova", &[(0, 5.0), (60, 0.0), (120, 3.0)])];
        let requests = [s("alb-nova", &[(0, 1000.0), (60, 500.0), (180, 10.0)])];
        assert_eq!(ratio(&errors, &requests), [s("alb-nova", &[(0, 0.5), (60, 0.0)])]);
        assert_eq!(ratio(&errors, &[s("alb-nova", &[(0, 0.0)])]), [s("alb-nova", &[])], "no division by zero");
    }

    #[test]
    fn placeholders_are_filled_per_target() {
        let config = Config::defaults();
        let prod = &config.environments["production"];
        let services = targets(MetricTarget::Service, prod);
        assert_eq!(services.len(), 6);
        assert_eq!(fill("{cluster}/{service}", &services[0].1), "zelly-production/fastify-nova");
        let albs = targets(MetricTarget::Alb, prod);
        assert_eq!(albs.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(), ["alb-nova", "alb-customer", "alb-orion"]);
        assert_eq!(targets(MetricTarget::Nlb, prod)[0].1["load_balancer"], "net/zelly-production-nlb-storefront/1");
        assert_eq!(targets(MetricTarget::Aurora, prod)[0].1["aurora"], "zelly-production-aurora");
    }
}
