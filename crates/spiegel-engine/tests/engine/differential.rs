//! Differential property test: engine against a naive evaluator (written by the differential-test author).
