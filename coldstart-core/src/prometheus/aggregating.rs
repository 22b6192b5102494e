//! The push to an aggregating gateway (being written).

/// A gateway that sums what every environment pushes (being written).
#[derive(Debug)]
pub struct AggregatingGateway;
