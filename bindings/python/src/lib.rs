//! `trinity_core._native`: the Python face of the core. Each file converts one core module.

mod batch;
mod bridge;
mod cache;
mod cli;
mod client;
mod config;
mod context;
mod conv;
mod cost;
mod error;
mod guard;
mod healer;
mod llm;
mod logs;
mod metrics;
mod mock;
mod monitor;
mod observe;
mod prompt;
mod redis_server;
mod registry;
mod resilience;
mod tokens;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    error::register(m)?;
    m.add("__version__", trinity_core::VERSION)?;
    m.add("ABI_VERSION", trinity_core::ABI_VERSION)?;
    m.add_function(wrap_pyfunction!(error::error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(cli::run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(error::_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(healer::heal_html, m)?)?;
    m.add_function(wrap_pyfunction!(healer::heal_css, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(cost::cost, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::count_tokens_batch, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::count_message_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::fetch_tokenizers, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::tokenizer_status, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::set_tokenizer_dir, m)?)?;
    m.add_function(wrap_pyfunction!(tokens::load_tokenizer, m)?)?;
    m.add_function(wrap_pyfunction!(context::prune_context, m)?)?;
    m.add_function(wrap_pyfunction!(context::available_context_window, m)?)?;
    m.add_function(wrap_pyfunction!(context::validate_conversation, m)?)?;
    m.add_function(wrap_pyfunction!(context::prioritize_context, m)?)?;
    m.add_function(wrap_pyfunction!(context::warn_if_too_large, m)?)?;
    m.add_function(wrap_pyfunction!(logs::flush_logs, m)?)?;
    m.add_function(wrap_pyfunction!(logs::dropped_log_records, m)?)?;
    m.add_class::<registry::PyRegistry>()?;
    m.add_class::<registry::PyModel>()?;
    m.add_class::<config::PyConfig>()?;
    m.add_class::<cache::PyCache>()?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<client::PyChatStream>()?;
    m.add_class::<llm::PyChatResponse>()?;
    m.add_class::<llm::PyChatChunk>()?;
    m.add_class::<llm::PyUsage>()?;
    m.add_class::<mock::PyMockServer>()?;
    m.add_class::<redis_server::PyRedisServer>()?;
    m.add_class::<batch::PyBatchRun>()?;
    m.add_function(wrap_pyfunction!(batch::batch_run, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_run_sync, m)?)?;
    m.add_function(wrap_pyfunction!(batch::batch_status, m)?)?;
    resilience::register(m)?;
    observe::register(m)?;
    monitor::register(m)?;
    prompt::register(m)?;
    guard::register(m)?;
    Ok(())
}

/// Whole-program allocator: see [`trinity_core::Allocator`].
#[global_allocator]
static ALLOCATOR: trinity_core::Allocator = trinity_core::Allocator;
