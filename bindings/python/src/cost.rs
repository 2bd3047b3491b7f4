//! `cost(model, usage, estimated=False)`: what a call cost, as the client prices it.

use crate::conv;
use crate::error::call;
use pyo3::prelude::*;

/// `{"total_nano_usd", "total_usd", parts..., "estimated", "unpriced_reason"?}`; the total is
/// `None` (with the reason) for a model or rate the registry lacks.
#[pyfunction]
#[pyo3(signature = (model, usage, estimated=false))]
pub fn cost<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    usage: &Bound<'py, PyAny>,
    estimated: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let model = conv::text(model, "model")?;
    let usage = conv::json(usage, "usage")?;
    let detail = call(|| trinity_core::cost::cost_for(&model, usage, estimated))?;
    conv::serialized(py, &detail)
}
