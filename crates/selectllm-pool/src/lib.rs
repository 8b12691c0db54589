//! The pool layer (see issue 4). Not yet implemented.
