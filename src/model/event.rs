//! The events a hook can bind to (docs/hooks.md, "Events and payloads").

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An event of the hook table. `pre_*` events run before the operation and may change or
/// block it; `post_*` events run after it commits and only react.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Before a document is created or updated.
    PreSave,
    /// After a document was created or updated.
    PostSave,
    /// Before a document is deleted.
    PreDelete,
    /// After a document was deleted.
    PostDelete,
    /// Before documents are read (may narrow the filter).
    PreRead,
    /// After documents were read (may replace what is returned).
    PostRead,
    /// Before an app user signs up.
    PreRegister,
    /// After an app user signed up.
    PostRegister,
    /// After a password was verified, before a token is issued.
    PreLogin,
    /// After a token was issued.
    PostLogin,
    /// Before a user profile changes.
    PreUserUpdate,
    /// After a user profile changed.
    PostUserUpdate,
    /// Before a user is deleted.
    PreUserDelete,
    /// After a user was deleted.
    PostUserDelete,
}

impl Event {
    /// Every event, in the order of the events table in docs/hooks.md.
    pub const ALL: [Event; 14] = [
        Event::PreSave,
        Event::PostSave,
        Event::PreDelete,
        Event::PostDelete,
        Event::PreRead,
        Event::PostRead,
        Event::PreRegister,
        Event::PostRegister,
        Event::PreLogin,
        Event::PostLogin,
        Event::PreUserUpdate,
        Event::PostUserUpdate,
        Event::PreUserDelete,
        Event::PostUserDelete,
    ];

    /// The name used in hooks.yaml and payloads.
    pub fn name(self) -> &'static str {
        match self {
            Event::PreSave => "pre_save",
            Event::PostSave => "post_save",
            Event::PreDelete => "pre_delete",
            Event::PostDelete => "post_delete",
            Event::PreRead => "pre_read",
            Event::PostRead => "post_read",
            Event::PreRegister => "pre_register",
            Event::PostRegister => "post_register",
            Event::PreLogin => "pre_login",
            Event::PostLogin => "post_login",
            Event::PreUserUpdate => "pre_user_update",
            Event::PostUserUpdate => "post_user_update",
            Event::PreUserDelete => "pre_user_delete",
            Event::PostUserDelete => "post_user_delete",
        }
    }

    /// The event with this name.
    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether hooks on this event run before the operation (and may change or block it).
    pub fn is_before(self) -> bool {
        self.name().starts_with("pre_")
    }

    /// Whether this event follows a committed write (every `post_*` but `post_read`, which
    /// runs before the answer): only these have after-hooks, delivered durably for URLs.
    pub fn is_after_write(self) -> bool {
        !self.is_before() && self != Event::PostRead
    }

    /// Whether this event concerns documents of a collection (so `collections` narrows it).
    pub fn is_document_event(self) -> bool {
        matches!(
            self,
            Event::PreSave
                | Event::PostSave
                | Event::PreDelete
                | Event::PostDelete
                | Event::PreRead
                | Event::PostRead
        )
    }

    /// Whether this event can be an update (so `changed` means something).
    pub fn can_be_update(self) -> bool {
        matches!(
            self,
            Event::PreSave | Event::PostSave | Event::PreUserUpdate | Event::PostUserUpdate
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for event in Event::ALL {
            assert_eq!(Event::from_name(event.name()), Some(event));
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                serde_json::json!(event.name())
            );
        }
    }
}
