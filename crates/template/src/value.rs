//! The value a template works on: a JSON value, borrowed from the input
//! where it can be.

use std::borrow::Cow;

use serde_json::Value;

/// A value during evaluation. `None` is Go's "invalid" value: the result of
/// looking up a missing key. It prints as `<no value>` and is false.
pub(crate) type Val<'a> = Option<Cow<'a, Value>>;
