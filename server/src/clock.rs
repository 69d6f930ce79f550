//! What day it is, where the product follows the calendar (Cost Explorer's months). One clock,
//! handed to the services at start, so a test can pin a day (the first of a month) and watch the
//! whole server behave as it will on that day.

use chrono::{NaiveDate, Utc};

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Clock {
    /// The system's clock, in UTC (Cost Explorer's days are UTC days).
    #[default]
    System,
    /// Always this day.
    Fixed(NaiveDate),
}

impl Clock {
    pub fn today(&self) -> NaiveDate {
        match self {
            Clock::System => Utc::now().date_naive(),
            Clock::Fixed(day) => *day,
        }
    }
}
