//! eval (in progress)
