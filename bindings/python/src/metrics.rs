//! A client's metric families as `prometheus_client` objects, for `trinity_core.metrics`'
//! collector. The classes come in as arguments, so `prometheus_client` stays an import of the
//! Python module only; building the objects here, not with its text parser, is what keeps a
//! scrape of 1,000 series under a millisecond.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use trinity_core::observe::families::Family;

/// `Metric(name, help, type, unit)` per family, its `samples` a list of
/// `Sample(name, labels, value)`; a histogram bucket's labels end with `le`, as
/// prometheus_client's own histograms write them.
pub fn to_metrics<'py>(
    py: Python<'py>,
    families: &[Family],
    metric: &Bound<'py, PyAny>,
    sample: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let le = pyo3::intern!(py, "le");
    let samples_attr = pyo3::intern!(py, "samples");
    let out = PyList::empty(py);
    for f in families {
        let m = metric.call1((&f.name, &f.help, &f.kind, &f.unit))?;
        let samples = PyList::empty(py);
        for series in &f.series {
            // Label names repeat in every series: interned, they are made once.
            let labels = PyDict::new(py);
            for (k, v) in &series.labels {
                labels.set_item(PyString::intern(py, k), v)?;
            }
            for s in &series.samples {
                let labels = match &s.le {
                    Some(bound) => {
                        let with_le = labels.copy()?;
                        with_le.set_item(le, bound)?;
                        with_le
                    }
                    None => labels.clone(),
                };
                samples.append(sample.call1((
                    PyString::intern(py, &s.name),
                    labels,
                    s.value,
                ))?)?;
            }
        }
        m.setattr(samples_attr, samples)?;
        out.append(m)?;
    }
    Ok(out)
}
