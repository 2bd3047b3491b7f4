//! Single-flight: identical requests in flight at once share one upstream call. The call runs
//! as its own task, so a leader that gives up does not cancel it for the others (and no second
//! call starts); when every caller has gone, the call is aborted.

use crate::error::{Error, ErrorKind, Result};
use crate::rt;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub struct SingleFlight<K, T> {
    flights: Arc<Mutex<HashMap<K, Arc<Flight<T>>>>>,
}

struct Flight<T> {
    rx: watch::Receiver<Option<Result<T>>>,
    callers: Mutex<usize>,
    abort: Mutex<Option<AbortHandle>>,
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        SingleFlight {
            flights: Arc::default(),
        }
    }
}

impl<K, T> SingleFlight<K, T>
where
    K: Hash + Eq + Clone + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// The result of the in-flight call for `key`, or of a new one made by `make`; `true` in
    /// the second place when this caller joined another's call.
    pub async fn run<F>(&self, key: K, make: impl FnOnce() -> F) -> (Result<T>, bool)
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let (flight, joined) = {
            let mut map = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            // A flight whose callers all left is being torn down: start a fresh one.
            let live = map.get(&key).filter(|f| {
                let mut callers = f.callers.lock().unwrap_or_else(|p| p.into_inner());
                *callers += (*callers > 0) as usize;
                *callers > 1
            });
            match live {
                Some(f) => (f.clone(), true),
                None => {
                    let (tx, rx) = watch::channel(None);
                    let flight = Arc::new(Flight {
                        rx,
                        callers: Mutex::new(1),
                        abort: Mutex::new(None),
                    });
                    let flights = self.flights.clone();
                    let (k, me) = (key.clone(), flight.clone());
                    let work = make();
                    let task = rt::spawn_here(async move {
                        let result = work.await;
                        remove_if_same(&flights, &k, &me);
                        let _ = tx.send(Some(result));
                    });
                    *flight.abort.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(task.abort_handle());
                    map.insert(key.clone(), flight.clone());
                    (flight, false)
                }
            }
        };
        let mut caller = Caller {
            flights: &self.flights,
            key: &key,
            flight: &flight,
            done: false,
        };
        let mut rx = flight.rx.clone();
        let result = match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().expect("waited for Some"),
            Err(_) => Err(Error::new(
                ErrorKind::Cancelled,
                "the shared call was aborted",
            )),
        };
        caller.done = true;
        (result, joined)
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn remove_if_same<K: Hash + Eq, T>(
    flights: &Mutex<HashMap<K, Arc<Flight<T>>>>,
    key: &K,
    me: &Arc<Flight<T>>,
) {
    let mut map = flights.lock().unwrap_or_else(|p| p.into_inner());
    if map.get(key).is_some_and(|f| Arc::ptr_eq(f, me)) {
        map.remove(key);
    }
}

/// One caller's share: the last to leave before the result aborts the call.
struct Caller<'a, K: Hash + Eq, T> {
    flights: &'a Mutex<HashMap<K, Arc<Flight<T>>>>,
    key: &'a K,
    flight: &'a Arc<Flight<T>>,
    done: bool,
}

impl<K: Hash + Eq, T> Drop for Caller<'_, K, T> {
    fn drop(&mut self) {
        let mut callers = self
            .flight
            .callers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *callers -= 1;
        if *callers == 0 && !self.done {
            if let Some(a) = self
                .flight
                .abort
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                a.abort();
            }
            drop(callers);
            remove_if_same(self.flights, self.key, self.flight);
        }
    }
}
