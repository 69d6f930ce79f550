//! The price catalog: unit prices per region, each with its source and the date it was read
//! (`prices/catalog.toml`, built into the binary; `costs.catalog_file` replaces it).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The catalog built into this binary.
pub const BUILT_IN: &str = include_str!("../../../prices/catalog.toml");

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    pub currency: String,
    #[serde(rename = "price")]
    pub prices: Vec<PriceEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    pub key: String,
    pub unit: String,
    pub what: String,
    pub source: String,
    pub pricelist: PriceListQuery,
    pub regions: Vec<RegionalPrice>,
}

/// How the Price List API names this price: see `pricelist`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceListQuery {
    pub service: String,
    /// The usage type without its region prefix (`APS3-`): `Fargate-GB-Hours`.
    pub usagetype_suffix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_family: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Our unit in the API's units: 1,000,000 when the API prices one request and we a million.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub multiplier: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalPrice {
    pub region: String,
    pub usd: f64,
    /// `YYYY-MM-DD`.
    pub as_of: String,
}

/// A unit price as the estimator uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Price {
    pub key: String,
    pub unit: String,
    pub what: String,
    pub usd: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CatalogError {
    #[error("price catalog: {0}")]
    Invalid(String),
    #[error("the price catalog has no price {key:?} for {region}")]
    Missing { key: String, region: String },
}

/// The catalog, indexed for lookups.
#[derive(Clone, Debug)]
pub struct Catalog {
    file: CatalogFile,
    index: BTreeMap<(String, String), Price>,
}

impl Catalog {
    pub fn built_in() -> Catalog {
        Catalog::parse(BUILT_IN).expect("the built-in price catalog is valid")
    }

    /// Reads a catalog; every problem is refused with the entry it is in.
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text).map_err(|e| CatalogError::Invalid(e.to_string()))?;
        Catalog::from_file(file)
    }

    pub fn from_file(file: CatalogFile) -> Result<Catalog, CatalogError> {
        if file.currency != "USD" {
            return Err(CatalogError::Invalid(format!("currency {:?}: only USD is supported", file.currency)));
        }
        let mut index = BTreeMap::new();
        for entry in &file.prices {
            let bad = |why: String| CatalogError::Invalid(format!("price {:?}: {why}", entry.key));
            if entry.key.is_empty() || entry.unit.is_empty() || entry.source.is_empty() {
                return Err(bad("key, unit and source are required".into()));
            }
            for p in &entry.regions {
                if !p.usd.is_finite() || p.usd < 0.0 {
                    return Err(bad(format!("{}: {} is not a price", p.region, p.usd)));
                }
                if chrono::NaiveDate::parse_from_str(&p.as_of, "%Y-%m-%d").is_err() {
                    return Err(bad(format!("{}: as_of {:?} is not a date (YYYY-MM-DD)", p.region, p.as_of)));
                }
                let price = Price { key: entry.key.clone(), unit: entry.unit.clone(), what: entry.what.clone(), usd: p.usd };
                if index.insert((entry.key.clone(), p.region.clone()), price).is_some() {
                    return Err(bad(format!("{} is listed twice", p.region)));
                }
            }
        }
        Ok(Catalog { file, index })
    }

    pub fn price(&self, key: &str, region: &str) -> Result<&Price, CatalogError> {
        self.index
            .get(&(key.to_string(), region.to_string()))
            .ok_or_else(|| CatalogError::Missing { key: key.to_string(), region: region.to_string() })
    }

    /// The oldest date of any price: how fresh the catalog is at worst.
    pub fn oldest_price_date(&self) -> String {
        self.file.prices.iter().flat_map(|e| e.regions.iter().map(|p| p.as_of.clone())).min().unwrap_or_default()
    }

    pub fn file(&self) -> &CatalogFile {
        &self.file
    }

    /// The regions any price is listed for.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self.index.keys().map(|(_, r)| r.clone()).collect();
        regions.sort();
        regions.dedup();
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_price_the_estate_uses_is_there_for_both_regions() {
        let catalog = Catalog::built_in();
        let keys = [
            "fargate.vcpu", "fargate.memory", "fargate_spot.vcpu", "fargate_spot.memory", "aurora.serverless_v2",
            "aurora.storage", "aurora.io", "elasticache.cache.t4g.small", "elasticache.cache.t4g.micro", "ec2.t3.medium",
            "ec2.t3.small", "ec2.t3.micro", "ebs.gp3", "nat.hour", "nat.data", "alb.hour", "alb.lcu", "nlb.hour",
            "nlb.lcu", "efs.standard", "secretsmanager.secret", "secretsmanager.api", "logs.ingestion", "logs.storage",
            "ipv4.public", "dynamodb.write", "dynamodb.read", "dynamodb.storage", "s3.standard",
        ];
        for region in ["ap-south-1", "ap-southeast-1"] {
            for key in keys {
                let price = catalog.price(key, region).unwrap_or_else(|e| panic!("{e}"));
                assert!(price.usd > 0.0, "{key} in {region}");
            }
        }
    }

    #[test]
    fn lookups_are_per_region() {
        let catalog = Catalog::built_in();
        let mumbai = catalog.price("fargate.vcpu", "ap-south-1").unwrap().usd;
        let singapore = catalog.price("fargate.vcpu", "ap-southeast-1").unwrap().usd;
        assert_eq!((mumbai, singapore), (0.04256, 0.05056));
        assert_eq!(catalog.price("ec2.t3.medium", "ap-south-1").unwrap().unit, "instance-hour");
        assert_eq!(
            catalog.price("fargate.vcpu", "eu-north-1"),
            Err(CatalogError::Missing { key: "fargate.vcpu".into(), region: "eu-north-1".into() })
        );
        assert_eq!(catalog.regions(), ["ap-south-1", "ap-southeast-1", "us-east-1"]);
        assert_eq!(catalog.oldest_price_date(), "2025-06-01");
    }

    #[test]
    fn a_malformed_catalog_is_refused_with_a_clear_message() {
        let cases = [
            ("not toml [", "price catalog"),
            ("currency = \"EUR\"\nprice = []", "only USD"),
            (
                "currency = \"USD\"\n[[price]]\nkey = \"x\"\nunit = \"hour\"\nwhat = \"\"\nsource = \"s\"\npricelist = { service = \"S\", usagetype_suffix = \"U\" }\nregions = [{ region = \"r\", usd = -1, as_of = \"2025-01-01\" }]",
                "price \"x\": r: -1 is not a price",
            ),
            (
                "currency = \"USD\"\n[[price]]\nkey = \"x\"\nunit = \"hour\"\nwhat = \"\"\nsource = \"s\"\npricelist = { service = \"S\", usagetype_suffix = \"U\" }\nregions = [{ region = \"r\", usd = 1, as_of = \"June\" }]",
                "is not a date",
            ),
            ("currency = \"USD\"\n[[price]]\nkey = \"x\"", "missing field"),
        ];
        for (text, expected) in cases {
            let error = Catalog::parse(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} should contain {expected:?}");
        }
    }
}
