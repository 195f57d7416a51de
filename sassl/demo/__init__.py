"""The built-in end-to-end demo: a small photo data set, precompute, pretraining with and without SASSL, evaluation."""
