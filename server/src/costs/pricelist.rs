//! `zelly-control prices refresh`: rebuilds the price catalog from the AWS Price List API
//! (`pricing:GetProducts`). Each catalog entry says how to find its product; `parse_price` picks
//! the one on-demand price out of the products the API returns.

use super::catalog::{Catalog, CatalogFile, PriceListQuery, RegionalPrice};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PriceListError {
    #[error("a Price List document is not valid: {0}")]
    Malformed(String),
    #[error("no product has usage type {suffix:?} (of {seen} returned)")]
    NotFound { suffix: String, seen: usize },
    #[error("several products match with different prices: {0}")]
    Ambiguous(String),
    #[error("product {sku} has no on-demand price in USD")]
    NoPrice { sku: String },
}

#[derive(Deserialize)]
struct Document {
    product: Product,
    #[serde(default)]
    terms: Terms,
}

#[derive(Deserialize)]
struct Product {
    #[serde(default, rename = "productFamily")]
    family: String,
    sku: String,
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct Terms {
    #[serde(default, rename = "OnDemand")]
    on_demand: BTreeMap<String, Term>,
}

#[derive(Deserialize)]
struct Term {
    #[serde(rename = "priceDimensions")]
    dimensions: BTreeMap<String, Dimension>,
}

#[derive(Deserialize)]
struct Dimension {
    #[serde(rename = "beginRange", default)]
    begin: String,
    #[serde(rename = "pricePerUnit")]
    price: BTreeMap<String, String>,
}

/// Whether a usage type is `suffix` for some region: exactly, or behind one region code
/// (`APS3-Fargate-GB-Hours`), but not a longer name (`APS3-SpotUsage-Fargate-GB-Hours`).
pub fn usagetype_matches(usagetype: &str, suffix: &str) -> bool {
    match usagetype.strip_suffix(suffix) {
        Some("") => true,
        Some(prefix) => prefix.strip_suffix('-').is_some_and(|code| !code.is_empty() && !code.contains('-')),
        None => false,
    }
}

/// The price, in the catalog's unit, of the product `query` names among `documents` (the
/// `PriceList` strings of GetProducts answers).
pub fn parse_price(query: &PriceListQuery, documents: &[String]) -> Result<f64, PriceListError> {
    let mut found: Vec<(String, f64)> = Vec::new();
    for text in documents {
        let doc: Document = serde_json::from_str(text).map_err(|e| PriceListError::Malformed(e.to_string()))?;
        let attrs = &doc.product.attributes;
        let usagetype = attrs.get("usagetype").map(String::as_str).unwrap_or_default();
        let family_ok = query.product_family.as_deref().is_none_or(|f| f == doc.product.family);
        let attrs_ok = query.attributes.iter().all(|(k, v)| attrs.get(k) == Some(v));
        if !(usagetype_matches(usagetype, &query.usagetype_suffix) && family_ok && attrs_ok) {
            continue;
        }
        // The first paid tier: free tiers (price 0) and volume discounts further up are not what
        // a small estate pays.
        let mut tiers: Vec<(f64, f64)> = Vec::new();
        for dim in doc.terms.on_demand.values().flat_map(|t| t.dimensions.values()) {
            let Some(usd) = dim.price.get("USD") else { continue };
            let usd: f64 = usd.parse().map_err(|_| PriceListError::Malformed(format!("price {usd:?} of {}", doc.product.sku)))?;
            let begin: f64 = dim.begin.parse().unwrap_or(0.0);
            tiers.push((begin, usd));
        }
        tiers.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(&(_, usd)) = tiers.iter().find(|(_, usd)| *usd > 0.0) else {
            return Err(PriceListError::NoPrice { sku: doc.product.sku });
        };
        found.push((doc.product.sku, usd));
    }
    match found.as_slice() {
        [] => Err(PriceListError::NotFound { suffix: query.usagetype_suffix.clone(), seen: documents.len() }),
        [(_, usd), rest @ ..] if rest.iter().all(|(_, other)| other == usd) => Ok(usd * query.multiplier),
        many => Err(PriceListError::Ambiguous(many.iter().map(|(sku, usd)| format!("{sku} ${usd}")).collect::<Vec<_>>().join(", "))),
    }
}

/// Asks the Price List API for one product family in one region (all pages).
async fn get_products(client: &aws_sdk_pricing::Client, query: &PriceListQuery, region: &str) -> anyhow::Result<Vec<String>> {
    use aws_sdk_pricing::types::{Filter, FilterType};
    let term = |field: &str, value: &str| Filter::builder().r#type(FilterType::TermMatch).field(field).value(value).build();
    let mut filters = vec![term("regionCode", region)?];
    if let Some(family) = &query.product_family {
        filters.push(term("productFamily", family)?);
    }
    for (k, v) in &query.attributes {
        filters.push(term(k, v)?);
    }
    let mut documents = Vec::new();
    let mut pages = client
        .get_products()
        .service_code(&query.service)
        .set_filters(Some(filters))
        .format_version("aws_v1")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        documents.extend(page?.price_list.unwrap_or_default());
    }
    Ok(documents)
}

/// Every price of `catalog` for `regions` (default: the regions it lists), read again. Nothing is
/// returned unless every price was found: a catalog is never half refreshed.
pub async fn refresh(client: &aws_sdk_pricing::Client, catalog: &Catalog, regions: &[String], today: &str) -> Result<CatalogFile, Vec<String>> {
    let regions = if regions.is_empty() { catalog.regions() } else { regions.to_vec() };
    let mut file = catalog.file().clone();
    let mut problems = Vec::new();
    for entry in &mut file.prices {
        let mut refreshed = Vec::new();
        for region in &regions {
            // An API that cannot be reached (credentials, network) fails every price the same way:
            // say it once.
            let documents = get_products(client, &entry.pricelist, region)
                .await
                .map_err(|e| vec![format!("the Price List API cannot be read ({}, {region}): {e:#}", entry.key)])?;
            match parse_price(&entry.pricelist, &documents) {
                Ok(usd) => refreshed.push(RegionalPrice { region: region.clone(), usd, as_of: today.to_string() }),
                Err(e) => problems.push(format!("{} in {region}: {e}", entry.key)),
            }
        }
        entry.source = format!("AWS Price List API ({}, {})", entry.pricelist.service, entry.pricelist.usagetype_suffix);
        entry.regions = refreshed;
    }
    match problems.is_empty() {
        true => Ok(file),
        false => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> Vec<String> {
        let path = format!("{}/../tests/fixtures/pricelist/{name}", env!("CARGO_MANIFEST_DIR"));
        let answer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        answer["PriceList"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
    }

    fn query(key: &str) -> PriceListQuery {
        Catalog::built_in().file().prices.iter().find(|p| p.key == key).unwrap().pricelist.clone()
    }

    #[test]
    fn usage_types_match_behind_a_region_code_only() {
        assert!(usagetype_matches("APS3-Fargate-GB-Hours", "Fargate-GB-Hours"));
        assert!(usagetype_matches("Fargate-GB-Hours", "Fargate-GB-Hours"));
        assert!(!usagetype_matches("APS3-SpotUsage-Fargate-GB-Hours", "Fargate-GB-Hours"));
        assert!(!usagetype_matches("-Fargate-GB-Hours", "Fargate-GB-Hours"));
        assert!(!usagetype_matches("APS3-Fargate-GB-Hours-x", "Fargate-GB-Hours"));
    }

    #[test]
    fn fargate_on_demand_and_spot_are_told_apart() {
        let answer = recorded("ecs-ap-south-1.json");
        assert_eq!(parse_price(&query("fargate.vcpu"), &answer), Ok(0.04256));
        assert_eq!(parse_price(&query("fargate.memory"), &answer), Ok(0.00467));
        assert_eq!(parse_price(&query("fargate_spot.vcpu"), &answer), Ok(0.01277));
    }

    #[test]
    fn ec2_takes_the_linux_shared_used_price() {
        assert_eq!(parse_price(&query("ec2.t3.medium"), &recorded("ec2-ap-southeast-1.json")), Ok(0.0528));
    }

    #[test]
    fn tiered_prices_take_the_first_tier() {
        assert_eq!(parse_price(&query("s3.standard"), &recorded("s3-ap-south-1.json")), Ok(0.025));
    }

    #[test]
    fn per_request_prices_are_scaled_to_the_catalog_unit() {
        let answer = recorded("rds-ap-south-1.json");
        let io = parse_price(&query("aurora.io"), &answer).unwrap();
        assert!((io - 0.22).abs() < 1e-9, "{io}");
        // Aurora MySQL only: the PostgreSQL product has the same usage type.
        assert_eq!(parse_price(&query("aurora.serverless_v2"), &answer), Ok(0.14));
    }

    #[test]
    fn what_is_missing_or_ambiguous_or_malformed_is_said() {
        let answer = recorded("ecs-ap-south-1.json");
        assert_eq!(
            parse_price(&query("nat.hour"), &answer),
            Err(PriceListError::NotFound { suffix: "NatGateway-Hours".into(), seen: 4 })
        );
        let mut loose = query("aurora.serverless_v2");
        loose.attributes.clear();
        let rds = recorded("rds-ap-south-1.json");
        assert_eq!(parse_price(&loose, &rds), Ok(0.14), "same price twice is not ambiguous");
        let mut twice = rds.clone();
        twice.push(rds[0].replace("0.1400000000", "0.1500000000"));
        assert!(matches!(parse_price(&loose, &twice), Err(PriceListError::Ambiguous(_))));
        assert!(matches!(parse_price(&loose, &["{not json".to_string()]), Err(PriceListError::Malformed(_))));
        let unpriced = rds[0].replace("0.1400000000", "free");
        assert!(matches!(parse_price(&loose, &[unpriced]), Err(PriceListError::Malformed(m)) if m.contains("free")));
    }
}
