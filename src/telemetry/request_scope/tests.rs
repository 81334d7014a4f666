//! The request scope and its lazy span, against tracing-subscriber.

use super::*;
use crate::config::LogFormat;
use crate::telemetry::testing::logged;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// What a request logs: an event, a child span with one inside, then,
/// in a later poll, another event.
fn request_body(poll: u8) {
    if poll == 0 {
        tracing::warn!(attempt = 1, "first");
        let _child = tracing::info_span!("child", n = 2).entered();
        tracing::error!("inside the child");
    } else {
        tracing::warn!("later poll");
    }
}

/// The lines a request logs under tokend's formatter: with the lazy
/// request span, or with `info_span!` made up front.
fn request_lines(format: LogFormat, filter: &str, lazy: bool) -> Vec<String> {
    logged(format, filter, lazy, || {
        if lazy {
            let mut scope = RequestScope::new(RequestId::Given("req-7".into()));
            for poll in 0..2 {
                in_request(&mut scope, || request_body(poll));
            }
        } else {
            let span = tracing::info_span!("request", request_id = %"req-7");
            for poll in 0..2 {
                span.in_scope(|| request_body(poll));
            }
        }
        tracing::warn!("after the request");
    })
}

#[test]
fn lines_logged_inside_a_request_are_those_of_a_span_made_up_front() {
    for format in [LogFormat::Pretty, LogFormat::Json] {
        for filter in ["info", "warn"] {
            let lazy = request_lines(format, filter, true);
            assert_eq!(
                lazy,
                request_lines(format, filter, false),
                "{format:?}, {filter}"
            );
            assert_eq!(lazy.len(), 4, "{lazy:?}");
        }
    }
    let pretty = request_lines(LogFormat::Pretty, "info", true).join("\n");
    assert!(
        pretty.contains("WARN request{request_id=req-7}: "),
        "{pretty}"
    );
    assert!(
        pretty.contains("ERROR request{request_id=req-7}:child{n=2}: "),
        "{pretty}"
    );
    assert!(
        !request_lines(LogFormat::Pretty, "warn", true)
            .join("\n")
            .contains("req-7")
    );
}

#[test]
fn a_panic_inside_a_request_leaves_no_request_current() {
    let mut scope = RequestScope::new(RequestId::Given("boom".into()));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        in_request(&mut scope, || {
            record_client("before the panic");
            panic!("handler panicked");
        })
    }));
    assert!(panicked.is_err());
    assert!(with_current(|_| ()).is_none());
    assert_eq!(scope.notes.client_id.as_deref(), Some("before the panic"));
}

/// Records which spans are made and closed, and the span of each event.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<String>>>);

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let name = attrs.metadata().name();
        self.0
            .lock()
            .unwrap()
            .push(format!("new {name} {}", id.into_u64()));
    }
    fn on_event(&self, _: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let span = ctx.lookup_current().map(|s| s.id().into_u64());
        self.0.lock().unwrap().push(format!("event in {span:?}"));
    }
    fn on_close(&self, id: Id, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("close {}", id.into_u64()));
    }
}

#[test]
fn the_request_span_is_made_at_the_first_line_and_closed_with_the_request() {
    let spans = Spans::default();
    let subscriber = LazyRequestSpans(tracing_subscriber::registry().with(spans.clone()));
    tracing::subscriber::with_default(subscriber, || {
        // A request that logs nothing makes no span.
        let mut quiet = RequestScope::new(RequestId::Given("quiet".into()));
        in_request(&mut quiet, || record_outcome("issued"));
        drop(quiet);
        assert_eq!(*spans.0.lock().unwrap(), Vec::<String>::new());

        let mut scope = RequestScope::new(RequestId::Given("loud".into()));
        in_request(&mut scope, || {});
        in_request(&mut scope, || tracing::warn!("first"));
        in_request(&mut scope, || tracing::warn!("second"));
        // Between polls the span is not entered.
        tracing::warn!("between");
        drop(scope);
    });
    let seen = spans.0.lock().unwrap().clone();
    let id = seen[0].strip_prefix("new request ").unwrap().to_owned();
    let inside = format!("event in Some({id})");
    assert_eq!(
        seen,
        [
            format!("new request {id}"),
            inside.clone(),
            inside,
            "event in None".into(),
            format!("close {id}")
        ]
    );
}
