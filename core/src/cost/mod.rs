//! Cost: registry prices applied to normalised usage in integer nano-USD, budgets reserved
//! before a call and reconciled after it, and the spend ledger that survives a restart.

pub mod budget;
pub mod ledger;
