//! Neural classifiers on candle (see issue 3). Not yet implemented.
