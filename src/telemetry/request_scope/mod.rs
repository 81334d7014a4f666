//! What belongs to the request being served on this thread: its id, its
//! start, and what code inside it noted for its log line (the client, the
//! outcome, the address) — and its `request{request_id=…}` span, made only
//! when something inside the request is logged.
//!
//! The request's middleware owns a [`RequestScope`] and moves it into a
//! thread-local for each poll ([`in_request`]): a note is a thread-local
//! write, not a span-registry lookup. The span is the costly part of a
//! request's telemetry (a registry slot, its field formatted into a string,
//! enter, exit, close: ~4,000 instructions, a tenth of a token's own work)
//! and nearly every request logs nothing but its one access line, which is
//! written apart (see `access_log`). So [`LazyRequestSpans`], the subscriber
//! tokend installs around tracing-subscriber's, makes the span at the first
//! event, span or `Span::current()` inside the request, enters it for the
//! rest of the poll, and the middleware enters it on later polls. What is
//! logged is the same as with a span made up front: same name, field,
//! target, level filter, and nesting.

use std::cell::Cell;
use std::time::Instant;
use tracing::callsite::{DefaultCallsite, Identifier};
use tracing::field::{FieldSet, Value};
use tracing::metadata::Kind;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

/// A request's id: generated (16 hex digits, held inline) or the client's
/// own `X-Request-Id`.
pub(super) enum RequestId {
    Generated([u8; 16]),
    Given(Box<str>),
}

impl RequestId {
    pub(super) fn as_str(&self) -> &str {
        match self {
            // Hex digits only, so always UTF-8.
            RequestId::Generated(hex) => std::str::from_utf8(hex).unwrap_or_default(),
            RequestId::Given(id) => id,
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What code inside a request noted for its log line (as typed values, not
/// formatted fields).
#[derive(Default)]
pub(super) struct Notes {
    pub client_id: Option<Box<str>>,
    pub outcome: Option<&'static str>,
    /// The client's address (the peer, or what a trusted proxy forwarded).
    pub address: Option<std::net::IpAddr>,
}

/// One request's telemetry state; the middleware keeps it in the request's
/// future.
#[derive(Default)]
pub struct RequestScope {
    pub(super) id: Option<RequestId>,
    pub(super) start: Option<Instant>,
    pub(super) notes: Notes,
    /// The request span, once something inside the request needed it.
    span: Option<Id>,
    /// The level filter turned the request span off (`RUST_LOG=warn`).
    span_disabled: bool,
}

impl RequestScope {
    pub(super) fn new(id: RequestId) -> Self {
        // Registers the request span's callsite at the first request, as a
        // tracing macro does at its first use: outside any subscriber call
        // (registering from inside one would ask no subscriber).
        REQUEST_CALLSITE.interest();
        Self {
            id: Some(id),
            start: Some(Instant::now()),
            notes: Notes::default(),
            span: None,
            span_disabled: false,
        }
    }
}

impl Drop for RequestScope {
    fn drop(&mut self) {
        if let Some(span) = self.span.take() {
            tracing::dispatcher::get_default(|d| d.try_close(span.clone()));
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<RequestScope>> = const { Cell::new(None) };
}

/// Runs `f` as part of the request `scope` belongs to: notes taken inside
/// land in `scope`, and a line logged inside carries its span.
pub fn in_request<R>(scope: &mut RequestScope, f: impl FnOnce() -> R) -> R {
    if let Some(span) = &scope.span {
        tracing::dispatcher::get_default(|d| d.enter(span));
    }
    let outside = CURRENT.replace(Some(std::mem::take(scope)));
    let _restore = Restore { scope, outside };
    f()
}

/// Takes the request's scope back (and leaves its span) when `f` returns
/// or panics: a panicking handler leaves no request current on the thread.
struct Restore<'a> {
    scope: &'a mut RequestScope,
    outside: Option<RequestScope>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        *self.scope = CURRENT.replace(self.outside.take()).unwrap_or_default();
        if let Some(span) = &self.scope.span {
            tracing::dispatcher::get_default(|d| d.exit(span));
        }
    }
}

/// Applies `f` to the current request's scope, if a request is being
/// served on this thread.
pub(super) fn with_current<R>(f: impl FnOnce(&mut RequestScope) -> R) -> Option<R> {
    let mut scope = CURRENT.take()?;
    let result = f(&mut scope);
    CURRENT.set(Some(scope));
    Some(result)
}

/// Notes on the current request's log line who the client is and how the
/// request ended (`issued`, or an RFC 6749 error code).
pub fn record_client(client_id: &str) {
    with_current(|s| s.notes.client_id = Some(client_id.into()));
}

pub fn record_outcome(outcome: &'static str) {
    with_current(|s| s.notes.outcome = Some(outcome));
}

/// Notes the client's address (the peer, or what a trusted proxy forwarded)
/// for the request's log line.
pub fn note_address(address: std::net::IpAddr) {
    with_current(|s| s.notes.address = Some(address));
}

static REQUEST_CALLSITE: DefaultCallsite = DefaultCallsite::new(&REQUEST_SPAN);
/// What `tracing::info_span!("request", request_id = %id)` in
/// `tokend::telemetry` would make.
static REQUEST_SPAN: Metadata<'static> = Metadata::new(
    "request",
    "tokend::telemetry",
    Level::INFO,
    Some(file!()),
    Some(line!()),
    Some("tokend::telemetry"),
    FieldSet::new(&["request_id"], Identifier(&REQUEST_CALLSITE)),
    Kind::SPAN,
);

/// Makes and enters the current request's span in `inner`, unless it has
/// one, is not a request, or the level filter turns request spans off.
fn make_request_span<S: Subscriber>(inner: &S) {
    with_current(|scope| {
        if scope.span.is_some() || scope.span_disabled {
            return;
        }
        let Some(id) = &scope.id else { return };
        if !inner.enabled(&REQUEST_SPAN) {
            scope.span_disabled = true;
            return;
        }
        let fields = REQUEST_SPAN.fields();
        let Some(field) = fields.field("request_id") else {
            return;
        };
        let id = tracing::field::display(id);
        let values = [(&field, Some(&id as &dyn Value))];
        let span = inner.new_span(&Attributes::new(&REQUEST_SPAN, &fields.value_set(&values)));
        inner.enter(&span);
        scope.span = Some(span);
    });
}

/// The subscriber tokend installs: `S` (tracing-subscriber's), with request
/// spans made on first use (see the module's documentation).
pub struct LazyRequestSpans<S>(pub S);

impl<S: Subscriber> Subscriber for LazyRequestSpans<S> {
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        self.0.on_register_dispatch(dispatch);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.is_contextual() {
            make_request_span(&self.0);
        }
        self.0.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.0.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.0.record_follows_from(span, follows);
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.0.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        if event.is_contextual() {
            make_request_span(&self.0);
        }
        self.0.event(event);
    }

    fn enter(&self, span: &Id) {
        self.0.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.0.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.0.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.0.try_close(id)
    }

    fn current_span(&self) -> tracing_core::span::Current {
        make_request_span(&self.0);
        self.0.current_span()
    }
}

#[cfg(test)]
mod tests;
