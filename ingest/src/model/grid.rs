//! A grid (网格, a row of `grids.csv`, DESIGN §3): the smallest unit of community governance,
//! with the manager who is told about an alarm in it.

/// A grid (网格) and its manager.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Unique grid id.
    pub grid_id: String,
    /// Community code the grid lies in.
    pub community: String,
    /// Grid manager's name.
    pub manager: String,
    /// Grid manager's phone.
    pub phone: String,
    /// Webhook for notifications, when the grid has one.
    pub webhook_url: Option<String>,
}
