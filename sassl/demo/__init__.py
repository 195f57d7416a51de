"""The built-in end-to-end demo: generated data, precompute, pretraining with and without SASSL, evaluation."""
