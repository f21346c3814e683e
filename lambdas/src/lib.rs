//! The `replicate` and `backup` Lambda handlers (issue #8). Not built yet.
