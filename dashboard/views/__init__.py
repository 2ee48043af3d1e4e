"""The Panel views: the Batch Run Builder, Plan Preview, Batch Run Summary and History, and their state."""
