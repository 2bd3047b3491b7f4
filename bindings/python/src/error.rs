//! Core errors → Python exceptions: `TrinityError` with `.code`, `.number`, `.details`, and one
//! subclass per `ErrorKind`, built at import from the core's list so names never drift.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use trinity_core::{Error, ErrorKind};

struct Classes {
    base: Py<PyType>,
    /// In `ErrorKind::ALL` order.
    kinds: Vec<Py<PyType>>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    doc: &str,
    bases: &Bound<'py, PyAny>,
    attrs: &Bound<'py, PyDict>,
) -> PyResult<Py<PyType>> {
    // type(name, bases, attrs): a real Python class, subclassable and picklable by name.
    let ty = py.get_type::<PyType>().call1((name, bases, attrs))?;
    ty.setattr("__doc__", doc)?;
    ty.setattr("__module__", "trinity_core")?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

fn build(py: Python<'_>) -> PyResult<Classes> {
    let attrs = PyDict::new(py);
    attrs.set_item("code", ErrorKind::Internal.code())?;
    attrs.set_item("number", ErrorKind::Internal.number())?;
    attrs.set_item("details", py.None())?;
    let exception = py.get_type::<pyo3::exceptions::PyException>();
    let base = new_class(
        py,
        "TrinityError",
        "Base of every trinity-core error: `.code` (stable string), `.number`, `.details` (dict or None).",
        PyTuple::new(py, [exception])?.as_any(),
        &attrs,
    )?;
    let mut kinds = Vec::with_capacity(ErrorKind::ALL.len());
    for &kind in ErrorKind::ALL {
        let attrs = PyDict::new(py);
        attrs.set_item("code", kind.code())?;
        attrs.set_item("number", kind.number())?;
        // Bad input and bad config are also ValueErrors, as Python code expects of them.
        let bases = if matches!(kind, ErrorKind::InvalidInput | ErrorKind::Config) {
            PyTuple::new(
                py,
                [
                    base.bind(py).as_any(),
                    py.get_type::<PyValueError>().as_any(),
                ],
            )?
        } else {
            PyTuple::new(py, [base.bind(py).as_any()])?
        };
        let name = format!("{}Error", kind.name());
        let doc = format!(
            "trinity-core error `{}` (number {}).",
            kind.code(),
            kind.number()
        );
        kinds.push(new_class(py, &name, &doc, bases.as_any(), &attrs)?);
    }
    Ok(Classes { base, kinds })
}

fn classes(py: Python<'_>) -> &Classes {
    CLASSES.get_or_init(py, || build(py).expect("exception classes build at import"))
}

/// Adds `TrinityError` and its subclasses to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let c = classes(py);
    m.add("TrinityError", c.base.bind(py))?;
    for ty in &c.kinds {
        let ty = ty.bind(py);
        m.add(ty.getattr("__name__")?.extract::<String>()?, ty)?;
    }
    Ok(())
}

/// The Python exception for a core error.
pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let index = ErrorKind::ALL
            .iter()
            .position(|&k| k == e.kind)
            .expect("every kind is listed");
        let ty = classes(py).kinds[index].bind(py);
        let build = || -> PyResult<PyErr> {
            let exc = ty.call1((e.message.clone(),))?;
            let details = match &e.details {
                Some(d) => pythonize::pythonize(py, d).map_err(PyErr::from)?.unbind(),
                None => py.None(),
            };
            exc.setattr("details", details)?;
            exc.setattr("message", e.message.clone())?;
            Ok(PyErr::from_value(exc))
        };
        build().unwrap_or_else(|err| err)
    })
}

/// True for an instance of `TrinityError` (any of its subclasses).
pub fn is_trinity_error(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance(classes(obj.py()).base.bind(obj.py()))
        .unwrap_or(false)
}

/// Shorthand for `invalid_input` raised from argument conversion.
pub fn invalid_input(message: impl Into<String>) -> PyErr {
    to_py(Error::invalid_input(message))
}

/// Runs a core call with panics caught (→ `internal`) and errors converted.
pub fn call<T>(f: impl FnOnce() -> trinity_core::Result<T>) -> PyResult<T> {
    trinity_core::error::catch_panic(f).map_err(to_py)
}

/// `(code, number, class name)` for every kind: lets tests check the classes against the core.
#[pyfunction]
pub fn error_kinds() -> Vec<(&'static str, u32, String)> {
    ErrorKind::ALL
        .iter()
        .map(|k| (k.code(), k.number(), format!("{}Error", k.name())))
        .collect()
}

/// Panics inside a core call, for tests of the panic boundary: it must surface as
/// `InternalError`, never as a crash or pyo3's `PanicException`.
#[pyfunction]
pub fn _panic_for_tests(message: &str) -> PyResult<()> {
    call(|| -> trinity_core::Result<()> { panic!("{message}") })
}
